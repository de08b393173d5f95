"""Meetings from .ics files through the real stack: copies count once, declines and cancellations
do not count, and iTIP updates replace what a meeting contributed."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.stack import Stack, shared_data

pytestmark = pytest.mark.integration


def _ics(
    uid: str, *, sequence: int, attendees: dict[str, str], method: str = "REQUEST", status: str = "CONFIRMED"
) -> str:
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//tiegraph tests//EN",
        f"METHOD:{method}",
        "BEGIN:VEVENT",
        f"UID:{uid}",
        "DTSTAMP:20250101T000000Z",
        "DTSTART:20250610T150000Z",
        "DTEND:20250610T160000Z",
        f"SEQUENCE:{sequence}",
        f"STATUS:{status}",
        "ORGANIZER;CN=Ann:mailto:ann@meet.example",
    ]
    lines += [f"ATTENDEE;PARTSTAT={state}:mailto:{email}" for email, state in attendees.items()]
    lines += ["END:VEVENT", "END:VCALENDAR", ""]
    return "\r\n".join(lines)


async def test_meetings_count_once_and_updates_replace(stack: Stack, api: httpx.AsyncClient, tmp_path: Path) -> None:
    key = stack.create_tenant("meet", "meet.example")
    people = {"bob@meet.example": "ACCEPTED", "cat@meet.example": "DECLINED"}
    (tmp_path / "1-m1-ann.ics").write_text(_ics("m1", sequence=0, attendees=people))
    (tmp_path / "2-m1-bob-copy.ics").write_text(_ics("m1", sequence=0, attendees=people))
    (tmp_path / "3-m2.ics").write_text(_ics("m2", sequence=0, attendees={"bob@meet.example": "ACCEPTED"}))
    (tmp_path / "4-m2-cancel.ics").write_text(
        _ics("m2", sequence=1, attendees={"bob@meet.example": "ACCEPTED"}, method="CANCEL", status="CANCELLED")
    )
    summary = json.loads(stack.cli("import", str(tmp_path), "--tenant", "meet", "--json").stdout)
    assert summary["calendars"] == 4 and summary["rejected"] == 0
    await stack.wait_caught_up()

    auth = {"Authorization": f"Bearer {key}"}
    tie = (
        await api.get("/v1/ties/ann@meet.example/bob@meet.example", params={"as_of": "2025-07-01"}, headers=auth)
    ).json()
    assert tie["evidence"]["meetings"] == 1  # m1 once despite two copies; m2 cancelled
    assert tie["evidence"]["reciprocity"] == pytest.approx(1.0)
    declined = await api.get("/v1/ties/ann@meet.example/cat@meet.example", headers=auth)
    assert declined.status_code == 404
    stats = (await api.get("/v1/stats", headers=auth)).json()
    assert stats["meetings"] == 2


async def test_real_itip_invitations_import_without_the_list_as_a_person(stack: Stack, api: httpx.AsyncClient) -> None:
    folder = shared_data("calendar", "itip")
    key = stack.create_tenant("itip", "canonical.com")
    summary = json.loads(stack.cli("import", str(folder), "--tenant", "itip", "--json").stdout)
    assert summary["calendars"] == 12 and summary["rejected"] == 0
    await stack.wait_caught_up()
    auth = {"Authorization": f"Bearer {key}"}
    contacts = (await api.get("/v1/people/john.johansen@canonical.com/contacts", headers=auth)).json()["contacts"]
    emails = {c["email"] for c in contacts}
    assert "apparmor@lists.ubuntu.com" not in emails
    assert {"georgia.garcia@canonical.com", "ryan.lee@canonical.com"} <= emails
    assert all(c["evidence"]["meetings"] > 0 for c in contacts)
    assert (await api.get("/v1/people/apparmor@lists.ubuntu.com", headers=auth)).status_code == 404
