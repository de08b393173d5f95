"""Meetings: copies count once, declines and cancellations do not count, updates replace."""

from __future__ import annotations

from tiegraph.core.meetings import plan_meeting
from tiegraph.core.model import TieModel
from tiegraph.core.records import Address, Attendee, CalendarEvent
from tiegraph.ingest.ics import parse_calendar

from .conftest import shared_file

MODEL = TieModel()


def event(sequence: int = 0, status: str = "confirmed", method: str = "REQUEST", **states: str) -> CalendarEvent:
    attendees = tuple(Attendee(f"{name}@x.example", status=state) for name, state in states.items())
    return CalendarEvent(
        tenant="t",
        calendar="",
        source_id="s",
        uid="u1",
        recurrence_id="",
        organizer=Address("org@x.example"),
        attendees=attendees,
        start=1_700_000_000.0,
        end=1_700_003_600.0,
        status=status,
        sequence=sequence,
        method=method,
    )


def test_a_meeting_links_every_participant_pair_divided_by_group_size() -> None:
    state, found = plan_meeting(None, event(ann="accepted", bob="needs-action"), MODEL)
    assert state is not None
    assert sorted((i.a, i.b) for i in found) == [
        ("ann@x.example", "bob@x.example"),
        ("ann@x.example", "org@x.example"),
        ("bob@x.example", "org@x.example"),
    ]
    assert all(i.weight == MODEL.kind_weights["meeting"] / 2 for i in found)


def test_a_second_copy_changes_nothing_and_a_stale_version_is_ignored() -> None:
    state, _ = plan_meeting(None, event(sequence=2, ann="accepted"), MODEL)
    assert plan_meeting(state, event(sequence=2, ann="accepted"), MODEL) == (None, [])
    assert plan_meeting(state, event(sequence=1, ann="accepted", bob="accepted"), MODEL) == (None, [])


def test_declined_attendees_did_not_meet_and_a_stale_copy_does_not_undo_it() -> None:
    state, found = plan_meeting(None, event(ann="accepted", bob="declined"), MODEL)
    assert all("bob@x.example" not in (i.a, i.b) for i in found)
    again, more = plan_meeting(state, event(ann="accepted", bob="needs-action"), MODEL)
    assert again is None and more == []


def test_cancellation_retracts_exactly_what_was_counted() -> None:
    state, added = plan_meeting(None, event(ann="accepted"), MODEL)
    _, retracted = plan_meeting(state, event(sequence=1, status="cancelled", method="CANCEL", ann="accepted"), MODEL)
    assert sorted((i.a, i.b, -i.weight, i.at) for i in retracted) == sorted((i.a, i.b, i.weight, i.at) for i in added)
    assert {i.id for i in retracted}.isdisjoint({i.id for i in added})


def test_real_itip_series_expand_and_overrides_share_the_occurrence_key() -> None:
    series = parse_calendar(shared_file("calendar", "itip", "003.ics").read_bytes(), tenant="t")
    cancel = parse_calendar(shared_file("calendar", "itip", "005.ics").read_bytes(), tenant="t")
    assert len(series) > 10 and len(cancel) == 1 and cancel[0].cancelled
    assert cancel[0].key in {e.key for e in series}
