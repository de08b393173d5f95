"""The pieces the fault tests rely on, without Kafka or Neo4j: write retries and their visible
wait, the log flood guard, the list-reply join's forgetting, and the graph comparison."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import faust
from aiokafka.partitioner import DefaultPartitioner
from faust.types import TP

from tiegraph.core.list_replies import forget_blocked_links
from tiegraph.errors import GraphUnavailable
from tiegraph.logs import RepeatFilter
from tiegraph.soak.runner import fault_schedule
from tiegraph.soak.snapshot import GraphSnapshot, graph_differences
from tiegraph.streams import topics as t
from tiegraph.streams.backpressure import WriteWaits, write_until_done
from tiegraph.streams.delivery import BatchDelivery, SeekFence, SendFailures, fence_seeks, refuse_false_gaps
from tiegraph.streams.erase import forget_authors_command, is_erase_command, is_forget_authors_command


async def test_a_write_that_hangs_is_abandoned_and_retried_until_it_lands() -> None:
    calls: list[int] = []
    waits = WriteWaits()
    seen_waiting: list[float] = []

    async def write(rows: Sequence[dict[str, Any]]) -> None:
        calls.append(len(rows))
        seen_waiting.append(waits.waiting_s(asyncio.get_running_loop().time()))
        if len(calls) == 1:
            await asyncio.sleep(10)  # a frozen server: never answers in time
        if len(calls) == 2:
            raise GraphUnavailable("Neo4j unavailable: connection refused")

    retries: list[str] = []
    await write_until_done(write, [{"a": 1}], lambda: retries.append(waits.last_error), waits=waits, timeout_s=0.05)

    assert calls == [1, 1, 1]
    assert retries == ["Neo4j did not finish a write within 0.05s", "Neo4j unavailable: connection refused"]
    assert seen_waiting[-1] > 0.05  # the third attempt saw how long the write had been waiting
    assert not waits.busy() and waits.status(0.0) == {"write_waiting_s": 0.0, "write_error": ""}


def test_the_wait_is_that_of_the_oldest_write_in_progress() -> None:
    waits = WriteWaits()
    first = waits.begin(100.0)
    waits.begin(105.0)
    waits.last_error = "Neo4j busy"
    assert waits.status(112.0) == {"write_waiting_s": 12.0, "write_error": "Neo4j busy"}
    waits.end(first)
    assert waits.waiting_s(112.0) == 7.0


def _record(name: str, created: float, msg: str = "Unable connect to node with id %s") -> logging.LogRecord:
    record = logging.LogRecord(name, logging.ERROR, "", 0, msg, (1,), None)
    record.created = created
    return record


def test_repeated_client_errors_are_logged_once_per_window_with_a_count() -> None:
    guard = RepeatFilter(window_s=10)
    shown = [guard.filter(r) for r in [_record("aiokafka", 100.0 + i / 100) for i in range(500)]]
    assert shown.count(True) == 1
    later = _record("aiokafka", 111.0)
    assert guard.filter(later) and "(499 more like this in the last 10s)" in later.getMessage()
    assert all(guard.filter(_record("tiegraph.streams", 100.0)) for _ in range(3))  # ours are never held


def test_forgetting_a_blocked_person_drops_their_replies_and_strikes_them_from_others() -> None:
    links = [
        {"author": "eve@x.example", "addressed": [], "source": "1"},
        {"author": "bob@y.example", "addressed": ["eve@x.example", "carl@z.example"], "source": "2"},
        {"author": "dan@sub.x.example", "addressed": [], "source": "3"},
    ]
    assert forget_blocked_links(links, ("eve@x.example",)) == [
        {"author": "bob@y.example", "addressed": ["carl@z.example"], "source": "2"},
        {"author": "dan@sub.x.example", "addressed": [], "source": "3"},
    ]
    assert [x["source"] for x in forget_blocked_links(links, ("x.example",))] == ["2"]  # a domain and below


def test_forget_authors_commands_are_told_apart_from_records_and_tie_erasures() -> None:
    key, value = forget_authors_command("acme", "eve@x.example")
    assert is_forget_authors_command(value) and not is_erase_command(value)
    assert t.decode(value) == {"forget_authors": True, "tenant": "acme", "entry": "eve@x.example"}
    assert key == b"acme|"
    assert not is_forget_authors_command(t.encode({"type": "authored", "author": "a@b.c"}))


def test_a_table_key_belongs_to_the_partition_the_producer_put_it_on() -> None:
    partitioner = DefaultPartitioner()
    for i in range(200):
        key = t.thread_key("acme", f"<m{i}@x.example>")
        assert t.key_partition(key, 4) == partitioner(key, [0, 1, 2, 3], [0, 1, 2, 3])


def test_graph_differences_name_every_kind_of_difference() -> None:
    clean = GraphSnapshot({"messages": 3, "ties": 2}, {("a", "b"): {"n_to_ab": 1}, ("a", "c"): {"n_to_ab": 2}})
    assert graph_differences(clean, clean) == {}
    run = GraphSnapshot({"messages": 2, "ties": 2}, {("a", "b"): {"n_to_ab": 1, "n_cc_ab": 1}, ("b", "c"): {}})
    assert graph_differences(run, clean) == {
        "stats": {"messages": (2, 3)},
        "missing_ties": [("a", "c")],
        "extra_ties": [("b", "c")],
        "differing_ties": {("a", "b"): {"n_cc_ab": (1, None)}},
    }


def test_the_soak_injects_every_fault_in_turn_and_leaves_time_to_recover() -> None:
    schedule = list(fault_schedule(0.0, 300.0, 60.0))
    assert schedule == [
        (60.0, "worker_kill"),
        (120.0, "neo4j_restart"),
        (180.0, "kafka_restart"),
        (240.0, "neo4j_freeze"),
    ]
    assert list(fault_schedule(0.0, 80.0, 60.0)) == []  # no fault without time to recover from it


class _GapRecorder:
    """The part of Faust's consumer that `refuse_false_gaps` wraps."""

    def __init__(self) -> None:
        self.gaps: list[tuple[str, int, int]] = []

    async def _add_gap(self, tp: Any, offset_from: int, offset_to: int) -> None:
        self.gaps.append((tp.topic, offset_from, offset_to))


async def test_gaps_are_kept_only_where_offsets_can_really_be_missing() -> None:
    consumer = _GapRecorder()
    refuse_false_gaps(consumer, lambda topic: topic == "mail.messages.v1")  # type: ignore[arg-type]
    await consumer._add_gap(TP("mail.messages.v1", 1), 332, 369)  # a fetch from before a seek
    await consumer._add_gap(TP("tie.updates.v1", 0), 10, 12)  # compaction removed these
    assert consumer.gaps == [("tie.updates.v1", 10, 12)]


class _FetchingConsumer:
    """The parts of Faust's consumer that `fence_seeks` wraps, shaped like Faust's: `getmany` makes
    one `_getmany` call and yields its records; a seek moves the position of a partition. A fetch
    can be held open (`in_flight`) to let a seek overlap it, as a rebalance does."""

    def __init__(self, log: dict[TP, list[int]]) -> None:
        self.log, self.position = log, {tp: 0 for tp in log}
        self.committed = {tp: 0 for tp in log}
        self.in_flight: asyncio.Event | None = None
        self.seek_held: asyncio.Event | None = None
        self.revoked_during_seek: TP | None = None

    def assignment(self) -> set[TP]:
        return set(self.log)

    async def _getmany(self, active_partitions: Any, timeout: float) -> dict[TP, list[int]]:
        if self.in_flight is not None:
            await self.in_flight.wait()
        records = {tp: offsets[self.position[tp] : self.position[tp] + 3] for tp, offsets in self.log.items()}
        for tp, offsets in records.items():
            self.position[tp] += len(offsets)
        return records

    async def getmany(self, timeout: float) -> Any:
        for tp, offsets in (await self._getmany(active_partitions=None, timeout=timeout)).items():
            for offset in offsets:
                yield tp, _Offset(offset)

    async def seek_to_committed(self) -> dict[TP, int]:
        # like aiokafka: a partition with nothing committed keeps its position
        self.position.update({tp: offset for tp, offset in self.committed.items() if offset is not None})
        if self.seek_held is not None:  # the position is set; the seek itself is not over yet
            await self.seek_held.wait()
        if self.revoked_during_seek is not None:
            del self.log[self.revoked_during_seek]
        return dict(self.committed)

    async def seek_wait(self, partitions: dict[TP, int]) -> None:
        self.position.update(partitions)

    async def _seek(self, partition: TP, offset: int) -> None:
        self.position[partition] = offset

    async def seek(self, partition: TP, offset: int) -> None:
        await self._seek(partition, offset)


class _Offset:
    def __init__(self, offset: int) -> None:
        self.offset = offset


async def _read(consumer: _FetchingConsumer) -> list[tuple[int, int]]:
    return [(tp.partition, message.offset) async for tp, message in consumer.getmany(timeout=1.0)]


async def test_records_fetched_across_a_seek_are_dropped_and_read_again_from_the_new_position() -> None:
    a, b = TP("mail.messages.v1", 0), TP("mail.messages.v1", 1)
    consumer = _FetchingConsumer({a: list(range(10)), b: list(range(10))})
    fence = SeekFence()
    fence_seeks(consumer, fence)  # type: ignore[arg-type]
    assert await _read(consumer) == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]

    # A rebalance: a fetch is out when partition 0 is sought back to its commit (1). It returns
    # records from the new position, which it moves on: they are dropped (they cannot be told from
    # records read before the seek) and partition 0 is sought to 1 again.
    consumer.in_flight = asyncio.Event()
    fetch = asyncio.create_task(_read(consumer))
    await asyncio.sleep(0)
    await consumer.seek(a, 1)
    consumer.in_flight.set()
    assert await fetch == [(1, 3), (1, 4), (1, 5)]
    consumer.in_flight = None
    assert fence.dropped == 3
    assert await _read(consumer) == [(0, 1), (0, 2), (0, 3), (1, 6), (1, 7), (1, 8)]


async def test_a_seek_during_the_records_of_a_fetch_drops_the_rest_of_that_fetch() -> None:
    a = TP("tie.updates.v1", 0)
    consumer = _FetchingConsumer({a: list(range(10))})
    fence = SeekFence()
    fence_seeks(consumer, fence)  # type: ignore[arg-type]
    consumer.committed = {a: 0}
    seen = []
    async for _tp, message in consumer.getmany(timeout=1.0):
        seen.append(message.offset)
        if message.offset == 0:
            await consumer.seek_to_committed()  # back to the start while 1 and 2 wait to be handed out
    assert seen == [0]
    assert await _read(consumer) == [(0, 0), (0, 1), (0, 2)]


async def test_a_fetch_that_began_after_a_seek_ended_is_not_touched() -> None:
    a = TP("mail.messages.v1", 0)
    consumer = _FetchingConsumer({a: list(range(10))})
    fence = SeekFence()
    fence_seeks(consumer, fence)  # type: ignore[arg-type]
    await consumer.seek_wait({a: 4})
    assert await _read(consumer) == [(0, 4), (0, 5), (0, 6)]
    assert fence.dropped == 0


async def test_a_fetch_out_when_nothing_was_committed_is_read_again_from_its_first_record() -> None:
    # A partition nobody committed yet (a worker's first meeting import): the seek to "committed"
    # leaves it where it is while a fetch is out; that fetch's records are dropped, and the
    # partition is sought back to the first of them, or they would never be read (seen: the
    # meeting stage stuck with lag 2 through every restart).
    a = TP("calendar.events.v1", 3)
    consumer = _FetchingConsumer({a: [0, 1]})
    consumer.committed = {a: None}  # type: ignore[dict-item]
    fence = SeekFence()
    fence_seeks(consumer, fence)  # type: ignore[arg-type]
    consumer.in_flight = asyncio.Event()
    fetch = asyncio.create_task(_read(consumer))
    await asyncio.sleep(0)
    await consumer.seek_to_committed()
    consumer.in_flight.set()
    assert await fetch == []
    consumer.in_flight = None
    assert await _read(consumer) == [(3, 0), (3, 1)]


async def test_records_fetched_before_a_seek_ends_are_read_again_when_it_ends() -> None:
    # The seek sets the position, then still has work to do when the fetch returns records from
    # that new position: they are dropped, and the partition is sought again once the seek ends.
    a = TP("tie.updates.v1", 0)
    consumer = _FetchingConsumer({a: list(range(10))})
    fence = SeekFence()
    fence_seeks(consumer, fence)  # type: ignore[arg-type]
    assert await _read(consumer) == [(0, 0), (0, 1), (0, 2)]
    consumer.committed = {a: 1}
    consumer.in_flight, consumer.seek_held = asyncio.Event(), asyncio.Event()
    fetch = asyncio.create_task(_read(consumer))
    await asyncio.sleep(0)
    seek = asyncio.create_task(consumer.seek_to_committed())
    await asyncio.sleep(0)
    consumer.in_flight.set()
    assert await fetch == []  # records 1..3 from the new position, dropped
    consumer.in_flight = None
    consumer.seek_held.set()
    await seek
    assert await _read(consumer) == [(0, 1), (0, 2), (0, 3)]


async def test_a_partition_revoked_during_a_seek_is_not_left_seeking() -> None:
    # A rebalance while the seek runs takes partition 1 away: its seek counted as started must
    # count as ended too, or every later fetch of it would be dropped and never sought again.
    a, b = TP("tie.updates.v1", 0), TP("tie.updates.v1", 1)
    consumer = _FetchingConsumer({a: list(range(10)), b: list(range(10))})
    fence = SeekFence()
    fence_seeks(consumer, fence)  # type: ignore[arg-type]
    consumer.revoked_during_seek = b
    await consumer.seek_to_committed()
    assert not fence.seeking(a) and not fence.seeking(b)


async def test_a_table_write_queues_the_changelog_record_faust_would_send() -> None:
    # async: Faust's send_changelog makes a future, which needs an event loop
    app = faust.App("tiegraph-unit", broker="kafka://127.0.0.1:1", key_serializer="raw", value_serializer="raw")
    schema = faust.Schema(key_serializer=t.TABLE_KEYS, value_serializer="json")
    table = app.Table("tie_states", default=None, schema=schema, partitions=4)
    table.key_serializer = t.TABLE_KEYS  # as streams/app.py sets it
    state = {  # the shapes of a tie's state (core/ties.py, Tie.to_state)
        "a": "ann@example.com",
        "b": "bo@example.com",
        "fast_ab": 0.25,
        "counts": {"to_ab": 2},
        "days": [20412, 20413],
        "applied": {"579": [-4196502837112212049, 1204, 77, 1209]},
        "offset": 1209,
        "conversations": {"re: plan": [[True, 1763942400.0], [False, 1763946000.5]]},
        "replies": {"ab": [0.0, 0], "ba": [3600.5, 1]},
        "a_name": "Zoë",
    }
    faust_record = table.send_changelog(2, "acme|ann@example.com|bo@example.com", state).message
    delivery = BatchDelivery(app, SendFailures())
    source = _Event(2)
    delivery.write(table, "acme|ann@example.com|bo@example.com", state, source)  # type: ignore[arg-type]
    delivery.write(table, "acme|x@example.com|y@example.com", None, source)  # type: ignore[arg-type]
    [(key, value, partition), (_, tombstone, _)] = delivery._records[table.changelog_topic.get_topic_name()]
    assert (key, value, partition) == (faust_record.key, faust_record.value, 2)
    assert tombstone is None
    delivery.write(table, "acme|zoë@example.com|bo@example.com", state, source)  # type: ignore[arg-type]
    assert (
        delivery._records[table.changelog_topic.get_topic_name()][-1][0]
        == b'"acme|zo\\u00eb@example.com|bo@example.com"'
    )
    assert not list(table.data)  # stored only once `settle` has the changelog records in Kafka


class _Event:
    """What `write` reads of the source event: its message's partition (and it becomes current)."""

    def __init__(self, partition: int) -> None:
        self.message = _Message(partition)


class _Message:
    def __init__(self, partition: int) -> None:
        self.partition = partition
