"""What the worker's two Faust apps share: the stream stages (streams/app.py) and the graph writer
(streams/graph_writer.py) run as separate processes, each its own consumer group, with the same
Kafka settings, consumer guards (streams/delivery.py) and upkeep: the tenant directory refreshed
every 10 s, a stall watchdog over the partitions the process owns and a heartbeat in Neo4j.

Two processes, not one: the writer's share of the work (decoding tie updates, building rows, the
Neo4j driver's packing and I/O) took a sixth of the single worker's CPU, and the consumer plumbing
of its topics as much again, on the one core a Python process can use. Apart, the stages and the
writer run on both cores (bench/HISTORY.md).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import faust
from faust.types import EventT

from tiegraph.core.records import DeadLetter
from tiegraph.errors import GraphUnavailable, StreamUnavailable
from tiegraph.graph.neo4j import GraphStore
from tiegraph.settings import Settings
from tiegraph.streams import metrics
from tiegraph.streams import topics as t
from tiegraph.streams.backpressure import WriteWaits
from tiegraph.streams.delivery import BatchDelivery, GuardedApp
from tiegraph.streams.intake import RawSchema
from tiegraph.streams.lag import LagReader
from tiegraph.streams.tenants import TenantDirectory
from tiegraph.streams.watchdog import StallWatch

log = logging.getLogger(__name__)
R = TypeVar("R")
STALL_CHECK_S = 5.0
HEARTBEAT_S = 5.0
HEARTBEAT_WRITE_TIMEOUT_S = 10.0  # a frozen Neo4j must not hold the heartbeat loop past its next beats


def faust_dir(settings: Settings, app_id: str) -> Path:
    """Where the Faust app `app_id`'s workers on this node keep their files (tables, Faust's own)."""
    return settings.home / "faust" / app_id


def new_app(settings: Settings, app_id: str, *, web: bool) -> GuardedApp:
    """A Faust app (and consumer group) `app_id`.

    Its files go to a directory per worker (its web port tells the workers of a host apart): the
    RocksDB store locks its files, and a second worker on the host would wait on the first one's
    lock. Stable across restarts, so a restarted worker finds its tables on disk."""
    datadir = faust_dir(settings, app_id) / f"worker-{settings.worker_web_port}"
    datadir.parent.mkdir(parents=True, exist_ok=True)  # Faust creates only the last level
    app = GuardedApp(
        app_id,
        broker=f"kafka://{settings.kafka_bootstrap}",
        store=settings.store,
        # Faust's default is "<app id>-data" in the working directory, which litters wherever the
        # worker was started; table files belong with the rest of the node's state.
        datadir=str(datadir),
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.topic_replication,
        broker_commit_interval=settings.commit_interval_s,
        web_enabled=web,
        web_port=settings.worker_web_port,
        web_bind="127.0.0.1",
        web_host="127.0.0.1",
        producer_acks=-1,
        # aiokafka sends at most one batch per partition per request and one request per broker at
        # a time: with the 16 KiB default, a stage's batch of ~1 MB of tie states took dozens of
        # round trips. Below the broker's 1 MiB message.max.bytes. No linger: see bench/HISTORY.md.
        producer_max_batch_size=512 * 1024,
        broker_session_timeout=settings.kafka_session_timeout_s,
        broker_heartbeat_interval=min(3.0, settings.kafka_session_timeout_s / 4),
        key_serializer="raw",
        value_serializer="raw",
        # A backlog of changelog records can take a while to replay after a crash.
        stream_recovery_delay=0.0,
    )
    # Faust's changelogs and the compacted topics may really skip offsets; the others never do.
    names = t.TopicNames(settings.topic_prefix)
    app.gapless_topics = frozenset(names[n] for n in t.ALL_TOPICS if n not in t.COMPACTED)
    return app


def pipeline_topic(app: faust.App, settings: Settings, name: str) -> faust.TopicT:
    """The app's handle on pipeline topic `name` (topics.py), its records' bytes as they are."""
    full_name = t.TopicNames(settings.topic_prefix)[name]
    return app.topic(full_name, partitions=settings.topic_partitions, schema=RawSchema())


def refresh_tenants(app: faust.App, graph: GraphStore, tenants: TenantDirectory) -> Callable[[], Awaitable[None]]:
    """Reload the tenant directory every 10 s; returns the reload, for a batch naming a tenant the
    directory does not know yet."""

    async def load_tenants() -> None:
        try:
            await tenants.load(graph)
        except GraphUnavailable as exc:
            log.warning("cannot refresh tenants: %s", exc)

    app.timer(interval=10.0)(load_tenants)
    return load_tenants


def watch_for_stalls(
    app: faust.App, settings: Settings, topics: list[str], watch: StallWatch, waits: WriteWaits | None = None
) -> None:
    """Exit for a restart (by the supervisor) if a partition of `topics` this process owns stops
    moving; lag gauges from the same readings. Every 5 s, through Kafka clients kept open:
    starting them for each reading took ~0.8 s."""

    async def watching() -> None:
        async with LagReader(settings.kafka_bootstrap) as reader:
            while True:
                await asyncio.sleep(STALL_CHECK_S)
                owned = {(tp.topic, tp.partition) for tp in app.consumer.assignment()}
                if waits is not None and waits.busy():
                    watch.reset()  # waiting for Neo4j on purpose (bounded by the write timeout), not stalled
                try:
                    rows = await reader.read(settings.app_id, topics)
                except StreamUnavailable:
                    watch.reset()
                    continue
                metrics.record_lag(rows)
                stalled = watch.stalled(rows, owned, time.monotonic())
                if stalled:
                    where = ", ".join(f"{r.topic}[{r.partition}] at {r.committed} (lag {r.lag})" for r in stalled)
                    log.error("no progress for %.0fs on %s: restarting the worker", settings.stall_seconds, where)
                    os.kill(os.getpid(), signal.SIGTERM)

    app.task(watching)


def write_heartbeats(
    app: faust.App,
    settings: Settings,
    graph: GraphStore,
    role: str,
    details: Callable[[], Mapping[str, Any]] = dict,
) -> None:
    """This process's `(:WorkerStatus)` in Neo4j every 5 s, for /readyz and `tiegraph lag`: its id
    (hostname:pid), app_id, `role` (metrics.STREAM_STAGES or metrics.GRAPH_WRITER), heartbeat_at
    and `details()` (the graph writer's freshness and write waits). Each of the worker's processes
    beats for itself: a dead one, or one whose event loop is blocked, goes stale while the other
    beats on. The role is in the id too: two roles run as containers of one pod share a hostname
    and can both be pid 1."""
    worker_id = f"{socket.gethostname()}:{os.getpid()}:{role}"

    async def heartbeat() -> None:  # a loop, not a timer: the first beat is at start-up
        while True:
            status = {"id": worker_id, "app_id": settings.app_id, "role": role, "heartbeat_at": time.time()}
            try:
                await asyncio.wait_for(graph.write_worker_status({**status, **details()}), HEARTBEAT_WRITE_TIMEOUT_S)
            except (GraphUnavailable, TimeoutError) as exc:
                timed_out = f"Neo4j did not answer within {HEARTBEAT_WRITE_TIMEOUT_S:.0f}s"
                log.warning("cannot write the worker heartbeat: %s", str(exc) or timed_out)
            except Exception:  # anything else must not end the beats of a process that works on
                log.exception("cannot write the worker heartbeat")
            await asyncio.sleep(HEARTBEAT_S)

    app.task(heartbeat)


def tenant_of_key(key: bytes | None) -> str:
    return (key or b"").split(b"|", 1)[0].decode("utf-8", "replace")


class DeadLetters:
    """Records a stage cannot use go to the dead-letter topic, with the reason, in the stage's
    batch: the pipeline goes on with the rest."""

    def __init__(self, topic: str) -> None:
        self._topic = topic

    def send(self, delivery: BatchDelivery, event: EventT[bytes], stage: str, reason: str) -> None:
        metrics.count_rejected(stage)
        letter = DeadLetter(
            tenant=tenant_of_key(event.key),
            stage=stage,
            source=f"{event.message.topic}@{event.message.partition}:{event.message.offset}",
            reason=reason,
        )
        delivery.send(self._topic, event.key, t.encode(letter.to_dict()))

    def decoded(
        self, delivery: BatchDelivery, event: EventT[bytes], parse: Callable[[dict[str, Any]], R], stage: str
    ) -> R | None:
        """The event's record, or None after sending it here with the reason."""
        try:
            return parse(t.decode(event.value))
        except (ValueError, KeyError, TypeError) as exc:
            self.send(delivery, event, stage, f"undecodable record: {exc}")
            return None
