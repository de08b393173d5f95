"""Erasure on the topics: the tie state a worker holds and the compacted tie.updates.v1 must not
keep an erased person.

An erase command goes through interactions.v1 keyed by the pair, so the partition owner (the
`aggregate` agent) handles it in order with the pair's interactions: it deletes the pair's table
entry (Faust writes the changelog tombstone) and sends a tombstone (value None) for the pair to
tie.updates.v1, which the graph writer takes as "delete this tie" and compaction as "forget it".
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from tiegraph.errors import StreamUnavailable
from tiegraph.settings import Settings
from tiegraph.streams import topics as t

# Commands are encoded here with this fixed start, so a stage can tell one from an interaction
# without decoding the record twice.
ERASE_PREFIX = b'{"erase":true,'


def erase_command(tenant: str, a: str, b: str) -> tuple[bytes, bytes]:
    """(key, value) of the command that erases the tie of a pair."""
    return t.pair_key(tenant, a, b), ERASE_PREFIX + t.encode({"tenant": tenant, "a": a, "b": b})[1:]


def is_erase_command(value: bytes | None) -> bool:
    return value is not None and value.startswith(ERASE_PREFIX)


def split_deletions(
    events: Sequence[tuple[bytes, bytes | None, int]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The last record of each key in a batch of (key, value, offset), split into tie updates and
    deleted pairs (a tombstone, value None); a later update after a tombstone wins, and the other
    way round. Each carries its offset as "offset": the graph never lets an older record of a pair
    overwrite (or delete) what a newer one wrote."""
    latest: dict[bytes, tuple[bytes | None, int]] = {}
    for key, value, offset in events:
        latest[key] = (value, offset)
    updates, deletions = [], []
    for key, (value, offset) in latest.items():
        if value is None:
            tenant, a, b = key.decode().split("|", 2)
            deletions.append({"tenant": tenant, "a": a, "b": b, "offset": offset})
        else:
            updates.append({**t.decode(value), "offset": offset})
    return updates, deletions


async def send_erase_commands(bootstrap: str, topic: str, tenant: str, pairs: Iterable[tuple[str, str]]) -> int:
    """Send one erase command per pair to interactions.v1; StreamUnavailable if Kafka is down."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", request_timeout_ms=15000)
    sent = 0
    try:
        await producer.start()
        for a, b in pairs:
            key, value = erase_command(tenant, a, b)
            await producer.send(topic, key=key, value=value)
            sent += 1
        await producer.flush()
    except KafkaError as exc:
        raise StreamUnavailable(f"Kafka unavailable: {exc}") from exc
    finally:
        await producer.stop()
    return sent


def stream_forgetter(settings: Settings) -> Callable[[str, list[tuple[str, str]]], Awaitable[int]]:
    """`erasure`'s hook: erase commands for a tenant's pairs, to this deployment's interactions.v1."""

    async def forget(tenant: str, pairs: list[tuple[str, str]]) -> int:
        topic = t.TopicNames(settings.topic_prefix)[t.INTERACTIONS]
        return await send_erase_commands(settings.kafka_bootstrap, topic, tenant, pairs)

    return forget


async def send_alias_tombstones(bootstrap: str, topic: str, tenant: str, aliases: Iterable[str]) -> int:
    """A tombstone per alias record of the tenant on the compacted aliases.v1; the alias writer
    removes the edge and compaction forgets the record."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", request_timeout_ms=15000)
    sent = 0
    try:
        await producer.start()
        for alias in aliases:
            await producer.send(topic, key=t.alias_key(tenant, alias), value=None)
            sent += 1
        await producer.flush()
    except KafkaError as exc:
        raise StreamUnavailable(f"Kafka unavailable: {exc}") from exc
    finally:
        await producer.stop()
    return sent


def alias_forgetter(settings: Settings) -> Callable[[str, list[str]], Awaitable[int]]:
    """`erasure`'s hook: tombstones for a tenant's alias records, to this deployment's aliases.v1."""

    async def forget(tenant: str, aliases: list[str]) -> int:
        topic = t.TopicNames(settings.topic_prefix)[t.ALIASES]
        return await send_alias_tombstones(settings.kafka_bootstrap, topic, tenant, aliases)

    return forget
