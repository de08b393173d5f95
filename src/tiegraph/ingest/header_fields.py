"""Header fields from a provider API -> MailMessage, and event fields -> CalendarEvent records.

The cloud connectors get headers as (name, value) pairs and meetings as JSON fields, not as
RFC 5322 or iCalendar bytes. Rather than a second parser, both are assembled into the bytes the
file importer reads and handed to the same parsers (headers.parse_message, ics.parse_calendar),
so the dedupe key of a message and the key of a meeting occurrence match the file import exactly.
Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email.header import Header
from zoneinfo import ZoneInfo

import icalendar

from tiegraph.core.records import CalendarEvent, MailMessage
from tiegraph.ingest.headers import parse_message
from tiegraph.ingest.ics import parse_calendar

_FIELD_NAME = re.compile(r"^[!-9;-~]+$")  # RFC 5322 ftext: printable ASCII except ":"
_LINE_BREAK = re.compile(r"[\r\n]+")


def header_line(name: str, value: str) -> bytes | None:
    """One unfolded header line, or None for a name that is not a header field name.

    Providers hand out decoded Unicode values; they are re-encoded as RFC 2047 words, which
    parse_message decodes back to the same text the file import sees.
    """
    if not _FIELD_NAME.match(name):
        return None
    text = _LINE_BREAK.sub(" ", value)
    if not text.isascii():
        text = Header(text, "utf-8", maxlinelen=100_000).encode(linesep=" ")
    return f"{name}: {text}".encode("ascii", "replace")


def message_from_headers(
    headers: Iterable[tuple[str, str]], *, tenant: str, mailbox: str, folder: str, source_id: str
) -> MailMessage:
    """parse_message on a header block assembled from (name, value) pairs (MalformedMessage if unusable)."""
    lines = [line for name, value in headers if (line := header_line(name, value)) is not None]
    return parse_message(b"\r\n".join(lines), tenant=tenant, mailbox=mailbox, folder=folder, source_id=source_id)


@dataclass
class EventFields:
    """The parts of a provider's event that a CalendarEvent keeps (no title, no description)."""

    uid: str
    start: datetime | date
    end: datetime | date | None
    organizer: tuple[str, str] | None = None  # (email, name)
    attendees: list[tuple[str, str, str]] = field(default_factory=list)  # (email, name, PARTSTAT)
    status: str = "CONFIRMED"  # CONFIRMED, TENTATIVE, CANCELLED
    sequence: int = 0
    recurrence: list[str] = field(default_factory=list)  # "RRULE:...", "EXDATE:..." lines as Google gives them
    recurrence_id: datetime | date | None = None  # the original start of one overridden occurrence


def _address_property(email: str, name: str, params: dict[str, str]) -> icalendar.vCalAddress:
    prop = icalendar.vCalAddress(f"mailto:{email}")
    if name:
        prop.params["CN"] = name
    prop.params.update(params)
    return prop


def _writable(value: datetime | date) -> datetime | date:
    """Named zones are written as TZID; a bare UTC offset has no iCalendar name, so it goes as UTC."""
    if isinstance(value, datetime) and value.tzinfo is not None and not isinstance(value.tzinfo, ZoneInfo):
        return value.astimezone(UTC)
    return value


def calendar_from_fields(fields: EventFields) -> bytes:
    """An iCalendar file with one VEVENT carrying `fields` (series rules copied as they came)."""
    event = icalendar.Event()
    event.add("UID", fields.uid)
    event.add("DTSTART", _writable(fields.start))
    if fields.end is not None:
        event.add("DTEND", _writable(fields.end))
    if fields.recurrence_id is not None:
        event.add("RECURRENCE-ID", _writable(fields.recurrence_id))
    event.add("STATUS", fields.status.upper())
    event.add("SEQUENCE", fields.sequence)
    if fields.organizer is not None:
        event.add("ORGANIZER", _address_property(*fields.organizer, {}))
    for email, name, partstat in fields.attendees:
        event.add("ATTENDEE", _address_property(email, name, {"PARTSTAT": partstat}))
    calendar = icalendar.Calendar()
    calendar.add("PRODID", "-//tiegraph//cloud connector//EN")
    calendar.add("VERSION", "2.0")
    calendar.add_component(event)
    body: bytes = calendar.to_ical()
    if fields.recurrence:  # RRULE/EXDATE/RDATE lines are iCalendar already: insert them verbatim
        rules = "".join(_LINE_BREAK.sub(" ", line).strip() + "\r\n" for line in fields.recurrence)
        body = body.replace(b"END:VEVENT", rules.encode("utf-8") + b"END:VEVENT", 1)
    return body


def events_from_fields(fields: EventFields, *, tenant: str, calendar: str, source_id: str) -> list[CalendarEvent]:
    """The meeting occurrences of one provider event, expanded as ics.parse_calendar does (bounded)."""
    return parse_calendar(calendar_from_fields(fields), tenant=tenant, calendar=calendar, source_id=source_id)
