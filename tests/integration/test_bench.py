"""A quick smoke run of the benchmark harness (figures are printed, never asserted as timings)."""

from __future__ import annotations

import asyncio
import json
import re
import time

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from tests.stack import Stack
from tiegraph.deployment import connect_graph
from tiegraph.settings import Settings

pytestmark = pytest.mark.integration


async def _bench_topics(bootstrap: str) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return [topic for topic in await admin.list_topics() if topic.startswith(("bench-", "tiegraph-bench-"))]
    finally:
        await admin.close()


async def _bench_tenants(settings: Settings) -> list[str]:
    """Tenants a bench run creates (its pipeline's, its Neo4j limit's, its freshness run's and its
    memory-at-scale run's); the query graph's tenant, reused by later runs, is named differently."""
    graph = connect_graph(settings)
    try:
        return [
            t.name
            for t in await graph.tenants()
            if re.fullmatch(r"bench-[0-9a-f]{8}(-(limit|run)-(\d+|warmup)|-scale)?", t.name)
        ]
    finally:
        await graph.close()


def test_bench_smoke_run_reports_every_figure(stack: Stack) -> None:
    result = stack.cli(
        "bench",
        "--messages",
        "1500",
        "--people",
        "80",
        "--freshness-seconds",
        "3",
        "--query-people",
        "400",
        "--query-ties",
        "2000",
        "--query-requests",
        "20",
        "--scale-ties",
        "3000",
        "--json",
        timeout=600,
    )
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["messages"] == 1500 and figures["ties"] > 50
    for name in (
        "throughput_msgs_per_s",
        "kafka_consume_limit_msgs_per_s",
        "neo4j_write_limit_ties_per_s",
        "worker_rss_mb",
        "throughput_2_workers_msgs_per_s",
        "contacts_p99_ms",
        "who_knows_p99_ms",
        "paths_p99_ms",
    ):
        assert figures[name] > 0, name
    assert figures["freshness_probes"] + figures["freshness_probes_not_seen"] == 60  # 3 s at 1,000/s, 1 in 50
    assert figures["freshness_warmup_s"] == 5 and figures["freshness_warmup_max_ms"] > 0  # measured, apart
    if figures["freshness_probes"]:
        assert 0 < figures["freshness_p50_ms"] <= figures["freshness_p99_ms"]
    assert figures["pipeline_vs_limit"] > 0
    # timed to the last graph write, which comes before every offset is committed
    assert 0 < figures["pipeline_s"] <= figures["pipeline_committed_s"]
    # where the median run's time went: the worker's, Kafka's and Neo4j's CPU, the writer's waits
    # (Kafka's and Neo4j's are there because the test stack runs them on this machine)
    for name in ("pipeline_worker_cpu_s", "pipeline_kafka_cpu_s", "pipeline_neo4j_cpu_s", "pipeline_graph_write_s"):
        assert figures[name] > 0, name
    # the worker's two processes apart: the stream stages and the graph writer
    assert figures["pipeline_stages_cpu_s"] > 0 and figures["pipeline_writer_cpu_s"] > 0
    assert figures["pipeline_worker_cpu_s"] == round(
        figures["pipeline_stages_cpu_s"] + figures["pipeline_writer_cpu_s"], 2
    )
    for processes in ("worker", "stages"):
        assert figures[f"pipeline_{processes}_cpu_us_per_msg"] == round(
            figures[f"pipeline_{processes}_cpu_s"] / figures["messages"] * 1e6, 1
        )
    assert "time split (that run)" in result.stdout
    assert len(figures["pipeline_vs_limit_runs"]) == 3 and min(figures["pipeline_vs_limit_runs"]) > 0  # pairs
    runs = figures["neo4j_write_limit_runs_ties_per_s"]  # the Neo4j limit: the median of three writes
    assert len(runs) == 3 and figures["neo4j_write_limit_ties_per_s"] == sorted(runs)[1]
    runs = figures["throughput_runs_msgs_per_s"]  # and the throughput: the median of three runs
    assert len(runs) == 3 and figures["throughput_msgs_per_s"] == sorted(runs)[1]
    assert figures["query_graph_ties"] > 1000
    # Memory at scale: one worker (RocksDB store) built exactly the ties scale.py's mail makes.
    assert figures["scale_ties"] == 3000 and figures["scale_store"] == "rocksdb://"
    assert figures["worker_rss_mb"] > 0 and figures["worker_rss_throughput_runs_mb"] > 0
    assert figures["worker_rss_writer_mb"] > 0  # the graph writer's process, apart
    assert figures["scale_tables_disk_mb"] > 0
    assert "pipeline vs lower limit" in result.stdout and "queries at" in result.stdout
    # Every run's topics and changelogs are deleted (Kafka deletes asynchronously: a marked topic
    # may still be listed for a moment).
    loop = asyncio.new_event_loop()  # not asyncio.run, which leaves the process without a loop
    try:
        for _ in range(30):
            if not (left := loop.run_until_complete(_bench_topics(stack.settings.kafka_bootstrap))):
                break
            time.sleep(1)
        tenants_left = loop.run_until_complete(_bench_tenants(stack.settings))  # and its tenants' graphs
    finally:
        loop.close()
    assert not left, left
    assert not tenants_left, tenants_left
    assert not list((stack.settings.home / "faust").glob("tiegraph-bench-*"))  # nor its workers' table files
