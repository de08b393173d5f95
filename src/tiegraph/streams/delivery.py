"""Guarantees Faust does not give by itself, needed for "nothing lost after a SIGKILL".

1. A batch's source offsets are acked only after everything it produced is in Kafka.
   `await topic.send()` only enqueues (faust/topics.py, `publish_message`), table writes go to
   `ProducerBuffer.put`, and the commit's `producer.flush()` gives up after 0.1 s without
   progress (transport/producer.py, `flush_atmost`): offsets could be committed ahead of the
   output and changelog records, and a SIGKILL then lost them. `BatchDelivery.settle` sends the
   batch's records and waits for them, drains the table buffer and flushes the Kafka producer,
   and raises if any send failed (failed changelog sends are otherwise only logged: topics.py,
   `_on_published`).
2. A record fetched before a rebalance and delivered after it is skipped by the stream *and
   acked* (faust/streams.py, `_py_aiter`, "ack the filtered out message"), so the commit could
   pass records nobody processed. `refuse_stale_acks` makes the consumer ignore acks of records
   from an older consumer generation; after the rebalance Faust seeks every assigned partition to
   its committed offset, so those records are fetched again and processed (stages are idempotent).
3. A fetch that straddles the seek after an assignment makes Faust's `_drain_messages` see a jump
   from the committed offset to the records fetched before the seek, and record the offsets in
   between as a "gap" (transport/consumer.py, `_add_gap`), which `_new_offset` treats as acked:
   the next commit passed ~30 records per partition nobody processed (reproduced with a worker
   SIGKILLed under steady load and a 30 s session timeout; the soak lost 96 messages this way).
   `fence_seeks` removes the cause: records of a fetch that was under way when a seek of their
   partition started or finished are dropped before Faust sees them, and the partition is sought
   again to where the seek put it (or, if nothing was committed and the seek left it, to the first
   dropped record): at once, or when a seek still under way ends, since the fetch may have read
   from the new position and moved it on (a seek sets the position before it returns). Real gaps
   exist only in compacted topics and around transaction markers; `refuse_false_gaps` stays as
   a second line on the pipeline's other topics: a false gap there is ignored, so the commit
   waits (the stall watchdog restarts the worker if it must).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import random
import signal
import weakref
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple, cast

import faust
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from faust.serializers import codecs
from faust.streams import _current_event
from faust.types import TP, AppT, ConsumerT, EventT, Message, ProducerT, StoreT, TableT
from faust.types.codecs import CodecT

from tiegraph.errors import StreamUnavailable
from tiegraph.streams.intake import deliver_without_tasks, let_go
from tiegraph.streams.topics import key_partition

log = logging.getLogger(__name__)


class SendFailures(faust.Sensor):
    """Counts producer send errors, including those of table changelog records."""

    def __init__(self) -> None:
        super().__init__()
        self.errors: list[BaseException] = []

    def on_send_error(self, producer: Any, exc: BaseException, state: Any) -> None:
        self.errors.append(exc)


Record = tuple[bytes | None, bytes | None, int | None]  # key, value (None: a tombstone), partition


class BatchDelivery:
    """One batch's output records and pending sends; `settle()` returns once all are in Kafka.

    Records go out in aiokafka batches, one per topic partition (`send_batch`), not one Faust
    `topic.send` each: per-record sends through Faust (future, sensors, partitioner, accumulator)
    were the largest single cost of the worker (bench/HISTORY.md). Partitions follow Kafka's
    default partitioner, as Faust's sends did, so keys and tables stay co-partitioned."""

    def __init__(self, app: AppT, failures: SendFailures) -> None:
        self._app, self._failures = app, failures
        self._records: dict[str, list[Record]] = defaultdict(list)
        # table writes to apply: (changelog topic, table, key, value, source event)
        self._stored: list[tuple[str, TableT[Any, Any], Any, Any, EventT[Any]]] = []

    def send(self, topic: str, key: bytes | None, value: bytes | None, partition: int | None = None) -> None:
        """Queue a record (value None: a tombstone) for `partition`, or the key's partition; it
        leaves at the next `settle()`, in order with the batch's other records of its partition."""
        self._records[topic].append((key, value, partition))

    def write(self, table: TableT[Any, Any], key: Any, value: Any, source: EventT[Any]) -> None:
        """Set a table entry (value None: delete it) once its changelog record, queued here for the
        source event's partition, is in Kafka (`settle`). Faust sends one changelog record at a
        time (`ProducerBuffer`); this is the same record, in the batch's send.

        Not before: the RocksDB store keeps its files across a SIGKILL, and an entry stored ahead
        of its changelog record would survive a crash that lost the record. The replay finds the
        state already holding what it replays, writes nothing, and the changelog keeps the old
        state for good: a worker that later restores the partition from it counts less. (The
        memory store is rebuilt from the changelog at every start and never had that problem.)"""
        serializers = cast(Any, table)  # Faust's Table has them, TableT not
        key_bytes = _codec(serializers.key_serializer).dumps(key)
        value_bytes = None if value is None else _codec(serializers.value_serializer).dumps(value)
        changelog = table.changelog_topic.get_topic_name()
        self._stored.append((changelog, table, key, value, source))
        self.send(changelog, key_bytes, value_bytes, source.message.partition)

    async def settle(self) -> None:
        """Send the queued records, wait for them and every table changelog write so far, then
        store the batch's table writes (`write`)."""
        records, self._records = self._records, defaultdict(list)
        sent: list[SentBatch] = []
        producer = self._app.producer
        try:
            for topic, rows in records.items():
                sent.extend(await _send_in_batches(_kafka_producer(producer), topic, rows))
        except KafkaError as exc:
            await asyncio.gather(*(s.future for s in sent), return_exceptions=True)  # settled either way
            raise StreamUnavailable(f"records not delivered to Kafka: {exc!r}") from exc
        results = await asyncio.gather(*(s.future for s in sent), return_exceptions=True)
        while producer.buffer.size:  # table writes: `flush()` stops after 0.1 s without progress
            await producer.buffer.flush()
        await producer.flush()
        failed = [r for r in results if isinstance(r, BaseException)] + self._failures.errors
        self._failures.errors.clear()
        stored, self._stored = self._stored, []
        if failed:
            raise StreamUnavailable(f"{len(failed)} record(s) not delivered to Kafka: {failed[0]!r}")
        stores: dict[str, StoreT[Any, Any]] = {}  # by changelog topic
        for changelog, table, key, value, source in stored:
            make_current(source)  # a store may check that a write happens for an event (RocksDB does)
            if value is None:
                if key in table.data:
                    del table.data[key]
            else:
                table.data[key] = value
            stores[changelog] = cast(StoreT[Any, Any], table.data)
        for tp, offset in held_offsets(sent, results, stores).items():
            stores[tp.topic].set_persisted_offset(tp, offset)


@functools.cache
def _codec(name: str) -> CodecT:
    """The codec Faust's serializer registry would end at for a table's plain (non-model) keys and
    values, looked up once: the registry's way there (schema, registry, codec lookup per call)
    cost more than the encoding itself, for every table write."""
    return codecs.get_codec(name)


def _kafka_producer(producer: ProducerT) -> AIOKafkaProducer:
    """The aiokafka producer inside Faust's (started with the app, before any agent runs)."""
    inner = getattr(producer, "_producer", None)
    if not isinstance(inner, AIOKafkaProducer):
        raise StreamUnavailable("the Kafka producer is not running")
    return inner


class SentBatch(NamedTuple):
    """An aiokafka batch on its way: its future gives the offset of its first record (its records'
    offsets are consecutive: no transactions)."""

    topic: str
    records: int
    future: asyncio.Future[Any]


def held_offsets(
    sent: Sequence[SentBatch], results: Sequence[Any], stores: Mapping[str, StoreT[Any, Any]]
) -> dict[TP, int]:
    """The new persisted offset of each changelog partition (`stores`: the table stores by
    changelog topic; other topics are left out) that this batch's records extend without a gap:
    the offset of the last record in the run that starts right after the store's persisted one.

    For the RocksDB store, which Faust tells where a database's changelog stands only for its own
    changelog sends (`Table._on_changelog_sent`): without it a restart replays every record
    written since the table was last restored, millions for a busy worker. Only without a gap: a
    record between the persisted offset and ours was written by another worker (one that took the
    partition while this one was out of the group), and the database does not hold it; the
    offset stays, and the next restore replays it."""
    ranges: dict[TP, list[tuple[int, int]]] = defaultdict(list)
    for batch, result in zip(sent, results, strict=True):
        ranges[TP(batch.topic, result.partition)].append((result.offset, result.offset + batch.records - 1))
    held = {}
    for tp, delivered in ranges.items():
        store = stores.get(tp.topic)
        if store is None:
            continue
        persisted = store.persisted_offset(tp)
        start = last = -1 if persisted is None else persisted
        for first, end in sorted(delivered):
            if first != last + 1:
                break
            last = end
        if last != start:
            held[tp] = last
    return held


async def _send_in_batches(producer: AIOKafkaProducer, topic: str, rows: Sequence[Record]) -> list[SentBatch]:
    """Send `rows` to their partitions of `topic`, as few aiokafka batches as fit."""
    partitions = sorted(await producer.partitions_for(topic))
    by_partition: dict[int, list[tuple[bytes | None, bytes | None]]] = defaultdict(list)
    for key, value, partition in rows:
        if partition is None:  # the default partitioner's choice (keyless: none are sent today)
            partition = (
                partitions[key_partition(key, len(partitions))] if key is not None else random.choice(partitions)
            )
        by_partition[partition].append((key, value))
    sent = []
    for partition, records in by_partition.items():
        batch, count = producer.create_batch(), 0
        for key, value in records:
            if batch.append(key=key, value=value, timestamp=None) is None:  # full: send, start another
                sent.append(SentBatch(topic, count, await producer.send_batch(batch, topic, partition=partition)))
                batch, count = producer.create_batch(), 0
                batch.append(key=key, value=value, timestamp=None)  # an empty batch takes any record
            count += 1
        sent.append(SentBatch(topic, count, await producer.send_batch(batch, topic, partition=partition)))
    return sent


def refuse_stale_acks(consumer: ConsumerT, generation: Callable[[], int], failed: Callable[[], bool]) -> None:
    """Make `consumer` ignore acks of messages fetched under an older consumer generation, and
    every ack once `failed()` (an agent failed a batch: see GuardedApp._on_agent_error)."""
    ack = consumer.ack

    def ack_current_generation(message: Message) -> bool:
        if message.generation_id != generation() or failed():
            let_go(consumer, [message])  # done for the stream, but its offset is not recorded
            return False
        return ack(message)

    # Message.ack calls `consumer.ack(message)`: an instance attribute is found first.
    consumer.ack = ack_current_generation  # type: ignore[method-assign]


def refuse_false_gaps(consumer: ConsumerT, gapless: Callable[[str], bool]) -> None:
    """Make `consumer` ignore gaps Faust detects in topics for which `gapless(topic)` holds
    (neither compacted nor transactional: an offset there is never missing, so a gap is a fetch
    from before a seek, and acking it would commit records nobody processed)."""
    add_gap = consumer._add_gap  # type: ignore[attr-defined]

    async def add_real_gap(tp: Any, offset_from: int, offset_to: int) -> None:
        if gapless(tp.topic):
            log.warning(
                "ignored a gap %s[%d] %d..%d (records fetched across a seek; they are read again)",
                tp.topic,
                tp.partition,
                offset_from,
                offset_to,
            )
            return
        await add_gap(tp, offset_from, offset_to)

    consumer._add_gap = add_real_gap  # type: ignore[attr-defined]


class SeekFence:
    """Tells the records of a fetch that overlapped a seek of their partition from the others.

    Every seek counts twice per partition, when it starts and when it ends: a fetch that began
    before one of those moments and ended after it may hold records from before the seek. Fetches
    run one after another (Faust's fetcher), so only the latest one's counts are kept."""

    def __init__(self) -> None:
        self._seeks: Counter[TP] = Counter()  # seek starts + ends, per partition
        self._ends: Counter[TP] = Counter()
        self._targets: dict[TP, int] = {}  # where the last finished seek put each partition
        self._fetch_began: Counter[TP] = Counter()  # the seek counts when the latest fetch began
        self._deferred: dict[TP, int] = {}  # partition -> first dropped offset, re-sought when its seek ends
        self.dropped = 0

    def seek_started(self, partitions: Iterable[TP]) -> None:
        self._seeks.update(list(partitions))  # a list: a Mapping would add its values

    def seek_ended(self, targets: Mapping[TP, int | None]) -> None:
        self._seeks.update(list(targets))
        self._ends.update(list(targets))
        for tp, offset in targets.items():
            if offset is not None and offset >= 0:
                self._targets[tp] = offset
            else:  # no committed offset: the seek left the position where it was
                self._targets.pop(tp, None)

    def fetch_started(self) -> None:
        self._fetch_began = self._seeks.copy()

    def is_stale(self, tp: TP) -> bool:
        """Whether a record of `tp` from the latest fetch may predate a seek of `tp`."""
        return self._seeks[tp] != self._fetch_began[tp]

    def seeking(self, tp: TP) -> bool:
        """Whether a seek of `tp` has started and not ended."""
        return self._seeks[tp] > 2 * self._ends[tp]

    def target(self, tp: TP) -> int | None:
        """Where the last finished seek put `tp` (None: no committed offset, so it did not move it)."""
        return self._targets.get(tp)

    def defer(self, tp: TP, first_dropped: int) -> None:
        """Seek `tp` again once the seek under way ends."""
        self._deferred.setdefault(tp, first_dropped)

    def take_deferred(self, partitions: Iterable[TP]) -> list[tuple[TP, int]]:
        """The deferred partitions among `partitions` whose seeks have all ended, each with its
        first dropped offset (forgotten here)."""
        return [(tp, self._deferred.pop(tp)) for tp in partitions if tp in self._deferred and not self.seeking(tp)]


def fence_seeks(consumer: ConsumerT, fence: SeekFence) -> None:
    """Make `consumer` drop the records of a fetch that overlapped a seek of their partition (see
    the module docstring, 3.), seeking the partition again where needed so they are read again."""
    get_records = consumer._getmany  # type: ignore[attr-defined]
    iterate_records = consumer.getmany
    seek_to_committed, seek_wait, seek_one = consumer.seek_to_committed, consumer.seek_wait, consumer._seek  # type: ignore[attr-defined]

    async def fetch(active_partitions: Any, timeout: float) -> Any:
        fence.fetch_started()
        return await get_records(active_partitions=active_partitions, timeout=timeout)

    async def seek_again(tp: TP, first_dropped: int) -> str:
        """Seek `tp` where the last seek put it: the dropped records may have come from there and
        moved the position on, and a seek may set the position before it ends. A seek that found
        nothing committed did not move the position: the dropped records were the next ones."""
        target = fence.target(tp)
        offset = first_dropped if target is None else target
        try:
            await consumer.seek(tp, offset)
        except Exception as exc:  # e.g. revoked meanwhile; a skip shows as a stall and restarts the worker
            log.warning("could not seek %s[%d] to %d again: %r", tp.topic, tp.partition, offset, exc)
            return f"could not seek again to offset {offset}"
        return f"reading again from offset {offset}"

    async def fenced_records(timeout: float) -> AsyncIterator[tuple[TP, Message]]:
        dropped_from: set[TP] = set()
        async for tp, message in iterate_records(timeout=timeout):
            if not fence.is_stale(tp):
                yield tp, message
                continue
            fence.dropped += 1
            if tp in dropped_from:
                continue
            dropped_from.add(tp)
            if fence.seeking(tp):
                fence.defer(tp, message.offset)
                then = "reading again when the seek ends"
            else:
                then = await seek_again(tp, message.offset)
            log.warning(
                "dropped records of %s[%d] from offset %d fetched across a seek; %s",
                tp.topic,
                tp.partition,
                message.offset,
                then,
            )

    async def seek_deferred(partitions: Iterable[TP]) -> None:
        for tp, first_dropped in fence.take_deferred(partitions):
            log.warning("%s[%d] after its seek: %s", tp.topic, tp.partition, await seek_again(tp, first_dropped))

    async def fenced_seek_to_committed() -> Mapping[TP, int]:
        # One reading of the assignment for start and end: a rebalance in between would otherwise
        # leave a partition counted as "seeking" for good.
        partitions = set(consumer.assignment())
        fence.seek_started(partitions)
        targets: Mapping[TP, int] = {}
        try:
            targets = await seek_to_committed()
            return targets
        finally:
            fence.seek_ended({tp: None for tp in partitions} | {tp: o for tp, o in targets.items() if tp in partitions})
            await seek_deferred(partitions)

    async def fenced_seek_wait(partitions: Mapping[TP, int]) -> None:
        fence.seek_started(partitions)
        try:
            await seek_wait(partitions)
        finally:
            fence.seek_ended(partitions)
            await seek_deferred(partitions)

    async def fenced_seek(partition: TP, offset: int) -> None:
        fence.seek_started([partition])
        try:
            await seek_one(partition, offset)
        finally:
            fence.seek_ended({partition: offset})
            await seek_deferred([partition])

    # Faust calls these through the instance (the fetcher binds `getmany` when it starts).
    consumer._getmany = fetch  # type: ignore[attr-defined]
    consumer.getmany = fenced_records
    consumer.seek_to_committed = fenced_seek_to_committed  # type: ignore[attr-defined]
    consumer.seek_wait = fenced_seek_wait  # type: ignore[method-assign]
    consumer._seek = fenced_seek  # type: ignore[attr-defined]


def make_current(event: EventT[Any]) -> None:
    """Make `event` the stream's current event: a table write takes its changelog partition from
    it, and `take_batches` (which hands out whole batches) does not set it per event."""
    _current_event.set(weakref.ref(event))


def read(table: TableT[Any, Any], key: Any, source: EventT[Any]) -> Any:
    """`table`'s value for `key` (its default or None if absent), read for the event the key came
    with: the RocksDB store keeps one database per partition and looks in the current event's,
    which `take_batches` does not set per event (another partition's read would miss)."""
    make_current(source)
    return table.get(key)


class GuardedApp(faust.App):
    """The Faust app whose consumer refuses stale acks, fetches across seeks and false gaps (see
    the module docstring)."""

    gapless_topics: frozenset[str] = frozenset()  # full names of topics that never have gaps
    failed_batch = ""  # why an agent failed a batch; from then on nothing is acked

    async def _on_agent_error(self, agent: Any, exc: BaseException) -> None:
        """An agent failed a batch (e.g. its records could not reach Kafka): stop the worker for a
        restart (by the supervisor) that reads the batch again. Faust would restart the agent in
        place on the next records, and a commit could then pass the failed batch's (Faust's
        `_new_offset` lets a one-record hole at the head through), so nothing is acked any more."""
        await super()._on_agent_error(agent, exc)
        # The failed batch's records stay tracked (its iterator may never be closed: the crash's
        # traceback keeps it alive), and the stop waits for every tracked record: let them all go.
        # Nothing is acked from here on anyway, so no offset is recorded for any of them.
        if self._consumer is not None:
            let_go(self._consumer, self._consumer.unacked)
        if not self.failed_batch:
            self.failed_batch = f"{agent.name}: {exc!r}"
            log.error("agent %s failed a batch; the worker stops to read it again", self.failed_batch)
            os.kill(os.getpid(), signal.SIGTERM)

    def _new_consumer(self) -> ConsumerT:
        consumer = super()._new_consumer()
        refuse_stale_acks(consumer, lambda: self.consumer_generation_id, lambda: bool(self.failed_batch))
        self.seek_fence = SeekFence()
        fence_seeks(consumer, self.seek_fence)
        refuse_false_gaps(consumer, lambda topic: topic in self.gapless_topics)
        deliver_without_tasks(consumer)
        return consumer
