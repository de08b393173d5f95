"""Test mail for the fakes: a small set of our own, and headers of real messages from ../shared/data."""

from __future__ import annotations

import re
from email.header import decode_header, make_header
from email.parser import BytesHeaderParser
from email.policy import compat32
from functools import partial
from pathlib import Path
from typing import Any

from tiegraph.ingest.files import iter_path

_FOLD = re.compile(r"\r?\n(?=[ \t])")


def own_messages(count: int) -> list[list[tuple[str, str]]]:
    """`count` distinct messages with the header shapes that matter: replies, lists, Unicode names."""
    found = []
    for n in range(count):
        headers = [
            ("From", f"Ana Muñoz <ana{n % 3}@example.org>" if n % 4 == 0 else f"bob{n % 5}@example.com"),
            ("To", f"owner@example.org, Carol <carol{n % 2}@example.net>"),
            ("Date", f"Mon, {1 + n % 28:02d} Jun 2026 {n % 24:02d}:{n % 60:02d}:00 +0200"),
            ("Subject", ("Re: " if n % 3 else "") + f"Plan für Quartal {n}"),
            ("Message-ID", f"<msg-{n}@example.org>"),
        ]
        if n % 3:
            headers.append(("In-Reply-To", f"<msg-{n - 1}@example.org>"))
        if n % 7 == 6:
            headers += [("List-Id", "<team.example.org>"), ("Precedence", "list")]
        if n % 5 == 2:
            headers.append(("Cc", "=?utf-8?q?J=C3=BCrgen?= <juergen@example.de>"))
        found.append(headers)
    return found


def header_pairs(raw: bytes) -> list[tuple[str, str]]:
    """(name, value) pairs as Gmail's API hands them out: unfolded, encoded words left as they are."""
    message = BytesHeaderParser(policy=compat32).parsebytes(raw)
    return [(name, _FOLD.sub("", str(value))) for name, value in message.items()]


def decoded(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The same pairs with RFC 2047 words decoded to Unicode, as some provider APIs hand them out."""
    found = []
    for name, value in pairs:
        try:
            found.append((name, str(make_header(decode_header(value)))))
        except (UnicodeError, LookupError, ValueError):
            found.append((name, value))
    return found


def real_messages(folder: Path) -> list[tuple[bytes, list[tuple[str, str]]]]:
    """(raw header block, header pairs) of every message in a folder of mbox files."""
    return [(i.header, header_pairs(i.header)) for i in iter_path(folder) if i.header and i.kind == "mail"]


def google_event(
    event_id: str,
    *,
    start: str,
    end: str,
    attendees: dict[str, str],
    zone: str = "Europe/Zurich",
    **extra: object,
) -> dict[str, object]:
    """A Google Calendar event resource as events.list returns it (attendee email -> responseStatus)."""
    return {
        "kind": "calendar#event",
        "id": event_id,
        "iCalUID": f"{event_id}@google.com",
        "status": "confirmed",
        "sequence": 0,
        "start": {"dateTime": start, "timeZone": zone},
        "end": {"dateTime": end, "timeZone": zone},
        "organizer": {"email": "owner@example.org", "displayName": "Owner", "self": True},
        "attendees": [{"email": email, "responseStatus": status} for email, status in attendees.items()],
        **extra,
    }


def _google_time(component: Any, name: str) -> dict[str, str]:
    value = component.decoded(name)
    if not hasattr(value, "hour"):
        return {"date": value.isoformat()}
    zone = getattr(value.tzinfo, "key", None)  # a named zone, as Google gives recurring events
    return {"dateTime": value.isoformat(), **({"timeZone": zone} if zone else {})}


_STATUS = {"ACCEPTED": "accepted", "DECLINED": "declined", "TENTATIVE": "tentative"}


def google_events_from_ics(path: Path) -> list[dict[str, object]]:
    """Real invitations (.ics) as the Calendar API would list them: one resource per VEVENT."""
    import icalendar

    found: list[dict[str, object]] = []
    for n, component in enumerate(icalendar.Calendar.from_ical(path.read_bytes()).walk("VEVENT")):
        when = partial(_google_time, component)

        attendees = component.get("ATTENDEE") or []
        event: dict[str, object] = {
            "id": f"{path.stem}-{n}",
            "iCalUID": str(component["UID"]),
            "status": str(component.get("STATUS", "CONFIRMED")).lower(),
            "sequence": int(component.get("SEQUENCE", 0)),
            "start": when("DTSTART"),
            "end": when("DTEND") if component.get("DTEND") else when("DTSTART"),
            "attendees": [
                {
                    "email": str(a).split(":", 1)[1],
                    "responseStatus": _STATUS.get(str(a.params.get("PARTSTAT")), "needsAction"),
                }
                for a in (attendees if isinstance(attendees, list) else [attendees])
            ],
        }
        if component.get("ORGANIZER"):
            event["organizer"] = {"email": str(component["ORGANIZER"]).split(":", 1)[1]}
        if component.get("RRULE"):
            event["recurrence"] = ["RRULE:" + component["RRULE"].to_ical().decode()]
        if component.get("RECURRENCE-ID"):
            event["recurringEventId"] = "series-" + str(component["UID"])
            original = component.decoded("RECURRENCE-ID")
            event["originalStartTime"] = {"dateTime": original.isoformat()}
        found.append(event)
    return found
