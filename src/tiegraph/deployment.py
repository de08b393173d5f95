"""The deployment's engines as the settings describe them: one place that turns settings into
a graph connection, topic names, and the idempotent preparation every entry point needs."""

from __future__ import annotations

from tiegraph.graph.neo4j import GraphStore
from tiegraph.settings import Settings
from tiegraph.streams.topics import TopicNames, ensure_topics


def connect_graph(settings: Settings) -> GraphStore:
    """A Neo4j store for the settings (the driver binds to the event loop that first uses it)."""
    return GraphStore.connect(settings.neo4j_uri, settings.neo4j_user, settings.neo4j_password.get_secret_value())


def topic_names(settings: Settings) -> TopicNames:
    return TopicNames(settings.topic_prefix)


async def ensure_pipeline_topics(settings: Settings) -> None:
    """Create the pipeline's topics if missing, with the configured partitions and replication."""
    await ensure_topics(
        settings.kafka_bootstrap, topic_names(settings), settings.topic_partitions, settings.topic_replication
    )


async def prepare(settings: Settings) -> None:
    """Topics and graph schema, both idempotent: safe for every process to run at start."""
    await ensure_pipeline_topics(settings)
    graph = connect_graph(settings)
    try:
        await graph.wait_until_reachable()
        await graph.ensure_schema()
    finally:
        await graph.close()
