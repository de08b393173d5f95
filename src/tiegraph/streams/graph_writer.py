"""The graph writer: the Faust app that reads what the stream stages concluded into Neo4j.

  tie.updates.v1 --write_ties--> Neo4j          (a tombstone: the erased pair's edge goes)
  aliases.v1 --write_aliases--> Neo4j           (a mailbox owner's aliases, learned at ingest)
  counters.v1 --write_counters--> Neo4j         (per-tenant counts for `tiegraph stats`)

Its own process and consumer group (topics.graph_writer_group), beside the stream stages
(streams/app.py; why: streams/faust_app.py). All three topics are compacted and keyed by what
they describe, and every write sets absolute values keyed by it, guarded by the record's offset:
a replay, or a batch a writer lost in a rebalance, changes nothing. A batch is acked only once
Neo4j has it (streams/backpressure.py retries until then).

Its heartbeat, `(:WorkerStatus)` with role "graph" (streams/faust_app.py `write_heartbeats`; the
stream stages write their own), carries the worker's freshness: it is measured here, where an
event reaches the graph (streams/metrics.py), along with how long a write has waited for Neo4j.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any, cast

import faust
from faust.types import EventT, StreamT

from tiegraph.core.aliases import Alias
from tiegraph.graph.neo4j import GraphStore, alias_row, tie_row
from tiegraph.settings import Settings
from tiegraph.streams import metrics
from tiegraph.streams import topics as t
from tiegraph.streams.backpressure import WriteWaits, write_until_done
from tiegraph.streams.delivery import BatchDelivery, SendFailures
from tiegraph.streams.erase import split_deletions
from tiegraph.streams.faust_app import (
    DeadLetters,
    new_app,
    pipeline_topic,
    refresh_tenants,
    watch_for_stalls,
    write_heartbeats,
)
from tiegraph.streams.intake import take_batches
from tiegraph.streams.tenants import TenantDirectory
from tiegraph.streams.watchdog import StallWatch

log = logging.getLogger(__name__)


def latest_per_key(events: Sequence[EventT[bytes]]) -> list[dict[str, Any]]:
    """The last value of each key in a batch (an older update of the same tie is superseded), with
    its source offset as "offset": the graph keeps a write only if no later offset of the key was
    written, so a writer that lost the partition in a rebalance cannot overwrite newer values
    with its in-flight batch."""
    latest: dict[bytes, dict[str, Any]] = {}
    for event in events:
        latest[cast(bytes, event.key)] = {**t.decode(event.value), "offset": event.message.offset}
    return list(latest.values())


def create_graph_writer(settings: Settings, graph: GraphStore, tenants: TenantDirectory) -> faust.App:
    """Build the graph writer's Faust app. It keeps no tables: Neo4j is its state."""
    app_id = t.graph_writer_group(settings.app_id)
    app = new_app(settings, app_id, web=False)
    tie_updates, alias_records, counters = (
        pipeline_topic(app, settings, name) for name in (t.TIE_UPDATES, t.ALIASES, t.COUNTERS)
    )
    names = t.TopicNames(settings.topic_prefix)
    failures = SendFailures()
    app.sensors.add(failures)
    rejects = DeadLetters(names[t.DEAD_LETTERS])
    load_tenants = refresh_tenants(app, graph, tenants)
    watch = StallWatch(settings.stall_seconds)
    waits = WriteWaits()  # the writes' waits for Neo4j, for the heartbeat and the stall watchdog
    waiting: dict[str, Any] = {"waits": waits, "timeout_s": settings.graph_write_timeout_s}
    freshness = metrics.Freshness()

    @app.agent(tie_updates)
    async def write_ties(stream: StreamT[bytes]) -> AsyncIterator[int]:
        """Tie updates -> Neo4j, one UNWIND statement per batch."""
        async for batch in take_batches(app, stream, settings.graph_batch_size, settings.graph_batch_seconds):
            updates, deletions = split_deletions([(cast(bytes, e.key), e.value, e.message.offset) for e in batch])
            if deletions:
                await write_until_done(graph.delete_ties, deletions, watch.reset, **waiting)
            if not all(tenants.knows(u["tenant"]) for u in updates):
                await load_tenants()  # a tenant created since the last refresh: learn its domains
            # A fixed order takes node locks in one order, so concurrent writers rarely deadlock.
            updates.sort(key=lambda u: (u["tenant"], u["a"], u["b"]))
            rows = [{**tie_row(u, tenants.domains(u["tenant"])), "offset": u["offset"]} for u in updates]
            metrics.count_processed("write", len(batch))
            with metrics.timed_graph_write("ties", len(rows)):
                await write_until_done(graph.write_ties, rows, watch.reset, **waiting)
            freshness.ties_written(updates, time.time())  # event-to-graph delay, newest origin
            yield len(rows)

    @app.agent(alias_records)
    async def write_aliases(stream: StreamT[bytes]) -> AsyncIterator[int]:
        """A mailbox owner's aliases -> ALIAS_OF edges; a tombstone (an erased person) removes the edge."""
        async for batch in take_batches(app, stream, settings.graph_batch_size, settings.graph_batch_seconds):
            delivery = BatchDelivery(app, failures)
            latest = {cast(bytes, event.key): event for event in batch}
            records, deletions = [], []
            for key, event in latest.items():
                if event.value is None:
                    tenant, _, alias = key.decode().partition("|")
                    deletions.append({"tenant": tenant, "alias": alias, "offset": event.message.offset})
                elif (record := rejects.decoded(delivery, event, Alias.from_dict, "aliases")) is not None:
                    records.append({**record.to_dict(), "offset": event.message.offset})
            await delivery.settle()
            if not all(tenants.knows(r["tenant"]) for r in records):
                await load_tenants()
            rows = [alias_row(r, tenants.domains(r["tenant"])) for r in records]
            metrics.count_processed("aliases", len(batch))
            with metrics.timed_graph_write("aliases", len(rows) + len(deletions)):
                await write_until_done(graph.delete_aliases, deletions, watch.reset)
                await write_until_done(graph.write_aliases, rows, watch.reset)
            yield len(rows) + len(deletions)

    @app.agent(counters)
    async def write_counters(stream: StreamT[bytes]) -> AsyncIterator[int]:
        async for batch in take_batches(app, stream, settings.graph_batch_size, settings.graph_batch_seconds):
            rows = latest_per_key(batch)
            metrics.count_processed("count", len(batch))
            with metrics.timed_graph_write("counters", len(rows)):
                await write_until_done(graph.write_counters, rows, watch.reset, **waiting)
            yield len(rows)

    def freshness_and_waits() -> dict[str, Any]:
        return {**freshness.status(), **waits.status(time.monotonic())}

    write_heartbeats(app, settings, graph, metrics.GRAPH_WRITER, freshness_and_waits)
    watch_for_stalls(app, settings, names.read_by(writer=True), watch, waits)
    return app
