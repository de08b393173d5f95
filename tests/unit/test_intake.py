"""`take_batches` (streams/intake.py) on a Faust-shaped app and channel: what it hands out, when it
acks, and what it leaves unacked; `RawSchema`'s events against Faust's."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import faust
import pytest
from aiokafka import TopicPartition as AioTopicPartition
from faust.types import TP, AppT, Message, StreamT

from tiegraph.streams.delivery import refuse_stale_acks
from tiegraph.streams.intake import RawSchema, StageRoutes, take_batches

TOPIC = "mail.messages.v1"


class _Message:
    def __init__(self, offset: int, generation_id: int) -> None:
        self.topic, self.offset, self.generation_id = TOPIC, offset, generation_id
        self.tp = (TOPIC, 0)
        self.tracked = self.acked = False


class _Event:
    def __init__(self, consumer: _Consumer, offset: int, generation_id: int = 1) -> None:
        self.message, self._consumer = _Message(offset, generation_id), consumer

    def ack(self) -> bool:
        self._consumer.acked.append(self.message.offset)
        self._consumer.unacked.discard(self.message)
        return True


class _Consumer:
    def __init__(self) -> None:
        self.acked: list[int] = []
        self.unacked: set[_Message] = set()


class _App:
    def __init__(self) -> None:
        self.consumer = _Consumer()
        self.consumer_generation_id = 1
        self.flow_active = True
        self.flow_control = self
        self.topics = self
        self.acking_topics = {TOPIC}
        self.monitor = None

    def is_active(self) -> bool:
        return self.flow_active


class _Stop:
    """Stands for the StopAsyncIteration Faust's queue raises from `get` once an actor is cancelled."""


class _Queue(asyncio.Queue[Any]):
    async def get(self) -> Any:
        item = await super().get()
        if isinstance(item, _Stop):
            raise StopAsyncIteration
        return item


class _Stream:
    def __init__(self) -> None:
        self.channel = self
        self.queue: asyncio.Queue[Any] = _Queue()


def _setup(offsets: range, generation_id: int = 1) -> tuple[_App, _Stream, list[_Event]]:
    app, stream = _App(), _Stream()
    events = [_Event(app.consumer, offset, generation_id) for offset in offsets]
    for event in events:
        stream.queue.put_nowait(event)
    return app, stream, events


def _batches(app: _App, stream: _Stream, max_: int, within: float = 0.01) -> Any:
    return take_batches(cast(AppT, app), cast(StreamT[bytes], stream), max_, within)


def _offsets(batch: list[Any]) -> list[int]:
    return [event.message.offset for event in batch]


async def test_a_batch_is_acked_only_when_the_next_one_is_asked_for() -> None:
    app, stream, _ = _setup(range(5))
    batches = _batches(app, stream, max_=3)
    first = await anext(batches)
    assert _offsets(first) == [0, 1, 2]
    assert app.consumer.acked == [] and len(app.consumer.unacked) == 3  # tracked, so a rebalance waits
    second = await anext(batches)  # the agent is done with the first
    assert _offsets(second) == [3, 4]  # what was there within the wait
    assert app.consumer.acked == [0, 1, 2]
    await batches.aclose()


async def test_a_batch_the_agent_did_not_finish_is_never_acked() -> None:
    app, stream, _ = _setup(range(4))
    batches = _batches(app, stream, max_=10)
    assert _offsets(await anext(batches)) == [0, 1, 2, 3]
    with pytest.raises(RuntimeError):
        await batches.athrow(RuntimeError("the graph writer failed mid-batch"))
    assert app.consumer.acked == []  # never recorded: the worker stops and reads them again
    assert not app.consumer.unacked  # released: the stop that follows does not wait for them forever


async def test_a_cancelled_actor_ends_its_batches_without_acking() -> None:
    app, stream, _ = _setup(range(0))
    batches = _batches(app, stream, max_=10)
    stream.queue.put_nowait(_Stop())  # what Faust's Actor.cancel throws into the channel
    with pytest.raises(StopAsyncIteration):
        await anext(batches)
    assert app.consumer.acked == []


async def test_records_fetched_before_a_rebalance_are_left_out_unacked_and_untracked() -> None:
    app, stream, _ = _setup(range(3), generation_id=1)
    app.consumer_generation_id = 2  # a rebalance since they were fetched: they will be fetched again
    for offset in (10, 11):
        stream.queue.put_nowait(_Event(app.consumer, offset, generation_id=2))
    batches = _batches(app, stream, max_=10)
    assert _offsets(await anext(batches)) == [10, 11]
    assert app.consumer.acked == []  # never acked: the seek after the rebalance fetches them again
    assert {m.offset for m in app.consumer.unacked} == {10, 11}
    await batches.aclose()


async def test_a_batch_waits_for_more_events_only_within_its_window() -> None:
    app, stream, _ = _setup(range(1))
    batches = _batches(app, stream, max_=100, within=0.2)

    async def arrive_later() -> None:
        await asyncio.sleep(0.05)
        stream.queue.put_nowait(_Event(app.consumer, 1))

    late = asyncio.create_task(arrive_later())
    assert _offsets(await anext(batches)) == [0, 1]  # the second arrived within the window
    await late
    await batches.aclose()


async def test_records_taken_while_a_rebalance_is_under_way_are_left_out() -> None:
    app, stream, _ = _setup(range(2))
    app.flow_active = False  # revoked: Faust has suspended the flow until the new assignment
    stream.queue.put_nowait(_Event(app.consumer, 2))
    batches = _batches(app, stream, max_=10, within=0.02)
    taken = asyncio.create_task(anext(batches))
    await asyncio.sleep(0.05)
    assert not taken.done() and app.consumer.acked == [] and not app.consumer.unacked
    app.flow_active = True  # assigned again; the seek to the committed offset re-fetches 0..2
    stream.queue.put_nowait(_Event(app.consumer, 0))
    assert _offsets(await taken) == [0]
    await batches.aclose()


def test_after_an_agent_failed_a_batch_the_consumer_records_no_ack() -> None:
    recorded: list[int] = []

    class _Recording:
        def __init__(self) -> None:
            self.unacked: set[Any] = set()

        def ack(self, message: Any) -> bool:
            recorded.append(message.offset)
            return True

    consumer, failed = _Recording(), {"now": False}
    refuse_stale_acks(cast(Any, consumer), lambda: 1, lambda: failed["now"])
    consumer.ack(_Message(1, generation_id=1))
    consumer.ack(_Message(2, generation_id=0))  # fetched before a rebalance: not recorded
    failed["now"] = True  # an agent failed a batch: the worker is stopping to read it again
    consumer.ack(_Message(3, generation_id=1))
    assert recorded == [1]


@pytest.mark.parametrize("value", [b'{"tenant": "t"}', None])
async def test_raw_schema_events_equal_fausts_for_raw_bytes(value: bytes | None) -> None:
    app = faust.App("intake-test", broker="kafka://127.0.0.1:1")
    message = Message(
        topic=TOPIC,
        partition=3,
        offset=7,
        timestamp=1.5,
        timestamp_type=0,
        headers=[("h", b"v")],
        key=b"t|a@x.example|b@y.example",
        value=value,
        checksum=None,
        tp=TP(TOPIC, 3),
    )
    faust_schema: faust.Schema[bytes, bytes] = faust.Schema(key_serializer="raw", value_serializer="raw")
    theirs = await faust_schema.compile(app)(message)
    ours = await RawSchema().compile(app)(message)
    assert (ours.key, ours.value, ours.headers, ours.message) == (theirs.key, theirs.value, theirs.headers, message)


def _message(topic: str, offset: int) -> Message:
    return Message(
        topic=topic,
        partition=0,
        offset=offset,
        timestamp=1.5,
        timestamp_type=0,
        headers=[("h", b"v")],
        key=b"t|a@x.example|b@y.example",
        value=b'{"tenant": "t"}',
        checksum=None,
        tp=TP(topic, 0),
    )


async def test_a_stage_partition_gets_the_events_fausts_conductor_would_deliver() -> None:
    app = faust.App("intake-routes", broker="kafka://127.0.0.1:1")
    stage = app.topic(TOPIC, schema=RawSchema()).clone(is_iterator=True)
    plain = app.topic("other.v1", value_serializer="raw").clone(is_iterator=True)  # Faust's own schema
    conductor = cast(Any, app.topics)
    conductor.add(stage)
    conductor.add(plain)
    stage_tp, plain_tp = TP(TOPIC, 0), TP("other.v1", 0)
    await conductor.on_partitions_assigned({stage_tp, plain_tp})
    app.flow_control.resume()  # as a started app's assignment does
    paused: list[Any] = []
    cast(Any, app.consumer).on_buffer_full = paused.append
    routes = StageRoutes(app)

    deliver = routes(AioTopicPartition(TOPIC, 0))  # what the fetch yields with each record
    assert deliver is not None and deliver is not conductor._tp_to_callback[stage_tp]
    assert routes(plain_tp) is conductor._tp_to_callback[plain_tp]  # not a stage: Faust delivers
    async with conductor._tp_to_callback_lock:  # the map is being rebuilt: Faust's locked way
        assert routes(stage_tp) is None
    assert routes(TP("unknown.v1", 0)) is None

    ours, theirs = _message(TOPIC, 1), _message(TOPIC, 2)
    await deliver(ours)
    await conductor._tp_to_callback[stage_tp](theirs)
    mine, fausts = stage.queue.get_nowait(), stage.queue.get_nowait()
    assert (mine.key, mine.value, mine.headers, mine.message) == (fausts.key, fausts.value, fausts.headers, ours)
    assert ours.refcount == theirs.refcount == 1

    for offset in range(3, 4 + stage.queue.pressure_high_size):  # until the queue is nearly full
        await deliver(_message(TOPIC, offset))
    assert paused == [stage_tp] and all(type(tp) is TP for tp in paused)  # fetching pauses, by faust TP

    await conductor.on_partitions_assigned({stage_tp})  # a new assignment: new deliveries
    assert routes(stage_tp) not in (None, deliver)
