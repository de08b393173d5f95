"""iCalendar (.ics, iTIP) -> CalendarEvent records: participants and times only.

Recurring series are expanded into occurrences (bounded), each keyed by its original start, so an
override or a CANCEL of one occurrence (RECURRENCE-ID) replaces exactly that occurrence.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import icalendar
from dateutil.rrule import rrulestr

from tiegraph.core.identity import InvalidAddress, display_name, normalize_email
from tiegraph.core.records import Address, Attendee, CalendarEvent

MAX_CALENDAR_BYTES = 10 << 20
MAX_OCCURRENCES = 200  # of one series
MAX_SERIES_SPAN = timedelta(days=3 * 365)  # a series with no end is expanded this far from its start


class MalformedCalendar(ValueError):
    """The bytes are not a usable calendar; the text says why."""


def _utc(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, date):  # an all-day event
        return datetime.combine(value, time(0), tzinfo=UTC)
    raise MalformedCalendar(f"not a date or time: {value!r}")


def _address(prop: Any) -> tuple[str, str] | None:
    try:
        email = normalize_email(str(prop).removeprefix("mailto:").removeprefix("MAILTO:"))
    except InvalidAddress:
        return None
    return email, display_name(str(prop.params.get("CN", ""))) if hasattr(prop, "params") else ""


def _attendees(component: Any) -> tuple[Attendee, ...]:
    raw = component.get("ATTENDEE")
    props = raw if isinstance(raw, list) else [raw] if raw is not None else []
    found: dict[str, Attendee] = {}
    for prop in props:
        address = _address(prop)
        if address is not None:
            status = str(prop.params.get("PARTSTAT", "NEEDS-ACTION")).lower()
            found[address[0]] = Attendee(email=address[0], name=address[1], status=status)
    return tuple(found.values())


def _occurrences(component: Any, start: datetime) -> list[datetime]:
    rule = component.get("RRULE")
    if rule is None:
        return [start]
    rules = rule if isinstance(rule, list) else [rule]
    text = "\n".join("RRULE:" + r.to_ical().decode() for r in rules)
    series: Iterable[datetime]
    try:
        series = rrulestr(text, dtstart=start, forceset=True)
    except ValueError:
        # UNTIL in local time with a zoned DTSTART: expand in local time, then restore the zone.
        naive = rrulestr(text, dtstart=start.replace(tzinfo=None), forceset=True)
        series = (o.replace(tzinfo=start.tzinfo) for o in naive)
    limit = start + MAX_SERIES_SPAN
    found: list[datetime] = []
    for occurrence in series:
        if occurrence > limit or len(found) >= MAX_OCCURRENCES:
            break
        found.append(occurrence)
    excluded = set()
    for exdate in (
        component.get("EXDATE", []) if isinstance(component.get("EXDATE"), list) else [component.get("EXDATE")]
    ):
        if exdate is not None:
            excluded |= {_utc(d.dt) for d in exdate.dts}
    return [o for o in found if _utc(o) not in excluded]


def parse_calendar(raw: bytes, *, tenant: str, calendar: str = "", source_id: str = "") -> list[CalendarEvent]:
    """Every meeting occurrence in an iCalendar file."""
    if len(raw) > MAX_CALENDAR_BYTES:
        raise MalformedCalendar(f"calendar larger than {MAX_CALENDAR_BYTES} bytes")
    try:
        cal = icalendar.Calendar.from_ical(raw)
    except (ValueError, IndexError, KeyError, TypeError) as exc:
        raise MalformedCalendar(f"not an iCalendar file: {str(exc)[:120]}") from exc
    method = str(cal.get("METHOD", "")).upper()
    components = cal.walk("VEVENT")
    if not components:
        raise MalformedCalendar("no VEVENT in the calendar")
    events: list[CalendarEvent] = []
    problems: list[str] = []
    for component in components:  # one broken VEVENT does not sink the others
        try:
            events.extend(_events_of(component, tenant=tenant, calendar=calendar, source_id=source_id, method=method))
        except MalformedCalendar as exc:
            problems.append(str(exc))
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            problems.append(f"unusable VEVENT: {str(exc)[:120]}")
    if not events:
        raise MalformedCalendar(problems[0])
    return events


def _events_of(component: Any, *, tenant: str, calendar: str, source_id: str, method: str) -> list[CalendarEvent]:
    uid = str(component.get("UID", "")).strip()
    if not uid or component.get("DTSTART") is None:
        raise MalformedCalendar("VEVENT without UID or DTSTART")
    start = component.decoded("DTSTART")
    start_utc = _utc(start)
    duration = (
        _utc(component.decoded("DTEND")) - start_utc if component.get("DTEND") is not None else timedelta(hours=1)
    )
    organizer = _address(component.get("ORGANIZER")) if component.get("ORGANIZER") is not None else None
    template = CalendarEvent(
        tenant=tenant,
        calendar=calendar,
        source_id=source_id,
        uid=uid,
        recurrence_id="",
        organizer=Address(*organizer) if organizer else None,
        attendees=_attendees(component),
        start=0.0,
        end=0.0,
        status=str(component.get("STATUS", "CONFIRMED")).lower(),
        sequence=int(component.get("SEQUENCE", 0)),
        method=method,
    )

    def occurrence_at(at: datetime, rid: str) -> CalendarEvent:
        return replace(template, recurrence_id=rid, start=at.timestamp(), end=(at + duration).timestamp())

    if component.get("RECURRENCE-ID") is not None:  # an override or cancellation of one occurrence
        return [occurrence_at(start_utc, _utc(component.decoded("RECURRENCE-ID")).isoformat())]
    is_series = component.get("RRULE") is not None
    occurrences = _occurrences(component, start if isinstance(start, datetime) else start_utc)
    return [occurrence_at(_utc(o), _utc(o).isoformat() if is_series else "") for o in occurrences]
