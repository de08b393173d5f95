"""Short-lived reads of a few records for operators: the oldest record each stage still has to
process (its Kafka time is how far behind the stage is), and the newest dead letters.

Dead letters are read from their topic rather than kept by the worker: the topic is already the
durable record, any number of API processes can read it, and nothing new has to survive a
worker restart. Only the tail is read (the newest `per_partition` of each partition).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from tiegraph.errors import StreamUnavailable
from tiegraph.streams.lag import PartitionLag

FETCH_ROUNDS = 5
FETCH_TIMEOUT_MS = 1000


async def _fetch_from(
    bootstrap: str, starts: dict[TopicPartition, int], ends: dict[TopicPartition, int] | None = None
) -> dict[TopicPartition, list[Any]]:
    """Records of each partition from its start offset (to its end offset if given), few rounds."""
    if not starts:
        return {}
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, request_timeout_ms=10000)
    found: dict[TopicPartition, list[Any]] = {tp: [] for tp in starts}
    try:
        await consumer.start()
        consumer.assign(list(starts))
        for tp, offset in starts.items():
            consumer.seek(tp, offset)
        for _ in range(FETCH_ROUNDS):
            batch = await consumer.getmany(timeout_ms=FETCH_TIMEOUT_MS, max_records=2000)
            for tp, records in batch.items():
                limit = (ends or {}).get(tp)
                found[tp].extend(r for r in records if limit is None or r.offset < limit)
            if ends is None and all(found.values()):
                break
            if ends is not None and all(tp not in ends or not _short(found[tp], starts[tp], ends[tp]) for tp in found):
                break
    except KafkaError as exc:
        raise StreamUnavailable(f"cannot read records from Kafka at {bootstrap}: {exc}") from exc
    finally:
        await consumer.stop()
    return found


def _short(records: list[Any], start: int, end: int) -> bool:
    return len(records) < end - start and (not records or records[-1].offset < end - 1)


async def oldest_waiting_ms(bootstrap: str, rows: Iterable[PartitionLag]) -> dict[tuple[str, int], int]:
    """Kafka time (ms) of the first record not yet committed, for every partition with lag."""
    starts = {TopicPartition(r.topic, r.partition): r.committed for r in rows if r.lag > 0}
    found = await _fetch_from(bootstrap, starts)
    return {(tp.topic, tp.partition): records[0].timestamp for tp, records in found.items() if records}


async def _partitions(bootstrap: str, topic: str) -> list[TopicPartition]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    try:
        await admin.start()
        described = await admin.describe_topics([topic])
    except KafkaError as exc:
        raise StreamUnavailable(f"cannot describe {topic} on Kafka at {bootstrap}: {exc}") from exc
    finally:
        await admin.close()
    return sorted(
        (
            TopicPartition(d["topic"], p["partition"])
            for d in described
            if not d.get("error_code")
            for p in d["partitions"]
        ),
        key=lambda tp: tp.partition,
    )


async def latest_dead_letters(bootstrap: str, topic: str, per_partition: int = 100) -> list[dict[str, Any]]:
    """The newest dead letters of every partition, newest first, each with its Kafka time (`at_ms`)."""
    partitions = await _partitions(bootstrap, topic)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, request_timeout_ms=10000)
    try:
        await consumer.start()
        ends = await consumer.end_offsets(partitions) if partitions else {}
        begins = await consumer.beginning_offsets(partitions) if partitions else {}
    except KafkaError as exc:
        raise StreamUnavailable(f"cannot read dead letters from Kafka at {bootstrap}: {exc}") from exc
    finally:
        await consumer.stop()
    starts = {tp: max(begins[tp], ends[tp] - per_partition) for tp in partitions if ends[tp] > begins[tp]}
    found = await _fetch_from(bootstrap, starts, {tp: ends[tp] for tp in starts})
    letters = []
    for records in found.values():
        for record in records:
            try:
                letter = json.loads(record.value)
            except (ValueError, TypeError):
                letter = {"reason": "unreadable dead letter"}
            letters.append({**letter, "at_ms": record.timestamp})
    letters.sort(key=lambda d: d["at_ms"], reverse=True)
    return letters
