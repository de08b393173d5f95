"""The one error root; adapters raise the specific ones below."""

from __future__ import annotations


class TiegraphError(Exception):
    """Base of every error tiegraph raises on purpose."""


class ServiceError(TiegraphError):
    """A local service (Kafka, Neo4j) failed to install, start or stop."""


class GraphUnavailable(TiegraphError):
    """Neo4j cannot be reached or refused the write."""


class StreamUnavailable(TiegraphError):
    """Kafka cannot be reached."""


class UnknownTenant(TiegraphError):
    """No tenant has that name."""


class TopicMismatch(TiegraphError):
    """An existing topic's partition count differs from the configured one (TIEGRAPH_TOPIC_PARTITIONS)."""
