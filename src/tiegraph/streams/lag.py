"""Consumer lag: a pure function of committed and end offsets, and the Kafka adapter that reads them."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from tiegraph.errors import StreamUnavailable
from tiegraph.streams.topics import consumer_groups, graph_writer_group


@dataclass(frozen=True, slots=True)
class PartitionLag:
    group: str
    topic: str
    partition: int
    committed: int
    end: int
    lag: int


def compute_lag(
    group: str,
    committed: Mapping[TopicPartition, int],
    begins: Mapping[TopicPartition, int],
    ends: Mapping[TopicPartition, int],
) -> list[PartitionLag]:
    """Lag per partition; a partition with no commit yet lags by everything still retained."""
    rows = []
    for tp in sorted(ends, key=lambda x: (x.topic, x.partition)):
        end = ends[tp]
        position = committed.get(tp, -1)
        if position < 0:
            position = begins.get(tp, 0)
        rows.append(PartitionLag(group, tp.topic, tp.partition, position, end, max(end - position, 0)))
    return rows


def summarize(rows: list[PartitionLag]) -> dict[str, Any]:
    """The `tiegraph lag --json` document: total, per topic, and the detail."""
    per_topic: dict[str, int] = {}
    for row in rows:
        per_topic[row.topic] = per_topic.get(row.topic, 0) + row.lag
    return {"total_lag": sum(r.lag for r in rows), "topics": per_topic, "partitions": [asdict(r) for r in rows]}


class LagReader:
    """Reads lag through one admin client and one consumer kept open between readings: starting
    them took ~800 ms (and ~21 ms of CPU) per reading, which a loop waiting for the pipeline to
    settle paid at every poll. After a Kafka error the clients are started afresh at the next
    reading."""

    def __init__(self, bootstrap: str) -> None:
        self._bootstrap = bootstrap
        self._clients: tuple[AIOKafkaAdminClient, AIOKafkaConsumer] | None = None

    async def __aenter__(self) -> LagReader:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def read(self, app_id: str, topics: list[str]) -> list[PartitionLag]:
        """Committed offsets on `topics` against their begin and end offsets, each topic's of the
        consumer group of deployment `app_id` that reads it (the stream stages' or the graph
        writer's: topics.consumer_groups)."""
        try:
            admin, consumer = await self._started()
            existing = set(await admin.list_topics())
            wanted = [topic for topic in topics if topic in existing]
            described = await admin.describe_topics(wanted) if wanted else []
            partitions = [
                TopicPartition(d["topic"], p["partition"]) for d in described for p in d.get("partitions", ())
            ]
            ends = await consumer.end_offsets(partitions) if partitions else {}
            begins = await consumer.beginning_offsets(partitions) if partitions else {}
            rows = []
            for group, its_topics in consumer_groups(app_id, wanted).items():
                committed_raw = await admin.list_consumer_group_offsets(group)
                committed = {tp: meta.offset for tp, meta in committed_raw.items()}
                its_ends = {tp: end for tp, end in ends.items() if tp.topic in its_topics}
                rows += compute_lag(group, committed, begins, its_ends)
        except KafkaError as exc:
            await self.close()
            raise StreamUnavailable(f"cannot read lag from Kafka at {self._bootstrap}: {exc}") from exc
        return rows

    async def _started(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        if self._clients is None:
            admin = AIOKafkaAdminClient(bootstrap_servers=self._bootstrap, request_timeout_ms=10000)
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self._bootstrap, enable_auto_commit=False, request_timeout_ms=10000
            )
            self._clients = (admin, consumer)  # before starting: close() stops a half-started pair
            await admin.start()
            await consumer.start()
        return self._clients

    async def close(self) -> None:
        if self._clients is not None:
            (admin, consumer), self._clients = self._clients, None
            await consumer.stop()
            await admin.close()


async def read_lag(bootstrap: str, app_id: str, topics: list[str]) -> list[PartitionLag]:
    """One reading of deployment `app_id`'s lag on `topics` (clients started and stopped for it)."""
    async with LagReader(bootstrap) as reader:
        return await reader.read(app_id, topics)


ZERO_LAG_POLL_S = 0.2  # while lagging; a reading costs a few ms once the clients are open


async def wait_for_zero_lag(
    bootstrap: str, app_id: str, topics: list[str], timeout: float = 120.0, settle: int = 2
) -> float:
    """Wait until every stage has committed everything (`settle` readings in a row); seconds taken.

    Raises TimeoutError with the last reading if the pipeline does not catch up in time.
    """
    loop = asyncio.get_running_loop()
    started = loop.time()
    zero_in_a_row = 0
    async with LagReader(bootstrap) as reader:
        while True:
            try:
                rows = await reader.read(app_id, topics)
            except StreamUnavailable:
                # The group coordinator appears only once Kafka has created __consumer_offsets.
                if loop.time() - started > timeout:
                    raise
                await asyncio.sleep(0.5)
                continue
            total = sum(r.lag for r in rows)
            zero_in_a_row = zero_in_a_row + 1 if total == 0 else 0
            if zero_in_a_row >= settle:
                return loop.time() - started
            if loop.time() - started > timeout:
                raise TimeoutError(
                    f"pipeline still lagging by {total} records after {timeout:.0f}s: {summarize(rows)['topics']}"
                )
            # Lagging: look again soon. Caught up: confirm after a while, not at once.
            await asyncio.sleep(0.5 if total == 0 else ZERO_LAG_POLL_S)


async def wait_for_stable_group(bootstrap: str, app_id: str, timeout: float = 120.0, settle_s: float = 3.0) -> None:
    """Wait until both consumer groups of deployment `app_id` (the stream stages' and the graph
    writer's) have members and have stayed Stable for `settle_s`.

    Records fetched across a rebalance are where faust-streaming misbehaves (see
    streams/watchdog.py), so the demo and the tests start producing only once workers settled.
    """
    groups = [app_id, graph_writer_group(app_id)]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    stable_since: float | None = None
    while loop.time() < deadline:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
        try:
            await admin.start()
            # one group per request: aiokafka fails to decode a response describing several
            # ("Buffer underrun decoding string", aiokafka 0.14)
            described = [
                (await admin.describe_consumer_groups([group]))[0].to_object()["groups"][0] for group in groups
            ]
            stable = len(described) == len(groups) and all(
                group["state"] == "Stable" and bool(group["members"]) for group in described
            )
        except (KafkaError, IndexError, KeyError):
            stable = False
        finally:
            await admin.close()
        now = loop.time()
        stable_since = (stable_since or now) if stable else None
        if stable_since is not None and now - stable_since >= settle_s:
            return
        await asyncio.sleep(0.5)
    raise TimeoutError(f"consumer groups {groups} did not become stable within {timeout:.0f}s")
