"""The RocksDB table store (TIEGRAPH_STORE=rocksdb://, for tables larger than memory) on the real
stack: a worker of its own, with its own topics and consumer group, SIGKILLed mid-stream and then
restarted from the tables it left on disk, must end with the graph a clean run makes (the stack's
own worker, memory store)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.test_crashes import (
    _assert_same_graph,
    _clean_run,
    _corpus,
    _kill_workers,
    _replaced_workers,
)
from tests.stack import Stack, stop_process
from tests.stack import test_port as shifted_port
from tiegraph.deployment import ensure_pipeline_topics, topic_names
from tiegraph.graph.neo4j import GraphStore
from tiegraph.settings import Settings
from tiegraph.soak.snapshot import snapshot_graph
from tiegraph.streams.lag import read_lag, wait_for_stable_group, wait_for_zero_lag
from tiegraph.streams.table_files import persisted_offset
from tiegraph.streams.topics import delete_pipeline

pytestmark = pytest.mark.integration


def _spawn(env: dict[str, str]) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "tiegraph", "worker"]
    return subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _rocksdb_worker(stack: Stack, name: str, port_offset: int) -> tuple[Settings, dict[str, str], Path]:
    """Settings and environment of a RocksDB worker with topics, group and ports of its own, and
    the directory of its table files."""
    port = shifted_port(16068 + port_offset)
    overrides = {
        "store": "rocksdb://",
        "topic_prefix": f"{name}.",
        "app_id": f"{stack.settings.app_id}-{name}",
        "worker_web_port": port,
        "worker_metrics_port": shifted_port(19470 + 2 * port_offset),  # and the graph writer's the next
    }
    settings = stack.settings.model_copy(update=overrides)
    env = {**stack.env, **{f"TIEGRAPH_{key.upper()}": str(value) for key, value in overrides.items()}}
    return settings, env, settings.home / "faust" / settings.app_id / f"worker-{port}" / "v1" / "tables"


async def _assert_files_hold_their_changelogs(settings: Settings, tables: Path) -> None:
    """Each table file records the end of its changelog partition (so the next start replays nothing)."""
    for name in ("seen_messages", "tie_states"):
        changelog = f"{settings.app_id}-{name}-changelog"
        ends = {row.partition: row.end for row in await read_lag(settings.kafka_bootstrap, "none", [changelog])}
        assert any(ends.values()), name
        assert {p: persisted_offset(tables / f"{name}-{p}.db") for p, end in ends.items() if end} == {
            p: end - 1 for p, end in ends.items() if end
        }, name


async def test_a_rocksdb_worker_killed_and_restarted_from_its_tables_on_disk_makes_the_clean_graph(
    stack: Stack, graph: GraphStore, tmp_path: Path
) -> None:
    org, whole, parts = _corpus(tmp_path, seed=17, messages=3000)
    clean = await _clean_run(stack, graph, org, whole, "rocks-clean")

    settings, env, tables = _rocksdb_worker(stack, "rocks", 0)
    await ensure_pipeline_topics(settings)
    stack.create_tenant("rocks", org.home_domain)

    async def caught_up() -> None:
        await wait_for_zero_lag(settings.kafka_bootstrap, settings.app_id, topic_names(settings).all(), timeout=240)

    supervisor = _spawn(env)
    try:
        await wait_for_stable_group(settings.kafka_bootstrap, settings.app_id)
        for part in parts:  # each kill lands while the worker is busy with the part just imported
            stack.cli("import", str(part), "--tenant", "rocks", env=env)
            # its tables stay on disk, part of a batch's writes in them
            killed = _kill_workers(supervisor.pid, "streams")
            await asyncio.wait_for(_replaced_workers(supervisor.pid, killed, "streams"), timeout=60)
        await caught_up()
        _assert_same_graph(await snapshot_graph(graph, "rocks"), clean)
    finally:
        stop_process(supervisor, timeout=90)

    assert list(tables.glob("tie_states-*.db")) and list(tables.glob("seen_messages-*.db"))
    await _assert_files_hold_their_changelogs(settings, tables)

    # A new worker process opens those tables (and replays the changelogs into them); a replayed
    # import must find every message already seen.
    supervisor = _spawn(env)
    try:
        await wait_for_stable_group(settings.kafka_bootstrap, settings.app_id)
        stack.cli("import", str(whole), "--tenant", "rocks", env=env)
        await caught_up()
        _assert_same_graph(await snapshot_graph(graph, "rocks"), clean)
    finally:
        stop_process(supervisor, timeout=90)


async def test_a_rocksdb_worker_whose_topics_were_wiped_rebuilds_its_tables_from_them(
    stack: Stack, graph: GraphStore, tmp_path: Path
) -> None:
    """Kafka wiped (here: every topic of the pipeline deleted) under a worker whose tables stay on
    disk: the files now hold state no topic has, such as every message seen. The restarted worker
    must drop them rather than refuse to start (Faust's ConsistencyError, a restart loop), and a
    new import must be counted again from nothing."""
    org, whole, _ = _corpus(tmp_path, seed=23, messages=600)
    clean = await _clean_run(stack, graph, org, whole, "wiped-clean")

    settings, env, tables = _rocksdb_worker(stack, "wiped", 1)
    names = topic_names(settings)

    async def import_and_catch_up() -> None:
        await ensure_pipeline_topics(settings)
        stack.create_tenant("wiped", org.home_domain)
        supervisor = _spawn(env)
        try:
            await wait_for_stable_group(settings.kafka_bootstrap, settings.app_id)
            stack.cli("import", str(whole), "--tenant", "wiped", env=env)
            await wait_for_zero_lag(settings.kafka_bootstrap, settings.app_id, names.all(), timeout=240)
            _assert_same_graph(await snapshot_graph(graph, "wiped"), clean)
        finally:
            stop_process(supervisor, timeout=90)

    await import_and_catch_up()
    assert any(persisted_offset(path) is not None for path in tables.glob("seen_messages-*.db"))

    await delete_pipeline(settings.kafka_bootstrap, names, settings.app_id)
    await graph.delete_tenant_graph("wiped")  # so the graph can only come back through the pipeline
    await import_and_catch_up()

    await _assert_files_hold_their_changelogs(settings, tables)  # rebuilt from the new changelogs
