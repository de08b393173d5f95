"""How fetched records reach the agents: in batches, without Faust's per-record machinery.

Faust hands records to an agent one at a time: the fetcher's loop wraps each record's delivery in
`wait_first` (two tasks and an `asyncio.wait` per record), and the stream yields each event
through an `await sleep(0)`, sensors, processors and, for `take_events`, a passive drainer and
a buffer. Profiled, that hand-off was the largest cost left in the worker (bench/HISTORY.md).
Here:

- `take_batches` reads an agent's channel queue directly (the conductor still decodes each
  record into an event and puts it there): up to `max_` events, waiting at most `within` seconds
  after the first. It does what Faust's stream does per event that matters for the commit:
  leaves out events fetched before the latest rebalance (they are fetched again), and tracks each
  event as unacked so a rebalance waits for it. Events are acked only when the agent asks for the
  next batch: a batch the agent fails on or is stopped in is released unacked, so it is never
  committed, and the worker stops to read it again (GuardedApp._on_agent_error, streams/delivery.py).
- `RawSchema` makes each record's event straight from its bytes: the stages decode their own
  values, and Faust's serializer registry, which for the "raw" codec only hands the bytes back,
  cost three calls and a codec lookup per key and per value.
- `deliver_without_tasks` replaces the fetcher's loop with the same loop that awaits each
  delivery directly, falling back to Faust's `wait_first` while the flow is suspended (a
  rebalance: the delivery may wait for flow control to resume, and must give way).
- `StageRoutes` delivers a record of a partition that one stage reads (with `RawSchema`) straight
  to its queue: what Faust's conductor does for it, without the lock, the loop over subscribed
  channels and the settings lookups it makes for every record.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any, cast

import faust
from faust.transport.consumer import CONSUMER_FETCHING
from faust.types import TP, AppT, ConsumerT, EventT, Message, StreamT


class RawSchema(faust.Schema[bytes, bytes]):
    """Keys and values as the bytes Kafka holds, events made without Faust's registry (above)."""

    def __init__(self) -> None:
        super().__init__(key_serializer="raw", value_serializer="raw")

    def compile(self, app: AppT, **_: Any) -> Any:
        create_event = app.create_event

        async def decode(message: Message, *, propagate: bool = False) -> EventT[bytes]:
            return create_event(message.key, message.value, message.headers, message)

        return decode


POLL_S = 0.005  # how often a batch still filling checks its queue (only while it is not full)


async def take_batches(
    app: AppT, stream: StreamT[bytes], max_: int, within: float
) -> AsyncIterator[list[EventT[bytes]]]:
    """The stream's events in batches of up to `max_`, each acked when the next is asked for."""
    queue = cast(Any, stream.channel).queue  # Faust's ThrowableQueue: errors, flow-control pressure
    loop = asyncio.get_running_loop()
    inbound = app.monitor.stream_inbound_time if app.monitor is not None else {}
    while True:
        batch: list[EventT[bytes]] = []
        try:
            _admit(app, await queue.get(), batch)
            deadline = loop.time() + within
            while len(batch) < max_:
                if not queue.empty():
                    _admit(app, queue.get_nowait(), batch)
                elif loop.time() < deadline:
                    # A poll, not `wait_for(queue.get())`: a timeout could cancel a get that had
                    # just taken an event, and the event would be lost.
                    await asyncio.sleep(min(POLL_S, deadline - loop.time()))
                else:
                    break
        except StopAsyncIteration:  # the actor is being cancelled (Faust throws this into the queue)
            let_go(app.consumer, [event.message for event in batch])
            return
        if not batch:
            continue
        now = time.monotonic()
        for event in batch:  # what Faust's monitor reads to tell a busy stream from a stuck one
            inbound[event.message.tp] = now
        try:
            yield batch
        except BaseException:  # the agent failed or was closed mid-batch: never acked
            let_go(app.consumer, [event.message for event in batch])
            raise
        for event in batch:
            event.ack()


def let_go(consumer: ConsumerT, messages: Iterable[Message]) -> None:
    """Mark `messages` done without acking them: their offsets are not recorded (they are read
    again, after a rebalance or a restart), and a rebalance or stop, which waits for every tracked
    record, does not wait for these forever."""
    for message in list(messages):  # a copy: `messages` may be the unacked set itself
        message.acked = True
        consumer.unacked.discard(message)


def _admit(app: AppT, event: EventT[bytes], batch: list[EventT[bytes]]) -> None:
    """Add `event` to `batch` unless it was fetched before the latest rebalance or during one: then
    it is left, neither tracked nor acked, for the seek to the committed offset that ends every
    rebalance to fetch again. (Faust's stream acks such events, and the consumer records the ack
    unless the generation has already changed: streams/delivery.py.)"""
    message = event.message
    if message.generation_id != app.consumer_generation_id or not app.flow_control.is_active():
        return
    if not message.tracked and message.topic in app.topics.acking_topics:
        message.tracked = True  # what Faust's stream does for each event: a rebalance waits for it
        app.consumer.unacked.add(message)
    batch.append(event)


Delivery = Callable[[Message], Awaitable[None]]


class StageRoutes:
    """Per partition, the delivery of its records to the stage that reads it.

    Faust's conductor builds a delivery per assigned partition (transport/conductor.py,
    `ConductorCompiler.build`) and looks it up under a lock for every record, since a resubscription
    rebuilds the map with awaits in between. Here a partition whose one subscriber is a stage with
    `RawSchema` gets `_deliver_to_stage`, built once per Faust delivery (a new assignment builds
    new ones); any other partition, and every record while the map is being rebuilt, takes
    Faust's own way."""

    def __init__(self, app: AppT) -> None:
        self._app = app
        self._conductor = cast(Any, app.topics)
        self._built: dict[TP, tuple[Delivery, Delivery]] = {}  # tp -> (Faust's delivery, ours)

    def __call__(self, tp: TP) -> Delivery | None:
        """The delivery for `tp`, or None: use the conductor's `on_message` (it locks, and raises
        for a partition it does not know)."""
        conductor = self._conductor
        if conductor._tp_to_callback_lock.locked():
            return None
        faust_delivery = conductor._tp_to_callback.get(tp)
        if faust_delivery is None:
            return None
        built = self._built.get(tp)
        if built is None or built[0] is not faust_delivery:
            channels = list(conductor._tp_index.get(tp, ()))
            only = channels[0] if len(channels) == 1 else None
            ours = (
                # a faust TP, as Faust's own deliveries hold: the consumer's flow control (on
                # buffer full/drop) asserts it, and fetched records carry aiokafka's TopicPartition
                _deliver_to_stage(self._app, TP(tp.topic, tp.partition), only)
                if only is not None and isinstance(only.schema, RawSchema)
                else faust_delivery
            )
            built = self._built[tp] = (faust_delivery, ours)
        return built[1]


def _deliver_to_stage(app: AppT, tp: TP, channel: Any) -> Delivery:
    """faust-streaming 0.15.3's per-partition `on_message` for one subscribed channel whose schema
    (RawSchema) never raises a decode error: wait while flow control is off or the table
    producer buffer is over its limit, count the message's one reference, make the event and put
    it in the channel's queue, with the same pressure callbacks (fetching of the partition
    pauses while its queue is nearly full)."""
    consumer, flow, buffer = app.consumer, app.flow_control, cast(Any, app.producer.buffer)
    buffer_threaded = app.conf.producer_threaded  # ProducerBuffer.size reads this on every call
    make_event = cast(Any, app.conf).Event  # what app.create_event makes, looked up once
    on_topic_buffer_full = app.sensors.on_topic_buffer_full
    queue = channel.queue

    def on_pressure_high() -> None:
        on_topic_buffer_full(tp)
        consumer.on_buffer_full(tp)

    def on_pressure_drop() -> None:
        consumer.on_buffer_drop(tp)

    async def deliver(message: Message) -> None:
        if not flow.is_active():
            await flow.acquire()
        if buffer_threaded or buffer.pending.qsize() > buffer.max_messages:
            await buffer.wait_until_ebb()
        message.incref(1)
        event = make_event(app, message.key, message.value, message.headers, message)
        if queue.full():
            on_topic_buffer_full(tp)
            await channel.put(event)
        else:
            queue.put_nowait_enhanced(event, on_pressure_high=on_pressure_high, on_pressure_drop=on_pressure_drop)

    return deliver


def deliver_without_tasks(consumer: ConsumerT) -> None:
    """Make the fetcher deliver each record with a plain `await` while the flow runs (see above).

    The loop is faust-streaming 0.15.3's `Consumer._drain_messages` with that change, and each
    record delivered by `StageRoutes` (above)."""
    faust_consumer = cast(Any, consumer)

    async def drain_messages(fetcher: Any) -> None:
        callback = faust_consumer.callback
        getmany = faust_consumer.getmany
        consumer_should_stop = faust_consumer._stopped.is_set
        fetcher_should_stop = fetcher._stopped.is_set
        suspended = faust_consumer.suspend_flow.is_set
        read_offsets = faust_consumer._read_offset
        acks_enabled_for = faust_consumer.app.topics.acks_enabled_for
        commit_every = faust_consumer._commit_every
        route = StageRoutes(faust_consumer.app)
        since_yield = 0
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                faust_consumer.diag.set_flag(CONSUMER_FETCHING)
                records = getmany(timeout=1.0)
                await asyncio.sleep(0)  # getmany may return at once, again and again
                if faust_consumer.should_stop:
                    break
                async for tp, message in records:
                    since_yield += 1
                    if since_yield > 100:
                        await asyncio.sleep(0)
                        since_yield = 0
                    offset, read = message.offset, read_offsets[tp]
                    if read is not None and offset < read:
                        continue  # Faust drops these too ("DROPPED MESSAGE ROFF")
                    if offset - (read or 0) > 1 and read and acks_enabled_for(message.topic):
                        await faust_consumer._add_gap(tp, read + 1, offset)
                    if commit_every is not None and faust_consumer._n_acked >= commit_every:
                        faust_consumer._n_acked = 0
                        await faust_consumer.commit()
                    if suspended():
                        await faust_consumer.wait_first(callback(message), faust_consumer.suspend_flow.wait())
                    else:
                        deliver = route(tp)
                        await (callback(message) if deliver is None else deliver(message))
                    read_offsets[tp] = offset
                faust_consumer.diag.unset_flag(CONSUMER_FETCHING)
        except faust_consumer.consumer_stopped_errors:
            if not faust_consumer.transport.app.should_stop:
                raise
        except asyncio.CancelledError:
            if not faust_consumer.transport.app.should_stop:
                raise
        finally:
            faust_consumer.diag.unset_flag(CONSUMER_FETCHING)

    faust_consumer._drain_messages = drain_messages
