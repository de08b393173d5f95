"""Consumer lag: a pure function of committed and end offsets, and the Kafka adapter that reads them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from tiegraph.errors import StreamUnavailable


@dataclass(frozen=True, slots=True)
class PartitionLag:
    group: str
    topic: str
    partition: int
    committed: int
    end: int
    lag: int


def compute_lag(
    group: str, committed: Mapping[TopicPartition, int], begins: Mapping[TopicPartition, int], ends: Mapping[TopicPartition, int]
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


async def read_lag(bootstrap: str, group: str, topics: list[str]) -> list[PartitionLag]:
    """Committed offsets of `group` on `topics` against their begin and end offsets."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, request_timeout_ms=10000)
    try:
        await admin.start()
        await consumer.start()
        existing = await consumer.topics()  # also loads the metadata partitions_for_topic reads
        partitions = [
            TopicPartition(topic, p)
            for topic in topics
            if topic in existing
            for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        committed_raw = await admin.list_consumer_group_offsets(group)
        committed = {tp: meta.offset for tp, meta in committed_raw.items()}
        ends = await consumer.end_offsets(partitions) if partitions else {}
        begins = await consumer.beginning_offsets(partitions) if partitions else {}
    except KafkaError as exc:
        raise StreamUnavailable(f"cannot read lag from Kafka at {bootstrap}: {exc}") from exc
    finally:
        await consumer.stop()
        await admin.close()
    return compute_lag(group, committed, begins, ends)

