"""Operations on the real stack: a stopped worker's backlog is visible as lag in the CLI, the API
and Prometheus; after a restart the lag drains to 0 and freshness recovers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import httpx
import pytest

from tests.stack import Stack
from tiegraph.deployment import ensure_pipeline_topics
from tiegraph.services.local import LocalServices
from tiegraph.streams.worker import CONFIGURATION_ERROR
from tiegraph.synth.organization import generate_mail, generate_organization, write_mbox

pytestmark = pytest.mark.integration

T = TypeVar("T")


async def eventually(read: Callable[[], Awaitable[T]], ok: Callable[[T], bool], timeout: float = 60) -> T:
    """Poll `read` until `ok` holds; fails with the last value seen."""
    deadline = time.monotonic() + timeout
    while True:
        value = await read()
        if ok(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout:.0f}s; last value: {value!r}")
        await asyncio.sleep(1)


def prometheus_value(text: str, name: str, labels: str = "") -> float | None:
    """One sample's value from the Prometheus text format (`labels` as written, e.g. 'stage="derive"')."""
    wanted = f"{name}{{{labels}}}" if labels else name
    for line in text.splitlines():
        if line.startswith(wanted + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


WATCHED_WORKER_SAMPLES = (
    ("tiegraph_records_processed_total", 'stage="derive"'),
    ("tiegraph_event_to_graph_seconds_count", ""),
    ("tiegraph_graph_write_seconds_count", 'kind="ties"'),
    ("tiegraph_graph_newest_origin_timestamp_seconds", ""),
)


async def watch_worker_metrics(stack: Stack, highest: dict[str, float]) -> None:
    """Scrape the worker every half second and keep each watched sample's highest value.

    Counters are per worker process and the supervisor may restart the Faust worker (the stall
    watchdog, README "Known issue"), so a single scrape after the drain can meet a fresh process
    that counted nothing; what a scraper saw during the drain is what Prometheus would have kept."""
    port = stack.settings.worker_metrics_port
    urls = [f"http://127.0.0.1:{p}/metrics" for p in (port, port + 1)]  # the stages', the graph writer's
    async with httpx.AsyncClient(timeout=5) as client:
        while True:
            for url in urls:  # each process exports its own figures (the graph writes: only the writer)
                text = ""
                with contextlib.suppress(httpx.HTTPError):  # the process is still starting (or restarting)
                    text = (await client.get(url)).text
                for name, labels in WATCHED_WORKER_SAMPLES:
                    value = prometheus_value(text, name, labels)
                    if value is not None:
                        key = f"{name}{{{labels}}}"
                        highest[key] = max(value, highest.get(key, 0.0))
            await asyncio.sleep(0.5)


async def test_stopped_worker_backlog_shows_as_lag_then_drains_and_freshness_recovers(
    stack: Stack, api: httpx.AsyncClient, tmp_path: Path
) -> None:
    key = stack.create_tenant("opsco", "tiegraph-demo.com")
    auth = {"Authorization": f"Bearer {key}"}
    await stack.wait_caught_up()
    services = LocalServices(stack.settings)
    assert services.stop("worker"), "the session's worker was not running"
    try:
        mbox = tmp_path / "ops.mbox"
        write_mbox(mbox, generate_mail(generate_organization(people=40, seed=3), messages=300, seed=21))
        imported_from_ms = time.time() * 1000
        stack.cli("import", str(mbox), "--tenant", "opsco", "--owner", "ops.owner@tiegraph-demo.com")

        cli = json.loads(stack.cli("lag", "--json").stdout)
        assert cli["total_lag"] >= 300
        assert cli["stages"]["derive"]["lag"] >= 300
        assert cli["stages"]["derive"]["oldest_waiting_s"] > 0
        assert (cli["graph"]["newest_origin_ms"] or 0) < imported_from_ms  # nothing of it reached the graph
        assert "derive" in stack.cli("lag").stdout

        response = await api.get("/v1/ops/lag", headers=auth)
        assert response.status_code == 200
        assert response.json()["total_lag"] >= 300
        assert response.json()["stages"]["derive"]["lag"] >= 300

        async def api_metrics() -> str:
            return (await api.get("/metrics")).text

        text = await eventually(api_metrics, lambda t: (prometheus_value(t, "tiegraph_consumer_lag_total") or 0) >= 300)
        assert (prometheus_value(text, "tiegraph_stage_oldest_waiting_seconds", 'stage="derive"') or 0) > 0

        async def readyz() -> httpx.Response:
            return await api.get("/readyz")

        unready = await eventually(
            readyz, lambda r: r.status_code == 503, timeout=stack.settings.heartbeat_max_age_s + 30
        )
        assert "heartbeat" in unready.json()["checks"]["worker"]
    finally:
        services.spawn_process("worker", [sys.executable, "-m", "tiegraph", "worker"])

    highest: dict[str, float] = {}
    watcher = asyncio.create_task(watch_worker_metrics(stack, highest))
    try:
        await stack.wait_caught_up(timeout=240)
        after = json.loads(stack.cli("lag", "--json").stdout)
        assert after["total_lag"] == 0
        assert all(stage["oldest_waiting_s"] == 0 for stage in after["stages"].values())

        async def lag_doc() -> dict[str, object]:
            return dict((await api.get("/v1/ops/lag", headers=auth)).json())

        # The heartbeat (every 5 s) carries the newest origin written: the import's records reached the graph.
        doc = await eventually(lag_doc, lambda d: (d["graph"]["newest_origin_ms"] or 0) >= imported_from_ms)  # type: ignore[index]
        graph = doc["graph"]
        assert isinstance(graph, dict)
        assert graph["delay_p99_s"] is not None and graph["delay_p99_s"] > 0
        assert graph["workers_alive"] >= 1 and graph["stage_workers_alive"] >= 1  # both processes beat
        assert (await api.get("/readyz")).status_code == 200

        text = await eventually(api_metrics, lambda t: prometheus_value(t, "tiegraph_consumer_lag_total") == 0)
        assert (prometheus_value(text, "tiegraph_stage_workers_alive") or 0) >= 1
        await asyncio.sleep(1.5)  # one more scrape after the graph caught up
    finally:
        watcher.cancel()
    # Only "a worker processed records" is certain, not how many: a restart resets the counters.
    assert highest.get('tiegraph_records_processed_total{stage="derive"}', 0) > 0, highest
    assert highest.get("tiegraph_event_to_graph_seconds_count{}", 0) > 0, highest
    assert highest.get('tiegraph_graph_write_seconds_count{kind="ties"}', 0) > 0, highest
    assert highest.get("tiegraph_graph_newest_origin_timestamp_seconds{}", 0) >= imported_from_ms / 1000, highest

    # The worker reads its own lag (the stall watch, every 5 s, through clients it keeps open):
    # the restarted worker's gauge of a partition appears with its first reading, 0 once caught up.
    async def worker_metrics() -> str:
        async with httpx.AsyncClient(timeout=5) as client:
            return (await client.get(f"http://127.0.0.1:{stack.settings.worker_metrics_port}/metrics")).text

    mail = f'partition="0",topic="{stack.settings.topic_prefix}mail.messages.v1"'
    await eventually(worker_metrics, lambda t: prometheus_value(t, "tiegraph_consumer_lag", mail) == 0)


async def test_a_worker_configured_for_another_partition_count_stops_with_the_reason(stack: Stack) -> None:
    """Keys and tables are co-partitioned: a worker must refuse topics with another partition count
    (and its supervisor must not restart it in a loop: a restart cannot help)."""
    prefix = "mismatch."
    await ensure_pipeline_topics(stack.settings.model_copy(update={"topic_prefix": prefix}))
    configured = stack.settings.topic_partitions + 1
    env = {
        "TIEGRAPH_TOPIC_PREFIX": prefix,
        "TIEGRAPH_APP_ID": f"{stack.settings.app_id}-mismatch",
        "TIEGRAPH_TOPIC_PARTITIONS": str(configured),
    }
    result = stack.cli("worker", check=False, timeout=120, env=env)
    assert result.returncode == CONFIGURATION_ERROR
    assert f"TIEGRAPH_TOPIC_PARTITIONS={configured}" in result.stderr
    assert f"{prefix}mail.messages.v1 has {stack.settings.topic_partitions}" in result.stderr
    assert "not restarting" in result.stderr
