"""The worker's Prometheus metrics and its freshness bookkeeping.

streams/app.py calls these at clear points (one line each): records in and rejected per stage,
graph write latency around `write_until_done`, event-to-graph delay of written ties, and lag per
partition from the stall watchdog's reading. The worker serves them on
TIEGRAPH_WORKER_METRICS_PORT (`/metrics`), and each of its processes writes a `(:WorkerStatus)`
heartbeat to Neo4j (streams/faust_app.py `write_heartbeats`; the graph writer's carries the
freshness kept here) so the API and `tiegraph lag` can report freshness and readiness without
talking to a worker.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, cast

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.metrics_core import Metric

from tiegraph.streams.lag import PartitionLag

log = logging.getLogger(__name__)

RECORDS_PROCESSED = Counter(
    "tiegraph_records_processed_total", "Records a pipeline stage consumed and handled", ["stage"]
)
RECORDS_REJECTED = Counter(
    "tiegraph_records_rejected_total", "Records a stage sent to the dead letters, by stage", ["stage"]
)
GRAPH_WRITE_SECONDS = Histogram(
    "tiegraph_graph_write_seconds",
    "Time to land one batch in Neo4j, retries included",
    ["kind"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
GRAPH_ROWS_WRITTEN = Counter("tiegraph_graph_rows_written_total", "Rows written to Neo4j", ["kind"])
EVENT_TO_GRAPH_SECONDS = Histogram(
    "tiegraph_event_to_graph_seconds",
    "Delay from a record entering Kafka to its tie being written to Neo4j",
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600),
)
NEWEST_ORIGIN = Gauge(
    "tiegraph_graph_newest_origin_timestamp_seconds", "Kafka time of the newest record whose tie reached the graph"
)
LAST_GRAPH_WRITE = Gauge(
    "tiegraph_graph_last_write_timestamp_seconds",
    "When the graph writer's latest write of ties, counters or aliases landed",
)
CONSUMER_LAG = Gauge(
    "tiegraph_consumer_lag", "Records not yet committed by the pipeline's consumer group", ["topic", "partition"]
)
TOTAL_LAG = Gauge("tiegraph_consumer_lag_total", "Sum of tiegraph_consumer_lag over every topic and partition")

RECENT_DELAYS = 2000  # delays kept for the p50/p99 in the heartbeat

# The `role` of a worker process's heartbeat: its stream stages (streams/app.py) or its graph
# writer (streams/graph_writer.py), the names `tiegraph worker --role` takes.
STREAM_STAGES = "streams"
GRAPH_WRITER = "graph"


# What only the graph writer measures: the stream stages' process leaves them out of its /metrics,
# where they would stay at zero beside the writer's real figures (a sum over a worker's two ports
# stays right either way; a dashboard reading one port, or the first copy found, would not).
GRAPH_WRITER_ONLY = (GRAPH_WRITE_SECONDS, GRAPH_ROWS_WRITTEN, EVENT_TO_GRAPH_SECONDS, NEWEST_ORIGIN, LAST_GRAPH_WRITE)


class RoleMetrics:
    """The default registry's metrics as one of the worker's processes exports them: without
    `left_out` (metric family names)."""

    def __init__(self, left_out: frozenset[str], source: Any = REGISTRY) -> None:
        self._left_out, self._source = left_out, source

    @classmethod
    def of(cls, role: str) -> RoleMetrics:
        others = GRAPH_WRITER_ONLY if role != GRAPH_WRITER else ()
        return cls(frozenset(family.name for collector in others for family in collector.collect()))

    def collect(self) -> Iterator[Metric]:
        return (family for family in self._source.collect() if family.name not in self._left_out)

    def restricted_registry(self, names: Iterable[str]) -> RoleMetrics:
        """What a scrape asking for `?name[]=...` gets (prometheus_client calls this)."""
        return RoleMetrics(self._left_out, self._source.restricted_registry(names))


def metrics_port(port: int, role: str) -> int:
    """The /metrics port of a worker's process of `role`, TIEGRAPH_WORKER_METRICS_PORT being
    `port`: the stream stages' on it, the graph writer's on the next (0: not served)."""
    return port + 1 if port and role == GRAPH_WRITER else port


def serve_metrics(port: int, role: str, host: str = "127.0.0.1") -> None:
    """Expose the metrics of this process, one of the worker's (`role`), at
    http://HOST:PORT/metrics (port 0 = do not serve).

    A port already taken (a second worker on this machine with the same setting) is logged and
    the worker runs on without metrics: losing a scrape target must not stop the pipeline."""
    if not port:
        return
    try:
        start_http_server(port, addr=host, registry=cast(CollectorRegistry, RoleMetrics.of(role)))
    except OSError as exc:
        log.warning("worker metrics not served: port %d unavailable (%s); set TIEGRAPH_WORKER_METRICS_PORT", port, exc)


def count_processed(stage: str, records: int = 1) -> None:
    RECORDS_PROCESSED.labels(stage).inc(records)


def count_rejected(stage: str) -> None:
    RECORDS_REJECTED.labels(stage).inc()


@contextmanager
def timed_graph_write(kind: str, rows: int) -> Iterator[None]:
    """Time one batch write (retries included: that is the latency the pipeline feels)."""
    started = time.perf_counter()
    yield
    GRAPH_WRITE_SECONDS.labels(kind).observe(time.perf_counter() - started)
    GRAPH_ROWS_WRITTEN.labels(kind).inc(rows)
    LAST_GRAPH_WRITE.set_to_current_time()  # the bench times a backfill to a settled graph by it


def record_lag(rows: Iterable[PartitionLag]) -> None:
    """Lag gauges from a reading of the consumer group's offsets."""
    total = 0
    for row in rows:
        CONSUMER_LAG.labels(row.topic, str(row.partition)).set(row.lag)
        total += row.lag
    TOTAL_LAG.set(total)


def percentile(values: Iterable[float], q: float) -> float | None:
    """The q-quantile (0..1) by nearest rank; None for no values."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[rank]


class Freshness:
    """What reached the graph and how late: fed by the tie writer, read by the heartbeat."""

    def __init__(self, keep: int = RECENT_DELAYS) -> None:
        self.newest_origin_ms = 0
        self.last_written_at = 0.0
        self.written = 0
        self._delays: deque[float] = deque(maxlen=keep)

    def ties_written(self, updates: Iterable[Mapping[str, Any]], now: float) -> None:
        """Record a written batch: event-to-graph delay per tie that knows its origin."""
        for update in updates:
            origin_ms = int(update.get("origin_ms") or 0)
            self.written += 1
            if origin_ms <= 0:
                continue
            delay = max(now - origin_ms / 1000, 0.0)
            self._delays.append(delay)
            EVENT_TO_GRAPH_SECONDS.observe(delay)
            self.newest_origin_ms = max(self.newest_origin_ms, origin_ms)
        self.last_written_at = now
        if self.newest_origin_ms:
            NEWEST_ORIGIN.set(self.newest_origin_ms / 1000)

    def status(self) -> dict[str, Any]:
        """The freshness properties of the graph writer's (:WorkerStatus) heartbeat."""
        return {
            "last_origin_ms": self.newest_origin_ms,
            "last_written_at": self.last_written_at,
            "ties_written": self.written,
            "delay_p50_s": percentile(self._delays, 0.5),
            "delay_p99_s": percentile(self._delays, 0.99),
        }
