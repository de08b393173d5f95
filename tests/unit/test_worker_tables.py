"""The changelog topics created before the worker starts are exactly those of its tables."""

from __future__ import annotations

from typing import cast

from tiegraph.graph.neo4j import GraphStore
from tiegraph.settings import Settings
from tiegraph.streams.app import create_app
from tiegraph.streams.tenants import TenantDirectory
from tiegraph.streams.topics import TABLES


def test_every_table_of_the_worker_has_its_changelog_created_up_front() -> None:
    app = create_app(Settings(app_id="unit"), cast(GraphStore, None), TenantDirectory())
    assert set(app.tables.keys()) == set(TABLES)
    assert {table.changelog_topic.get_topic_name() for table in app.tables.values()} == {
        f"unit-{name}-changelog" for name in TABLES
    }
