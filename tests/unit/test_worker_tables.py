"""The worker's two apps: the changelog topics created before the stages start are exactly those
of their tables; each app reads its own group's topics."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import faust

from tiegraph.graph.neo4j import GraphStore
from tiegraph.settings import Settings
from tiegraph.streams.app import create_app
from tiegraph.streams.graph_writer import create_graph_writer
from tiegraph.streams.tenants import TenantDirectory
from tiegraph.streams.topics import TABLES, TopicNames


def test_every_table_of_the_worker_has_its_changelog_created_up_front() -> None:
    app = create_app(Settings(app_id="unit"), cast(GraphStore, None), TenantDirectory())
    assert set(app.tables.keys()) == set(TABLES)
    assert {table.changelog_topic.get_topic_name() for table in app.tables.values()} == {
        f"unit-{name}-changelog" for name in TABLES
    }


def _subscribed(app: faust.App) -> set[str]:
    return {topic for agent in app.agents.values() for topic in cast(Any, agent.channel).topics}


def test_the_two_processes_read_the_topics_of_their_own_group_and_only_the_stages_keep_tables(
    tmp_path: Path,
) -> None:
    settings = Settings(app_id="unit", topic_prefix="p.", home=tmp_path)
    names = TopicNames(settings.topic_prefix)
    stages = create_app(settings, cast(GraphStore, None), TenantDirectory())
    writer = create_graph_writer(settings, cast(GraphStore, None), TenantDirectory())
    assert _subscribed(stages) == set(names.read_by(writer=False))
    assert _subscribed(writer) == set(names.read_by(writer=True))
    assert (stages.conf.id, writer.conf.id) == ("unit", "unit-graph")  # their consumer groups
    assert not writer.tables  # Neo4j is its state: nothing to restore, no changelog
