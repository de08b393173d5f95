"""The Faust application: three stages between the topics of DESIGN.md.

  mail.messages.v1 --derive--> interactions.v1 --aggregate--> tie.updates.v1 --write--> Neo4j

Delivery is at-least-once; effects are exactly-once because every stage is idempotent: `derive`
drops copies it has seen, `aggregate` skips interactions a tie already holds (by id), and the
graph writer sets absolute values keyed by pair. Every stage works in batches, and a batch's
outputs are in Kafka (or Neo4j) before its source offsets can be committed (streams/delivery.py).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeVar, cast

import faust
from faust.streams import Stream
from faust.types import EventT, SchemaT, StreamT, TableT

from tiegraph.core.interactions import derive_interactions
from tiegraph.core.meetings import plan_meeting
from tiegraph.core.records import CalendarEvent, DeadLetter, Interaction, MailMessage
from tiegraph.core.ties import apply_interactions
from tiegraph.errors import GraphUnavailable, StreamUnavailable
from tiegraph.graph.neo4j import GraphStore, tie_row
from tiegraph.settings import Settings
from tiegraph.streams import topics as t
from tiegraph.streams.delivery import BatchDelivery, GuardedApp, SendFailures, make_current
from tiegraph.streams.lag import read_lag
from tiegraph.streams.state import BatchCounts, DistinctCounts, TieCache
from tiegraph.streams.tenants import TenantDirectory
from tiegraph.streams.watchdog import StallWatch

log = logging.getLogger(__name__)
R = TypeVar("R")

MAX_BACKOFF_S = 30.0


async def write_until_done(
    write: Callable[[Sequence[dict[str, Any]]], Awaitable[None]],
    rows: Sequence[dict[str, Any]],
    on_retry: Callable[[], None] | None = None,
) -> None:
    """Retry a graph write with bounded backoff until it lands: the offsets of the batch are only
    committed afterwards, so Neo4j being down pauses the stage instead of losing records."""
    delay = 0.25
    while True:
        try:
            await write(rows)
            return
        except GraphUnavailable as exc:
            log.warning("graph write failed, retrying in %.1fs: %s", delay, exc)
            if on_retry is not None:
                on_retry()
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF_S)


def latest_per_key(events: Sequence[EventT[bytes]]) -> list[dict[str, Any]]:
    """The last value of each key in a batch (an older update of the same tie is superseded), with
    its source offset as "offset": the graph keeps a write only if no later offset of the key was
    written, so a worker that lost the partition in a rebalance cannot overwrite newer values
    with its in-flight batch."""
    latest: dict[bytes, dict[str, Any]] = {}
    for event in events:
        latest[cast(bytes, event.key)] = {**t.decode(event.value), "offset": event.message.offset}
    return list(latest.values())


def batches(stream: StreamT[bytes]) -> Stream[bytes]:
    """The concrete stream: `take_events` is missing from Faust's StreamT interface."""
    return cast(Stream[bytes], stream)


def tenant_of_key(key: bytes | None) -> str:
    return (key or b"").split(b"|", 1)[0].decode("utf-8", "replace")


def create_app(settings: Settings, graph: GraphStore, tenants: TenantDirectory) -> faust.App:
    """Build the worker's Faust app with its topics, tables and agents."""
    names = t.TopicNames(settings.topic_prefix)
    app = GuardedApp(
        settings.app_id,
        broker=f"kafka://{settings.kafka_bootstrap}",
        store=settings.store,
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.topic_replication,
        broker_commit_interval=settings.commit_interval_s,
        web_port=settings.worker_web_port,
        web_bind="127.0.0.1",
        web_host="127.0.0.1",
        producer_acks=-1,
        broker_session_timeout=settings.kafka_session_timeout_s,
        broker_heartbeat_interval=min(3.0, settings.kafka_session_timeout_s / 4),
        key_serializer="raw",
        value_serializer="raw",
        # A backlog of changelog records can take a while to replay after a crash.
        stream_recovery_delay=0.0,
    )

    def topic(name: str) -> faust.TopicT:
        return app.topic(
            names[name], partitions=settings.topic_partitions, key_serializer="raw", value_serializer="raw"
        )

    mail_messages, calendar_events, interactions = (
        topic(t.MAIL_MESSAGES),
        topic(t.CALENDAR_EVENTS),
        topic(t.INTERACTIONS),
    )
    tie_updates, counters, dead_letters = topic(t.TIE_UPDATES), topic(t.COUNTERS), topic(t.DEAD_LETTERS)

    json_schema: SchemaT[Any, Any] = faust.Schema(key_serializer="json", value_serializer="json")

    def table(name: str, default: Any) -> TableT[str, Any]:
        return app.Table(name, default=default, schema=json_schema)

    # Keyed sets (value: source partition + 1); the counts are derived from them, never kept apart.
    seen_messages = table("seen_messages", int)
    dead_letter_keys = table("dead_letter_keys", int)
    tie_states = table("tie_states", None)
    meeting_states = table("meeting_states", None)
    message_counts = DistinctCounts(seen_messages, lambda v: v - 1)
    dead_letter_counts = DistinctCounts(dead_letter_keys, lambda v: v - 1)
    meeting_counts = DistinctCounts(meeting_states, lambda v: v["partition"])

    failures = SendFailures()
    app.sensors.add(failures)

    def stream_batches(stream: StreamT[bytes]) -> AsyncIterator[Sequence[EventT[bytes]]]:
        return app.ack_gate.batches(
            batches(stream).take_events(settings.stream_batch_size, within=settings.stream_batch_seconds)
        )

    async def send(delivery: BatchDelivery, topic_: faust.TopicT, key: bytes | None, value: dict[str, Any]) -> None:
        delivery.add(await topic_.send(key=key, value=t.encode(value)))

    async def send_counts(delivery: BatchDelivery, counts: BatchCounts) -> None:
        for key, row in counts.rows.items():
            await send(delivery, counters, key, row)

    async def dead_letter(delivery: BatchDelivery, event: EventT[bytes], stage: str, reason: str) -> None:
        letter = DeadLetter(
            tenant=tenant_of_key(event.key),
            stage=stage,
            source=f"{event.message.topic}@{event.message.partition}:{event.message.offset}",
            reason=reason,
        )
        await send(delivery, dead_letters, event.key, letter.to_dict())

    async def decoded(
        delivery: BatchDelivery, event: EventT[bytes], parse: Callable[[dict[str, Any]], R], stage: str
    ) -> R | None:
        """The event's record, or None after sending it to the dead letters with the reason."""
        try:
            return parse(t.decode(event.value))
        except (ValueError, KeyError, TypeError) as exc:
            await dead_letter(delivery, event, stage, f"undecodable record: {exc}")
            return None

    async def send_interactions(delivery: BatchDelivery, found: list[Interaction]) -> None:
        for interaction in found:
            key = t.pair_key(interaction.tenant, interaction.a, interaction.b)
            await send(delivery, interactions, key, interaction.to_dict())

    # Each stage records its state (seen messages, meetings, ties) only after the batch's outputs
    # are in Kafka: a crash in between makes the replay produce them again (downstream is
    # idempotent), where recording first would make the replay skip outputs that were never sent.

    @app.agent(mail_messages)
    async def derive(stream: StreamT[bytes]) -> AsyncIterator[int]:
        """New messages -> interactions; copies already seen are dropped."""
        async for batch in stream_batches(stream):
            delivery, derived = BatchDelivery(app, failures), 0
            new: dict[str, EventT[bytes]] = {}
            noted: list[tuple[EventT[bytes], str, str]] = []  # (event, tenant, dedupe key)
            for event in batch:
                message = await decoded(delivery, event, MailMessage.from_dict, "derive")
                if message is None:
                    continue
                dedupe = f"{message.tenant}|{message.dedupe_key}"
                noted.append((event, message.tenant, dedupe))
                if dedupe not in new and not seen_messages[dedupe]:
                    new[dedupe] = event
                    found = derive_interactions(message, tenants.model(message.tenant))
                    await send_interactions(delivery, found)
                    derived += len(found)
            await delivery.settle()
            counts = BatchCounts(app.consumer_generation_id)
            for event, tenant, dedupe in noted:
                is_new = new.get(dedupe) is event
                if is_new:
                    make_current(event)
                    seen_messages[dedupe] = event.message.partition + 1
                counts.note(event.message.partition, tenant, "messages", message_counts, is_new)
            await send_counts(delivery, counts)
            await delivery.settle()  # before the batch is acked (when the next one is asked for)
            yield derived

    @app.agent(calendar_events)
    async def meet(stream: StreamT[bytes]) -> AsyncIterator[int]:
        """Meeting occurrences -> meeting interactions; updates and cancellations replace."""
        async for batch in stream_batches(stream):
            delivery, derived = BatchDelivery(app, failures), 0
            planned: dict[str, tuple[EventT[bytes], dict[str, Any]]] = {}
            noted: list[tuple[EventT[bytes], str, bool]] = []  # (event, tenant, new meeting)
            for event in batch:
                meeting = await decoded(delivery, event, CalendarEvent.from_dict, "meet")
                if meeting is None:
                    continue
                key = f"{meeting.tenant}|{meeting.key}"
                previous = planned[key][1] if key in planned else meeting_states.get(key)
                state, found = plan_meeting(previous, meeting, tenants.model(meeting.tenant))
                if state is not None:
                    planned[key] = (event, {**state, "partition": event.message.partition})
                noted.append((event, meeting.tenant, previous is None))
                await send_interactions(delivery, found)
                derived += len(found)
            await delivery.settle()
            for key, (event, state) in planned.items():
                make_current(event)
                meeting_states[key] = state
            counts = BatchCounts(app.consumer_generation_id)
            for event, tenant, is_new in noted:
                counts.note(event.message.partition, tenant, "meetings", meeting_counts, is_new)
            await send_counts(delivery, counts)
            await delivery.settle()
            yield derived

    ties = TieCache(tie_states)

    @app.agent(interactions)
    async def aggregate(stream: StreamT[bytes]) -> AsyncIterator[int]:
        """Interactions -> the tie of their pair, and its new absolute state downstream (once per
        tie per batch)."""
        async for batch in stream_batches(stream):
            delivery = BatchDelivery(app, failures)
            keyed: list[tuple[str, Interaction]] = []
            event_of: dict[str, EventT[bytes]] = {}  # a key's events all come from one partition
            for event in batch:
                interaction = await decoded(delivery, event, Interaction.from_dict, "aggregate")
                if interaction is not None:
                    key = cast(bytes, event.key).decode()
                    keyed.append((key, interaction))
                    event_of[key] = event
            loaded = ties.for_batch((key for key, _ in keyed), app.consumer_generation_id)
            changed = apply_interactions(loaded, keyed, tenants.model)
            updates = {key: loaded[key].to_update() for key in changed}
            try:
                for key, update in updates.items():
                    await send(delivery, tie_updates, key.encode(), update)
                await delivery.settle()
                for key, update in updates.items():
                    make_current(event_of[key])
                    tie_states[key] = loaded[key].to_state(update)
                await delivery.settle()
            except BaseException:
                ties.forget()  # the cache may be ahead of what reached Kafka: re-read the table
                raise
            yield len(changed)

    async def load_tenants() -> None:
        try:
            tenants.replace(await graph.tenants())
        except GraphUnavailable as exc:
            log.warning("cannot refresh tenants: %s", exc)

    @app.agent(tie_updates)
    async def write_ties(stream: StreamT[bytes]) -> AsyncIterator[int]:
        """Tie updates -> Neo4j, one UNWIND statement per batch."""
        async for batch in app.ack_gate.batches(
            batches(stream).take_events(settings.graph_batch_size, within=settings.graph_batch_seconds)
        ):
            updates = latest_per_key(batch)
            if not all(tenants.knows(u["tenant"]) for u in updates):
                await load_tenants()  # a tenant created since the last refresh: learn its domains
            # A fixed order takes node locks in one order, so concurrent writers rarely deadlock.
            updates.sort(key=lambda u: (u["tenant"], u["a"], u["b"]))
            rows = [{**tie_row(u, tenants.domains(u["tenant"])), "offset": u["offset"]} for u in updates]
            await write_until_done(graph.write_ties, rows, watch.reset)
            yield len(rows)

    @app.agent(counters)
    async def write_counters(stream: StreamT[bytes]) -> AsyncIterator[int]:
        async for batch in app.ack_gate.batches(
            batches(stream).take_events(settings.graph_batch_size, within=settings.graph_batch_seconds)
        ):
            rows = latest_per_key(batch)
            await write_until_done(graph.write_counters, rows, watch.reset)
            yield len(rows)

    @app.agent(dead_letters)
    async def count_dead_letters(stream: StreamT[bytes]) -> AsyncIterator[None]:
        async for batch in stream_batches(stream):
            delivery, counts = BatchDelivery(app, failures), BatchCounts(app.consumer_generation_id)
            for event in batch:
                key = (event.key or b"").decode("utf-8", "replace")
                new_key = not dead_letter_keys[key]  # the same reject imported twice is one dead letter
                if new_key:
                    make_current(event)
                    dead_letter_keys[key] = event.message.partition + 1
                counts.note(
                    event.message.partition, tenant_of_key(event.key), "dead_letters", dead_letter_counts, new_key
                )
            await send_counts(delivery, counts)
            await delivery.settle()
            yield None

    @app.timer(interval=10.0)  # type: ignore[untyped-decorator]  # mode's decorators carry no types
    async def refresh_tenants() -> None:
        await load_tenants()

    watch = StallWatch(settings.stall_seconds)
    source_topics = names.all()

    @app.timer(interval=5.0)  # type: ignore[untyped-decorator]
    async def watch_for_stalls() -> None:
        """Exit for a restart (by the supervisor) if a partition this worker owns stops moving."""
        owned = {(tp.topic, tp.partition) for tp in app.consumer.assignment()}
        try:
            rows = await read_lag(settings.kafka_bootstrap, settings.app_id, source_topics)
        except StreamUnavailable:
            watch.reset()
            return
        stalled = watch.stalled(rows, owned, time.monotonic())
        if stalled:
            where = ", ".join(f"{r.topic}[{r.partition}] at {r.committed} (lag {r.lag})" for r in stalled)
            log.error("no progress for %.0fs on %s: restarting the worker", settings.stall_seconds, where)
            os.kill(os.getpid(), signal.SIGTERM)

    return app
