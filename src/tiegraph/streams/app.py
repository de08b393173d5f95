"""The Faust application: three stages between the topics of DESIGN.md.

  mail.messages.v1 --derive--> interactions.v1 --aggregate--> tie.updates.v1 --write--> Neo4j

Delivery is at-least-once; effects are exactly-once because every stage is idempotent: `derive`
drops copies it has seen, `aggregate` skips interactions a tie already holds (by id), and the
graph writer sets absolute values keyed by pair.
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

from tiegraph.core.blocklist import drop_blocked
from tiegraph.core.interactions import derive_interactions
from tiegraph.core.meetings import plan_meeting
from tiegraph.core.records import CalendarEvent, DeadLetter, Interaction, MailMessage
from tiegraph.core.ties import Tie, apply_interaction
from tiegraph.errors import GraphUnavailable, StreamUnavailable
from tiegraph.graph.neo4j import GraphStore, tie_row
from tiegraph.settings import Settings
from tiegraph.streams import topics as t
from tiegraph.streams.erase import is_erase_command, split_deletions
from tiegraph.streams.lag import read_lag
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
    """The last value of each key in a batch: an older update of the same tie is superseded."""
    latest: dict[bytes, dict[str, Any]] = {}
    for event in events:
        latest[cast(bytes, event.key)] = t.decode(event.value)
    return list(latest.values())


class DistinctCounts:
    """Keys per (tenant, source partition) of a changelogged table, counted from the table itself:
    after a crash the table is restored from its changelog and the count can never disagree
    with the keys it counts. Recounted after each rebalance, then kept up to date."""

    def __init__(self, table: TableT[str, Any], partition_of: Callable[[Any], int]) -> None:
        self._table, self._partition_of = table, partition_of
        self._counts: dict[tuple[str, int], int] = {}
        self._generation: object = None

    def current(self, tenant: str, partition: int, generation: object, new_key: bool) -> int:
        """The count of `tenant`'s keys from `partition`, after writing a new key if `new_key`."""
        if generation != self._generation:
            self._counts.clear()
            self._generation = generation
        slot = (tenant, partition)
        if slot in self._counts:
            self._counts[slot] += 1 if new_key else 0
        else:
            prefix = f"{tenant}|"
            self._counts[slot] = sum(
                1 for k, v in self._table.items() if k.startswith(prefix) and self._partition_of(v) == partition
            )
        return self._counts[slot]


def batches(stream: StreamT[bytes]) -> Stream[bytes]:
    """The concrete stream: `take_events` is missing from Faust's StreamT interface."""
    return cast(Stream[bytes], stream)


def tenant_of_key(key: bytes | None) -> str:
    return (key or b"").split(b"|", 1)[0].decode("utf-8", "replace")


def create_app(settings: Settings, graph: GraphStore, tenants: TenantDirectory) -> faust.App:
    """Build the worker's Faust app with its topics, tables and agents."""
    names = t.TopicNames(settings.topic_prefix)
    app = faust.App(
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

    async def publish_count(
        event: EventT[bytes], tenant: str, name: str, counts: DistinctCounts, new_key: bool = True
    ) -> None:
        """Absolute count per (tenant, source partition): one owner each; the graph sums them.
        Published for duplicates too: a count sent just before a crash may never have arrived."""
        partition = event.message.partition
        value = counts.current(tenant, partition, app.consumer_generation_id, new_key)
        row = {"tenant": tenant, "name": name, "partition": partition, "value": value}
        await counters.send(key=f"{tenant}|{name}|{partition}".encode(), value=t.encode(row))

    async def dead_letter(event: EventT[bytes], stage: str, reason: str) -> None:
        letter = DeadLetter(
            tenant=tenant_of_key(event.key),
            stage=stage,
            source=f"{event.message.topic}@{event.message.partition}:{event.message.offset}",
            reason=reason,
        )
        await dead_letters.send(key=event.key, value=t.encode(letter.to_dict()))

    async def decoded(event: EventT[bytes], parse: Callable[[dict[str, Any]], R], stage: str) -> R | None:
        """The event's record, or None after sending it to the dead letters with the reason."""
        try:
            return parse(t.decode(event.value))
        except (ValueError, KeyError, TypeError) as exc:
            await dead_letter(event, stage, f"undecodable record: {exc}")
            return None

    async def send_interactions(found: list[Interaction]) -> None:
        for interaction in drop_blocked(found, tenants.blocked(found[0].tenant) if found else ()):
            await interactions.send(
                key=t.pair_key(interaction.tenant, interaction.a, interaction.b),
                value=t.encode(interaction.to_dict()),
            )

    @app.agent(mail_messages)
    async def derive(stream: StreamT[bytes]) -> AsyncIterator[int]:
        """New messages -> interactions; copies already seen are dropped."""
        async for event in stream.events():
            message = await decoded(event, MailMessage.from_dict, "derive")
            if message is None:
                yield 0
                continue
            dedupe = f"{message.tenant}|{message.dedupe_key}"
            if seen_messages[dedupe]:
                await publish_count(event, message.tenant, "messages", message_counts, new_key=False)
                yield 0
                continue
            seen_messages[dedupe] = event.message.partition + 1
            await publish_count(event, message.tenant, "messages", message_counts)
            found = derive_interactions(message, tenants.model(message.tenant))
            await send_interactions(found)
            yield len(found)

    @app.agent(calendar_events)
    async def meet(stream: StreamT[bytes]) -> AsyncIterator[int]:
        """Meeting occurrences -> meeting interactions; updates and cancellations replace."""
        async for event in stream.events():
            meeting = await decoded(event, CalendarEvent.from_dict, "meet")
            if meeting is None:
                yield 0
                continue
            key = f"{meeting.tenant}|{meeting.key}"
            previous = meeting_states.get(key)
            state, found = plan_meeting(previous, meeting, tenants.model(meeting.tenant))
            if state is not None:
                meeting_states[key] = {**state, "partition": event.message.partition}
            await publish_count(event, meeting.tenant, "meetings", meeting_counts, new_key=previous is None)
            await send_interactions(found)
            yield len(found)

    @app.agent(interactions)
    async def aggregate(stream: StreamT[bytes]) -> AsyncIterator[bool]:
        """Interactions -> the tie of their pair, and its new absolute state downstream."""
        async for event in stream.events():
            if is_erase_command(event.value):  # streams/erase.py: forget the pair's tie
                tie_states.pop(event.key.decode(), None)
                await tie_updates.send(key=event.key, value=None)
                yield True
                continue
            interaction = await decoded(event, Interaction.from_dict, "aggregate")
            if interaction is None:
                yield False
                continue
            key = event.key.decode()
            state = tie_states.get(key)
            a, b = interaction.pair
            tie = Tie.from_state(state) if state else Tie.for_pair(interaction.tenant, a, b)
            changed = apply_interaction(tie, interaction, tenants.model(interaction.tenant))
            if changed:
                update = tie.to_update()
                tie_states[key] = tie.to_state(update)
                await tie_updates.send(key=event.key, value=t.encode(update))
            yield changed

    async def load_tenants() -> None:
        try:
            tenants.replace(await graph.tenants())
            tenants.replace_blocklists(await graph.all_blocklists())
        except GraphUnavailable as exc:
            log.warning("cannot refresh tenants: %s", exc)

    @app.agent(tie_updates)
    async def write_ties(stream: StreamT[bytes]) -> AsyncIterator[int]:
        """Tie updates -> Neo4j, one UNWIND statement per batch."""
        async for batch in batches(stream).take_events(settings.graph_batch_size, within=settings.graph_batch_seconds):
            updates, deletions = split_deletions([(cast(bytes, e.key), e.value) for e in batch])
            if deletions:
                await write_until_done(graph.delete_ties, deletions, watch.reset)
            if not all(tenants.knows(u["tenant"]) for u in updates):
                await load_tenants()  # a tenant created since the last refresh: learn its domains
            # A fixed order takes node locks in one order, so concurrent writers rarely deadlock.
            updates.sort(key=lambda u: (u["tenant"], u["a"], u["b"]))
            rows = [tie_row(u, tenants.domains(u["tenant"])) for u in updates]
            await write_until_done(graph.write_ties, rows, watch.reset)
            yield len(rows)

    @app.agent(counters)
    async def write_counters(stream: StreamT[bytes]) -> AsyncIterator[int]:
        async for batch in batches(stream).take_events(settings.graph_batch_size, within=settings.graph_batch_seconds):
            rows = latest_per_key(batch)
            await write_until_done(graph.write_counters, rows, watch.reset)
            yield len(rows)

    @app.agent(dead_letters)
    async def count_dead_letters(stream: StreamT[bytes]) -> AsyncIterator[None]:
        async for event in stream.events():
            key = (event.key or b"").decode("utf-8", "replace")
            new_key = not dead_letter_keys[key]  # the same reject imported twice is one dead letter
            if new_key:
                dead_letter_keys[key] = event.message.partition + 1
            await publish_count(event, tenant_of_key(event.key), "dead_letters", dead_letter_counts, new_key)
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
