"""Google Calendar connector against the local fake Google through the real client: sync tokens,
410, series expansion, cancellations, throttling and tokens. Unit-style: no Kafka, no Neo4j."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from tests.fakes.google_fake import GoogleFake
from tests.fakes.samples import google_event, google_events_from_ics
from tests.stack import shared_data
from tiegraph.ingest import gcal
from tiegraph.ingest.base import Connector, ConnectorAuthError, ConnectorThrottled, Cursor, SyncBatch
from tiegraph.ingest.ics import parse_calendar

OWNER = "owner@example.org"


@pytest.fixture
def fake() -> Iterator[GoogleFake]:
    with GoogleFake().running() as server:
        assert isinstance(server, GoogleFake)
        yield server


def connect(fake: GoogleFake) -> Connector:
    config = {"owner": OWNER, "tenant": "acme", "api_endpoint": fake.url}
    return gcal.from_config(config, {"authorized_user": fake.authorized_user()})


async def drain(connector: Connector, cursor: Cursor) -> list[SyncBatch]:
    return [batch async for batch in connector.sync(cursor)]


def meetings(count: int) -> list[dict[str, object]]:
    return [
        google_event(
            f"ev{n}",
            start=f"2026-06-{1 + n % 28:02d}T10:00:00+02:00",
            end=f"2026-06-{1 + n % 28:02d}T11:00:00+02:00",
            attendees={f"guest{n % 4}@example.com": "accepted", "carol@example.net": "declined"},
        )
        for n in range(count)
    ]


async def test_full_pass_pages_then_a_sync_token_reads_only_changes(fake: GoogleFake) -> None:
    for event in meetings(300):
        fake.put_event(event)
    batches = await drain(connect(fake), {})
    assert [len(b.events) for b in batches] == [250, 50]
    assert [b.backfilling for b in batches] == [True, False]
    assert batches[0].cursor["page_token"] and batches[-1].cursor == {"sync_token": "sync-300"}
    first = batches[0].events[0]
    assert first.calendar == OWNER and first.organizer is not None and first.organizer.email == OWNER
    assert {(a.email, a.status) for a in first.attendees} == {
        ("guest0@example.com", "accepted"),
        ("carol@example.net", "declined"),
    }
    fake.put_event(
        {**meetings(1)[0], "sequence": 1, "attendees": [{"email": "dan@example.com", "responseStatus": "tentative"}]}
    )
    changes = await drain(connect(fake), batches[-1].cursor)
    assert [(e.uid, e.sequence, [a.status for a in e.attendees]) for b in changes for e in b.events] == [
        ("ev0@google.com", 1, ["tentative"])
    ]
    assert changes[-1].cursor == {"sync_token": "sync-301"}


async def test_a_series_is_expanded_in_its_zone_and_one_occurrence_is_cancelled_or_moved(fake: GoogleFake) -> None:
    series = google_event(
        "weekly",
        start="2026-03-16T10:00:00+01:00",
        end="2026-03-16T10:30:00+01:00",
        attendees={"bob@example.com": "accepted"},
        recurrence=["RRULE:FREQ=WEEKLY;COUNT=4"],
    )
    fake.put_event(series)
    first = await drain(connect(fake), {})
    local = [datetime.fromtimestamp(e.start, ZoneInfo("Europe/Zurich")).hour for e in first[0].events]
    assert local == [10, 10, 10, 10]  # across the switch to summer time on 29 March
    keys = [e.key for e in first[0].events]
    # One occurrence deleted (Google lists only ids for it), another moved an hour later.
    original = {"dateTime": "2026-03-23T10:00:00+01:00", "timeZone": "Europe/Zurich"}
    fake.put_event(
        {"id": "weekly_20260323", "status": "cancelled", "recurringEventId": "weekly", "originalStartTime": original}
    )
    moved = google_event(
        "weekly_20260330",
        start="2026-03-30T11:00:00+02:00",
        end="2026-03-30T11:30:00+02:00",
        attendees={"bob@example.com": "accepted"},
        recurringEventId="weekly",
        originalStartTime={"dateTime": "2026-03-30T10:00:00+02:00", "timeZone": "Europe/Zurich"},
    )
    fake.put_event({**moved, "iCalUID": "weekly@google.com"})
    changed = [e for b in await drain(connect(fake), first[-1].cursor) for e in b.events]
    assert [(e.key, e.cancelled) for e in changed] == [(keys[1], True), (keys[2], False)]
    assert datetime.fromtimestamp(changed[1].start, ZoneInfo("Europe/Zurich")).hour == 11


async def test_a_deleted_meeting_listed_by_id_only_is_looked_up_and_cancelled(fake: GoogleFake) -> None:
    event = meetings(1)[0]
    fake.put_event(event)
    cursor = (await drain(connect(fake), {}))[-1].cursor
    fake.delete_event("ev0")
    batches = await drain(connect(fake), cursor)
    assert [(e.uid, e.cancelled) for b in batches for e in b.events] == [("ev0@google.com", True)]


async def test_an_expired_sync_token_restarts_the_full_pass_without_duplicates(fake: GoogleFake) -> None:
    for event in meetings(260):
        fake.put_event(event)
    cursor = (await drain(connect(fake), {}))[-1].cursor
    fake.put_event(google_event("late", start="2026-07-01T09:00:00Z", end="2026-07-01T10:00:00Z", attendees={}))
    fake.expire_sync_tokens()
    batches = await drain(connect(fake), cursor)
    keys = [e.key for b in batches for e in b.events]
    assert batches[0].backfilling and len(keys) == len(set(keys)) == 261
    assert batches[-1].cursor == {"sync_token": "sync-261"}


async def test_throttling_keeps_the_cursor_and_reports_retry_after(fake: GoogleFake) -> None:
    for event in meetings(300):
        fake.put_event(event)
    connector = connect(fake)
    stream = aiter(connector.sync({}))
    first = await anext(stream)
    fake.fail("events", 429, retry_after=12)
    with pytest.raises(ConnectorThrottled) as throttled:
        await anext(stream)
    assert throttled.value.retry_after == 12.0
    fake.fail("events", 403, body={"error": {"code": 403, "errors": [{"reason": "rateLimitExceeded"}]}})
    with pytest.raises(ConnectorThrottled):
        await drain(connect(fake), first.cursor)
    rest = await drain(connect(fake), first.cursor)  # the saved cursor still reads the second page
    assert len(first.events) + sum(len(b.events) for b in rest) == 300


async def test_expired_access_token_is_refreshed_and_a_revoked_one_is_an_auth_error(fake: GoogleFake) -> None:
    for event in meetings(3):
        fake.put_event(event)
    cursor = (await drain(connect(fake), {}))[-1].cursor
    fake.put_event(google_event("new", start="2026-07-01T09:00:00Z", end="2026-07-01T10:00:00Z", attendees={}))
    connector = connect(fake)
    await drain(connector, cursor)
    fake.expire_access_tokens()
    assert len((await drain(connector, cursor))[0].events) == 1
    fake.revoke_refresh_tokens()
    with pytest.raises(ConnectorAuthError, match=f"refresh token for {OWNER} was revoked.*reconnect"):
        await drain(connector, cursor)


async def test_an_event_without_start_is_a_reject_not_a_stop(fake: GoogleFake) -> None:
    fake.put_event(meetings(1)[0])
    fake.put_event({"id": "odd", "iCalUID": "odd@google.com", "status": "confirmed"})
    batches = await drain(connect(fake), {})
    assert len(batches[0].events) == 1
    assert batches[0].rejects == [(f"gcal:{OWNER}:odd", "event odd has no iCalUID or start")]


@pytest.mark.shared_data
async def test_real_invitations_give_the_same_meeting_keys_as_the_file_import(fake: GoogleFake) -> None:
    expected = set()
    for path in sorted(shared_data("calendar", "itip").glob("*.ics")):
        for event in google_events_from_ics(path):
            fake.put_event(event)
        expected |= {(e.key, e.start, e.status) for e in parse_calendar(path.read_bytes(), tenant="acme")}
    batches = await drain(connect(fake), {})
    ours = {(e.key, e.start, e.status) for b in batches for e in b.events}
    assert len(expected) > 12 and ours == expected


async def test_an_all_day_event_spans_its_dates(fake: GoogleFake) -> None:
    event = {**meetings(1)[0], "start": {"date": "2026-06-01"}, "end": {"date": "2026-06-03"}}
    fake.put_event(event)
    [found] = [e for b in await drain(connect(fake), {}) for e in b.events]
    assert (found.start, found.end - found.start) == (
        datetime(2026, 6, 1, tzinfo=ZoneInfo("UTC")).timestamp(),
        2 * 86400,
    )
