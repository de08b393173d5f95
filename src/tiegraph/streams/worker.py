"""`tiegraph worker`: the Faust worker process."""

from __future__ import annotations

import asyncio

from faust import Worker

from tiegraph.graph.neo4j import GraphStore
from tiegraph.settings import Settings
from tiegraph.streams.app import create_app
from tiegraph.streams.tenants import TenantDirectory
from tiegraph.streams.topics import TopicNames, ensure_topics


def run_worker(settings: Settings, loglevel: str = "warn") -> None:
    """Create topics and schema if needed, then run every agent until stopped (SIGTERM/SIGINT)."""
    graph = GraphStore.connect(settings.neo4j_uri, settings.neo4j_user, settings.neo4j_password.get_secret_value())
    asyncio.run(_prepare(settings, graph))
    # The async driver belongs to the event loop that used it; Faust runs its own loop.
    graph = GraphStore.connect(settings.neo4j_uri, settings.neo4j_user, settings.neo4j_password.get_secret_value())
    app = create_app(settings, graph, TenantDirectory())
    Worker(app, loglevel=loglevel, quiet=True).execute_from_commandline()


async def _prepare(settings: Settings, graph: GraphStore) -> None:
    try:
        await ensure_topics(
            settings.kafka_bootstrap,
            TopicNames(settings.topic_prefix),
            settings.topic_partitions,
            settings.topic_replication,
        )
        await graph.ensure_schema()
    finally:
        await graph.close()
