"""The stream stages' Faust app: from the connectors' records to tie updates (DESIGN.md).

  mail.messages.v1 --derive--> interactions.v1 --aggregate--> tie.updates.v1
  calendar.events.v1 --meet--> interactions.v1
  list.threads.v1 --credit_list_replies--> interactions.v1
  deadletters.v1 --count_dead_letters--> counters.v1

The graph writer (streams/graph_writer.py), a process and consumer group of its own, reads
tie.updates.v1, aliases.v1 and counters.v1 into Neo4j.

Delivery is at-least-once; effects are exactly-once because every stage is idempotent: `derive`
drops copies it has seen, `aggregate` skips interactions a tie already holds (by id), and the
graph writer sets absolute values keyed by pair. Every stage works in batches, and a batch's
outputs are in Kafka before its source offsets can be committed (streams/delivery.py).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any, cast

import faust
from faust.types import EventT, SchemaT, StreamT, TableT

from tiegraph.core.blocklist import drop_blocked, is_blocked
from tiegraph.core.interactions import derive_interactions
from tiegraph.core.list_replies import (
    MAX_PENDING_PER_PARENT,
    Authored,
    ReplyLink,
    credit_parent_author,
    forget_blocked_links,
    thread_record_from_dict,
    thread_records,
)
from tiegraph.core.meetings import plan_meeting
from tiegraph.core.records import CalendarEvent, Interaction, MailMessage
from tiegraph.core.ties import apply_interactions
from tiegraph.graph.neo4j import GraphStore
from tiegraph.settings import Settings
from tiegraph.streams import metrics
from tiegraph.streams import topics as t
from tiegraph.streams.delivery import BatchDelivery, SendFailures, read
from tiegraph.streams.erase import is_erase_command, is_forget_authors_command
from tiegraph.streams.faust_app import (
    DeadLetters,
    new_app,
    pipeline_topic,
    refresh_tenants,
    tenant_of_key,
    watch_for_stalls,
    write_heartbeats,
)
from tiegraph.streams.intake import take_batches
from tiegraph.streams.state import BatchCounts, DistinctCounts, TieCache, scan_items, tie_records
from tiegraph.streams.tenants import TenantDirectory
from tiegraph.streams.watchdog import StallWatch

log = logging.getLogger(__name__)


def _authored(key: str, stored: dict[str, str] | None) -> Authored | None:
    """A list message's author as the join table keeps it (key: tenant|Message-ID)."""
    if stored is None:
        return None
    tenant, _, message_id = key.partition("|")
    return Authored(tenant, message_id, stored["author"], stored.get("name", ""))


def rocksdb_options(settings: Settings) -> dict[str, int]:
    """Memory bounds for the RocksDB store. Faust opens a database per table and partition, each
    with a 2 GiB block cache and three 64 MiB write buffers by default: unbounded in practice.
    `rocksdb_memory_mb` is split over the worst case, one worker holding every partition."""
    per_database = settings.rocksdb_memory_mb * 1024**2 // (len(t.TABLES) * settings.topic_partitions)
    return {
        "block_cache_size": per_database // 2,
        "write_buffer_size": per_database // 4,
        "max_write_buffer_number": 2,
    }


def create_app(settings: Settings, graph: GraphStore, tenants: TenantDirectory) -> faust.App:
    """Build the stream stages' Faust app with its topics, tables and agents."""
    app = new_app(settings, settings.app_id, web=True)
    names = t.TopicNames(settings.topic_prefix)

    def topic(name: str) -> faust.TopicT:
        return pipeline_topic(app, settings, name)

    mail_messages, calendar_events, interactions = (
        topic(t.MAIL_MESSAGES),
        topic(t.CALENDAR_EVENTS),
        topic(t.INTERACTIONS),
    )
    tie_updates, counters, dead_letters = topic(t.TIE_UPDATES), topic(t.COUNTERS), topic(t.DEAD_LETTERS)
    list_threads = topic(t.LIST_THREADS)

    # Values: Faust's json codec, orjson underneath. Keys: stdlib bytes (topics.py, _StdlibJsonKeys).
    json_schema: SchemaT[Any, Any] = faust.Schema(key_serializer=t.TABLE_KEYS, value_serializer="json")

    def table(name: str, default: Any) -> TableT[str, Any]:
        # options: a dict of its own per table, as Faust pops keys out of it
        created = app.Table(name, default=default, schema=json_schema, options=rocksdb_options(settings))
        # Faust writes changelog keys with the table's own serializer, which it derives from the
        # key type ("json": orjson bytes), not from the schema: set it, or the stdlib key bytes
        # (topics.py) would be a promise the changelogs do not keep.
        cast(Any, created).key_serializer = t.TABLE_KEYS  # an attribute of faust.Table, not of TableT
        return created

    # Keyed sets (value: source partition + 1); the counts are derived from them, never kept apart.
    seen_messages = table("seen_messages", int)
    dead_letter_keys = table("dead_letter_keys", int)
    tie_states = table("tie_states", None)
    tie_applied = table("tie_applied", None)  # pair key|period -> a spilled tie's ids (core/ties.py)
    meeting_states = table("meeting_states", None)
    message_authors = table("message_authors", None)  # tenant|Message-ID of a list message -> its author
    pending_replies = table("pending_replies", None)  # tenant|parent Message-ID -> list replies waiting for it
    message_counts = DistinctCounts(seen_messages, lambda v: v - 1)
    dead_letter_counts = DistinctCounts(dead_letter_keys, lambda v: v - 1)
    meeting_counts = DistinctCounts(meeting_states, lambda v: v["partition"])

    failures = SendFailures()
    app.sensors.add(failures)
    rejects = DeadLetters(dead_letters.get_topic_name())

    async def stream_batches(stream: StreamT[bytes], stage: str) -> AsyncIterator[Sequence[EventT[bytes]]]:
        """The stage's batches, each acked when the agent asks for the next (streams/intake.py)."""
        async for batch in take_batches(app, stream, settings.stream_batch_size, settings.stream_batch_seconds):
            metrics.count_processed(stage, len(batch))
            yield batch

    def send(
        delivery: BatchDelivery,
        topic_: faust.TopicT,
        key: bytes | None,
        value: dict[str, Any] | None,
        partition: int | None = None,
    ) -> None:
        """Send one record (None: a tombstone) as part of the batch `delivery` settles, to
        `partition` or the key's."""
        delivery.send(topic_.get_topic_name(), key, None if value is None else t.encode(value), partition)

    async def batch_counts(distinct: DistinctCounts) -> BatchCounts:
        """A batch's counts of `distinct`, counted from its table first if this consumer generation
        has not (the batch's new keys reach the table only when it settles, after being noted)."""
        generation = app.consumer_generation_id
        await distinct.prime(generation)
        return BatchCounts(generation)

    def send_counts(delivery: BatchDelivery, counts: BatchCounts) -> None:
        for key, row in counts.rows.items():
            send(delivery, counters, key, row)

    def send_interactions(delivery: BatchDelivery, found: list[Interaction], source: EventT[bytes]) -> None:
        """Send interactions stamped with when their source record entered Kafka (freshness);
        none with a blocked address (core/blocklist.py)."""
        origin_ms = int(source.message.timestamp * 1000)
        for interaction in drop_blocked(found, tenants.blocked(found[0].tenant) if found else ()):
            key = t.pair_key(interaction.tenant, interaction.a, interaction.b)
            send(delivery, interactions, key, {**interaction.to_dict(), "origin_ms": origin_ms})

    # Each stage records its state (seen messages, meetings, ties) only after the batch's outputs
    # are in Kafka: a crash in between makes the replay produce them again (downstream is
    # idempotent), where recording first would make the replay skip outputs that were never sent.

    @app.agent(mail_messages)
    async def derive(stream: StreamT[bytes]) -> AsyncIterator[int]:
        """New messages -> interactions; copies already seen are dropped."""
        async for batch in stream_batches(stream, "derive"):
            delivery, derived = BatchDelivery(app, failures), 0
            new: dict[str, EventT[bytes]] = {}
            noted: list[tuple[EventT[bytes], str, str]] = []  # (event, tenant, dedupe key)
            for event in batch:
                message = rejects.decoded(delivery, event, MailMessage.from_dict, "derive")
                if message is None:
                    continue
                dedupe = f"{message.tenant}|{message.dedupe_key}"
                noted.append((event, message.tenant, dedupe))
                if dedupe not in new and not read(seen_messages, dedupe, event):
                    new[dedupe] = event
                    found = derive_interactions(message, tenants.model(message.tenant))
                    send_interactions(delivery, found, event)
                    derived += len(found)
                    for record in thread_records(message, tenants.blocked(message.tenant)):
                        if record is not None:
                            joined_on = record.message_id if isinstance(record, Authored) else record.parent_id
                            send(delivery, list_threads, t.thread_key(record.tenant, joined_on), record.to_dict())
            await delivery.settle()
            counts = await batch_counts(message_counts)
            for event, tenant, dedupe in noted:
                is_new = new.get(dedupe) is event
                if is_new:
                    delivery.write(seen_messages, dedupe, event.message.partition + 1, event)
                counts.note(event.message.partition, tenant, "messages", message_counts, is_new)
            send_counts(delivery, counts)
            await delivery.settle()  # before the batch is acked (when the next one is asked for)
            yield derived

    @app.agent(calendar_events)
    async def meet(stream: StreamT[bytes]) -> AsyncIterator[int]:
        """Meeting occurrences -> meeting interactions; updates and cancellations replace."""
        async for batch in stream_batches(stream, "meet"):
            delivery, derived = BatchDelivery(app, failures), 0
            planned: dict[str, tuple[EventT[bytes], dict[str, Any]]] = {}
            noted: list[tuple[EventT[bytes], str, bool]] = []  # (event, tenant, new meeting)
            for event in batch:
                meeting = rejects.decoded(delivery, event, CalendarEvent.from_dict, "meet")
                if meeting is None:
                    continue
                key = f"{meeting.tenant}|{meeting.key}"
                previous = planned[key][1] if key in planned else read(meeting_states, key, event)
                state, found = plan_meeting(previous, meeting, tenants.model(meeting.tenant))
                if state is not None:
                    planned[key] = (event, {**state, "partition": event.message.partition})
                noted.append((event, meeting.tenant, previous is None))
                send_interactions(delivery, found, event)
                derived += len(found)
            await delivery.settle()
            for key, (event, state) in planned.items():
                delivery.write(meeting_states, key, state, event)
            counts = await batch_counts(meeting_counts)
            for event, tenant, is_new in noted:
                counts.note(event.message.partition, tenant, "meetings", meeting_counts, is_new)
            send_counts(delivery, counts)
            await delivery.settle()
            yield derived

    ties = TieCache(tie_states, tie_applied)

    @app.agent(interactions)
    async def aggregate(stream: StreamT[bytes]) -> AsyncIterator[int]:
        """Interactions -> the tie of their pair, and its new absolute state downstream (once per
        tie per batch). An erase command (streams/erase.py) forgets the pair's tie: its table
        entries and, by a tombstone, its record on the compacted tie.updates.v1 and its edge in the
        graph. A tie past `tie_inline_ids` ids keeps them per period in `tie_applied`."""
        async for batch in stream_batches(stream, "aggregate"):
            delivery = BatchDelivery(app, failures)
            keyed: list[tuple[str, Interaction, int | None]] = []
            event_of: dict[str, EventT[bytes]] = {}  # a key's events all come from one partition
            erased: dict[str, EventT[bytes]] = {}
            for event in batch:
                key = cast(bytes, event.key).decode()
                event_of[key] = event
                if is_erase_command(event.value):
                    erased[key] = event
                    keyed = [item for item in keyed if item[0] != key]  # what came before is erased too
                    continue
                interaction = rejects.decoded(delivery, event, Interaction.from_dict, "aggregate")
                if interaction is not None and drop_blocked([interaction], tenants.blocked(interaction.tenant)):
                    # a blocked one may have been sent before the block
                    keyed.append((key, interaction, event.message.offset))
            sources = {key: event_of[key] for key, _, _ in keyed if key not in erased}
            loaded = ties.for_batch(sources, app.consumer_generation_id)
            erased_applied = await ties.erase(erased.keys())  # interactions after the erase start a new tie
            changed = apply_interactions(loaded, keyed, tenants.model)
            updates = {key: loaded[key].to_update() for key in changed}
            try:
                # A tie update goes to its pair's partition of interactions.v1, keyed by the same
                # bytes: the key's murmur2 again, in Python, was 2.6 % of the worker at 1M ties.
                for key in erased:
                    send(delivery, tie_updates, key.encode(), None, erased[key].message.partition)
                for key, update in updates.items():
                    send(delivery, tie_updates, key.encode(), update, event_of[key].message.partition)
                await delivery.settle()
                for key in erased.keys() - updates.keys():
                    delivery.write(tie_states, key, None, erased[key])
                for stored, pair in erased_applied.items():
                    delivery.write(tie_applied, stored, None, erased[pair])
                for key, update in updates.items():
                    state, spilled = tie_records(key, loaded[key], update, settings.tie_inline_ids)
                    delivery.write(tie_states, key, state, event_of[key])
                    for period_key, ids in spilled:
                        delivery.write(tie_applied, period_key, ids, event_of[key])
                await delivery.settle()
                for key in updates:
                    loaded[key].mark_stored()
                ties.trim(settings.tie_cache_size)
            except BaseException:
                ties.forget()  # the cache may be ahead of what reached Kafka: re-read the table
                raise
            yield len(changed) + len(erased)

    @app.agent(list_threads)
    async def credit_list_replies(stream: StreamT[bytes]) -> AsyncIterator[int]:
        """List replies sent only to the list -> a reply to the parent's author: a join on the
        parent's Message-ID, completed by whichever of parent and reply arrives second."""
        async for batch in stream_batches(stream, "list_replies"):
            delivery, credited = BatchDelivery(app, failures), 0
            authors: dict[str, tuple[EventT[bytes], Authored]] = {}  # learned in this batch
            waiting: dict[str, tuple[EventT[bytes], list[dict[str, Any]]]] = {}  # new pending lists
            forget: list[EventT[bytes]] = []  # forget-authors commands (streams/erase.py)
            for event in batch:
                if is_forget_authors_command(event.value):
                    forget.append(event)
                    continue
                record = rejects.decoded(delivery, event, thread_record_from_dict, "list_replies")
                if record is None:
                    continue
                key = cast(bytes, event.key).decode()
                known = authors[key][1] if key in authors else _authored(key, read(message_authors, key, event))
                links = waiting[key][1] if key in waiting else list(read(pending_replies, key, event) or [])
                if is_blocked(record.author, tenants.blocked(record.tenant)):
                    continue  # sent before the author was blocked: never stored
                if isinstance(record, Authored):
                    if known is not None:
                        continue  # another copy of a message already known
                    authors[key] = (event, record)
                    replies = [thread_record_from_dict(link) for link in links]
                    waiting[key] = (event, [])
                    parent = record
                elif known is not None:
                    replies, parent = [record], known
                else:
                    if len(links) < MAX_PENDING_PER_PARENT and all(x["source"] != record.source for x in links):
                        waiting[key] = (event, [*links, record.to_dict()])
                    continue
                model = tenants.model(parent.tenant)
                found = [
                    i for r in replies if isinstance(r, ReplyLink) if (i := credit_parent_author(r, parent, model))
                ]
                send_interactions(delivery, found, event)
                credited += len(found)
            await delivery.settle()
            for key, (event, author) in authors.items():
                delivery.write(message_authors, key, {"author": author.author, "name": author.name}, event)
            for key, (event, pending) in waiting.items():
                if pending or read(pending_replies, key, event) is not None:
                    delivery.write(pending_replies, key, pending or None, event)
            await delivery.settle()
            for event in forget:  # after this batch's writes (they may name the person too), one at a time
                await forget_list_authors(delivery, event)
                await delivery.settle()
            yield credited

    async def forget_list_authors(delivery: BatchDelivery, command: EventT[bytes]) -> None:
        """Delete the join entries of the command's partition that name a blocked address or
        domain: authors, and waiting replies by or to them. A full scan of this worker's part of
        the two tables: Message-IDs are the keys, and nobody knows which ones a person wrote."""
        body = t.decode(command.value)
        tenant, blocked, partition = body["tenant"], (body["entry"],), command.message.partition
        prefix = f"{tenant}|"

        def here(key: str) -> bool:  # the tables also hold standby copies of other partitions
            return key.startswith(prefix) and t.key_partition(key.encode(), settings.topic_partitions) == partition

        authors = [k async for k, v in scan_items(message_authors) if here(k) and is_blocked(v["author"], blocked)]
        for key in authors:
            delivery.write(message_authors, key, None, command)  # to this partition's changelog
        rewritten = 0
        async for key, links in scan_items(pending_replies):
            if not here(key):
                continue
            kept = forget_blocked_links(links, blocked)
            if kept == links:
                continue
            rewritten += 1
            delivery.write(pending_replies, key, kept or None, command)
        log.info("forgot %d list authors and %d waiting reply lists of %s", len(authors), rewritten, tenant)

    @app.agent(dead_letters)
    async def count_dead_letters(stream: StreamT[bytes]) -> AsyncIterator[None]:
        async for batch in stream_batches(stream, "dead_letters"):
            delivery, counts = BatchDelivery(app, failures), await batch_counts(dead_letter_counts)
            new_keys: set[str] = set()  # stored when the batch settles
            for event in batch:
                key = (event.key or b"").decode("utf-8", "replace")
                # the same reject imported twice is one dead letter
                new_key = key not in new_keys and not read(dead_letter_keys, key, event)
                if new_key:
                    new_keys.add(key)
                    delivery.write(dead_letter_keys, key, event.message.partition + 1, event)
                counts.note(
                    event.message.partition, tenant_of_key(event.key), "dead_letters", dead_letter_counts, new_key
                )
            send_counts(delivery, counts)
            await delivery.settle()
            yield None

    refresh_tenants(app, graph, tenants)
    watch_for_stalls(app, settings, names.read_by(writer=False), StallWatch(settings.stall_seconds))
    write_heartbeats(app, settings, graph, metrics.STREAM_STAGES)
    return app
