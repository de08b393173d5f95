"""The API's side of operations: Prometheus metrics (`GET /metrics`), request latency per
endpoint, and a background sampler that keeps the last hour of lag and freshness in memory for
the ops page and refreshes the lag, freshness and mailbox gauges.

The history is per API process and starts empty at start-up: it is a view for people, the
durable time series is whatever Prometheus scrapes from `/metrics`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter as Tally
from collections import deque
from typing import Any

from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tiegraph.errors import GraphUnavailable, StreamUnavailable
from tiegraph.graph.neo4j import GraphStore
from tiegraph.operations import lag_report
from tiegraph.settings import Settings
from tiegraph.streams.lag import PartitionLag
from tiegraph.streams.metrics import record_lag

log = logging.getLogger(__name__)

HISTORY_SECONDS = 3600.0

REQUEST_SECONDS = Histogram(
    "tiegraph_http_request_seconds", "HTTP request latency per endpoint", ["method", "route", "status"]
)
STAGE_WAITING = Gauge(
    "tiegraph_stage_oldest_waiting_seconds", "Age of the oldest record a stage has not processed yet", ["stage"]
)
GRAPH_AGE = Gauge("tiegraph_graph_newest_origin_age_seconds", "Age of the newest record whose tie reached the graph")
DELAY_P99 = Gauge("tiegraph_event_to_graph_p99_seconds", "Event-to-graph delay p99 of recent ties (worker heartbeat)")
HEARTBEAT_AGE = Gauge("tiegraph_worker_heartbeat_age_seconds", "Seconds since the newest graph-writer heartbeat")
WORKERS_ALIVE = Gauge("tiegraph_workers_alive", "Workers whose graph writer has a recent heartbeat")
STAGE_WORKERS_ALIVE = Gauge("tiegraph_stage_workers_alive", "Workers whose stream stages have a recent heartbeat")
MAILBOXES = Gauge("tiegraph_mailboxes", "Connected mailboxes per tenant and sync state", ["tenant", "state"])
MAILBOX_ERRORS = Gauge("tiegraph_mailboxes_with_error", "Mailboxes whose last sync left an error", ["tenant"])
SAMPLER_ERRORS = Gauge("tiegraph_ops_sample_failed", "1 when the last ops sample could not read Kafka or Neo4j")


class OpsHistory:
    """Bounded samples of lag and freshness (oldest dropped first)."""

    def __init__(self, max_samples: int) -> None:
        self._samples: deque[dict[str, Any]] = deque(maxlen=max(max_samples, 1))

    def add(self, sample: dict[str, Any]) -> None:
        self._samples.append(sample)

    def samples(self) -> list[dict[str, Any]]:
        return list(self._samples)


def sample_of(report: dict[str, Any]) -> dict[str, Any]:
    """The compact point the charts need from a full lag report."""
    graph = report.get("graph") or {}
    stages = report.get("stages") or {}
    return {
        "at": report["at"],
        "total_lag": report["total_lag"],
        "lag": {stage: entry["lag"] for stage, entry in stages.items()},
        "oldest_waiting_s": max((entry["oldest_waiting_s"] for entry in stages.values()), default=0.0),
        "newest_origin_age_s": graph.get("newest_origin_age_s"),
        "delay_p50_s": graph.get("delay_p50_s"),
        "delay_p99_s": graph.get("delay_p99_s"),
    }


def set_report_gauges(report: dict[str, Any]) -> None:
    record_lag(PartitionLag(**row) for row in report["partitions"])
    for stage, entry in report["stages"].items():
        STAGE_WAITING.labels(stage).set(entry["oldest_waiting_s"])
    graph = report.get("graph") or {}
    for gauge, key in (
        (GRAPH_AGE, "newest_origin_age_s"),
        (DELAY_P99, "delay_p99_s"),
        (HEARTBEAT_AGE, "heartbeat_age_s"),
    ):
        if graph.get(key) is not None:
            gauge.set(graph[key])
    WORKERS_ALIVE.set(graph.get("workers_alive", 0))
    STAGE_WORKERS_ALIVE.set(graph.get("stage_workers_alive", 0))


def set_mailbox_gauges(mailboxes: list[dict[str, Any]]) -> None:
    states = Tally((m["tenant"], m["state"] or "unknown") for m in mailboxes)
    errors = Tally(m["tenant"] for m in mailboxes if m.get("last_error"))
    MAILBOXES.clear()
    MAILBOX_ERRORS.clear()
    for (tenant, state), count in states.items():
        MAILBOXES.labels(tenant, state).set(count)
    for tenant in {m["tenant"] for m in mailboxes}:
        MAILBOX_ERRORS.labels(tenant).set(errors.get(tenant, 0))


async def take_sample(settings: Settings, graph: GraphStore, history: OpsHistory) -> None:
    """One reading: history point plus gauges; a failing engine is logged, never fatal."""
    try:
        report = await lag_report(settings, graph)
        history.add(sample_of(report))
        set_report_gauges(report)
        set_mailbox_gauges(await graph.mailboxes())
        SAMPLER_ERRORS.set(0)
    except (StreamUnavailable, GraphUnavailable) as exc:
        SAMPLER_ERRORS.set(1)
        log.warning("ops sample failed: %s", exc)


class OpsSampler:
    """Samples every `settings.ops_sample_seconds` for as long as the API runs."""

    def __init__(self, settings: Settings, graph: GraphStore) -> None:
        self.history = OpsHistory(int(HISTORY_SECONDS / max(settings.ops_sample_seconds, 0.1)))
        self._settings, self._graph = settings, graph
        self._task: asyncio.Task[None] | None = None

    def start(self) -> OpsSampler:
        self._task = asyncio.create_task(self._run(), name="ops-sampler")
        return self

    async def _run(self) -> None:
        while True:
            await take_sample(self._settings, self._graph, self.history)
            await asyncio.sleep(self._settings.ops_sample_seconds)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class RequestTimer:
    """ASGI middleware: latency per endpoint, labelled by route template (not the raw path, whose
    e-mail addresses would make unbounded label values). Plain ASGI rather than Starlette's
    BaseHTTPMiddleware, which hides an endpoint's exception behind "No response returned"."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            REQUEST_SECONDS.labels(scope["method"], route, str(status)).observe(time.perf_counter() - started)


def install_monitoring(app: FastAPI) -> None:
    """`GET /metrics` and the request-latency middleware."""
    app.add_middleware(RequestTimer)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
