"""Runs a source into Kafka: read -> parse -> produce, with rejects sent to the dead-letter topic.

Production is acknowledged by Kafka (acks=all, idempotent producer, `ingest/producer.py`) before a run
reports success.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tiegraph.core.aliases import SentMail
from tiegraph.ingest.files import RawItem, iter_path
from tiegraph.ingest.headers import MalformedMessage, parse_message
from tiegraph.ingest.ics import MalformedCalendar, parse_calendar
from tiegraph.ingest.producer import RecordProducer
from tiegraph.streams import topics as t

_PROGRESS_EVERY = 2000


@dataclass
class ImportSummary:
    """What an import read, produced and rejected (with reasons and a few examples)."""

    read: int = 0
    produced: int = 0
    calendars: int = 0  # calendar files read (each may hold many meeting occurrences)
    rejected: Counter[str] = field(default_factory=Counter)
    examples: list[tuple[str, str]] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)  # the owner's aliases learned from its sent mail

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
            "aliases": self.aliases,
        }


async def import_items(
    items: Iterable[RawItem],
    *,
    tenant: str,
    owner: str,
    bootstrap: str,
    names: t.TopicNames,
    progress: Callable[[ImportSummary], None] | None = None,
    produce_timeout_s: float = 120.0,
) -> ImportSummary:
    """Parse each item and produce it (messages, meeting occurrences); rejects go to the dead letters.
    With an owner, the aliases its sent folders show (core/aliases.py) go to aliases.v1 at the end."""
    summary = ImportSummary()
    sent_mail = SentMail(tenant, owner)
    async with RecordProducer(bootstrap, names, produce_timeout_s) as producer:
        for item in items:
            summary.read += 1
            try:
                if item.error:
                    raise MalformedMessage(item.error)
                if item.kind == "calendar":
                    events = parse_calendar(item.header, tenant=tenant, calendar=owner, source_id=item.source_id)
                    for event in events:
                        await producer.send_event(event)
                    summary.calendars += 1
                else:
                    message = parse_message(
                        item.header, tenant=tenant, mailbox=owner, folder=item.folder, source_id=item.source_id
                    )
                    await producer.send_message(message)
                    sent_mail.note(message)
                    summary.produced += 1
            except (MalformedMessage, MalformedCalendar) as exc:
                summary.reject(item.source_id, str(exc))
                await producer.send_dead_letter(tenant, "import", item.source_id, str(exc))
            if progress and summary.read % _PROGRESS_EVERY == 0:
                progress(summary)
        for alias in sent_mail.aliases():
            await producer.send_alias(alias)
            summary.aliases.append(alias.alias)
        await producer.flush()
    if progress:
        progress(summary)
    return summary


def iter_paths(paths: Iterable[Path]) -> Iterable[RawItem]:
    for path in paths:
        yield from iter_path(path)
