"""Runs a source into Kafka: read -> parse -> produce, with rejects sent to the dead-letter topic.

Production is acknowledged by Kafka (acks=all, idempotent producer) before a run reports success.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from tiegraph.core.records import DeadLetter
from tiegraph.errors import StreamUnavailable
from tiegraph.ingest.files import RawItem, iter_path
from tiegraph.ingest.headers import MalformedMessage, parse_message
from tiegraph.ingest.ics import MalformedCalendar, parse_calendar
from tiegraph.streams import topics as t

_IN_FLIGHT = 2000  # sends awaited together: bounds memory, keeps the producer's batches full


@dataclass
class ImportSummary:
    """What an import read, produced and rejected (with reasons and a few examples)."""

    read: int = 0
    produced: int = 0
    calendars: int = 0  # calendar files read (each may hold many meeting occurrences)
    rejected: Counter[str] = field(default_factory=Counter)
    examples: list[tuple[str, str]] = field(default_factory=list)

    def reject(self, source: str, reason: str) -> None:
        self.rejected[reason.split(":", 1)[0]] += 1
        if len(self.examples) < 10:
            self.examples.append((source, reason))

    def to_dict(self) -> dict[str, object]:
        return {
            "read": self.read,
            "produced": self.produced,
            "calendars": self.calendars,
            "rejected": sum(self.rejected.values()),
            "reasons": dict(self.rejected),
            "examples": [{"source": s, "reason": r} for s, r in self.examples],
        }


async def import_items(
    items: Iterable[RawItem],
    *,
    tenant: str,
    owner: str,
    bootstrap: str,
    names: t.TopicNames,
    progress: Callable[[ImportSummary], None] | None = None,
) -> ImportSummary:
    """Parse each item and produce it (messages, meeting occurrences); rejects go to the dead letters."""
    summary = ImportSummary()
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=20, max_batch_size=262144
    )
    try:
        await producer.start()
    except KafkaError as exc:
        raise StreamUnavailable(f"Kafka unreachable at {bootstrap}: {exc}") from exc
    pending: list[asyncio.Future[object]] = []

    async def send(topic: str, key: bytes, value: dict[str, object]) -> None:
        pending.append(await producer.send(names[topic], key=key, value=t.encode(value)))

    try:
        for item in items:
            summary.read += 1
            try:
                if item.error:
                    raise MalformedMessage(item.error)
                if item.kind == "calendar":
                    events = parse_calendar(item.header, tenant=tenant, calendar=owner, source_id=item.source_id)
                    for event in events:
                        await send(t.CALENDAR_EVENTS, t.meeting_key(tenant, event.key), event.to_dict())
                    summary.calendars += 1
                else:
                    message = parse_message(
                        item.header, tenant=tenant, mailbox=owner, folder=item.folder, source_id=item.source_id
                    )
                    await send(t.MAIL_MESSAGES, t.message_key(tenant, message.dedupe_key), message.to_dict())
                    summary.produced += 1
            except (MalformedMessage, MalformedCalendar) as exc:
                summary.reject(item.source_id, str(exc))
                letter = DeadLetter(tenant=tenant, stage="import", source=item.source_id, reason=str(exc))
                await send(t.DEAD_LETTERS, f"{tenant}|{item.source_id}".encode(), letter.to_dict())
            if len(pending) >= _IN_FLIGHT:
                await asyncio.gather(*pending)
                pending.clear()
                if progress:
                    progress(summary)
        await asyncio.gather(*pending)
    except KafkaError as exc:
        raise StreamUnavailable(f"producing to Kafka failed: {exc}") from exc
    finally:
        await producer.stop()
    if progress:
        progress(summary)
    return summary


def iter_paths(paths: Iterable[Path]) -> Iterable[RawItem]:
    for path in paths:
        yield from iter_path(path)
