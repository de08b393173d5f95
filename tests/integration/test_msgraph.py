"""Microsoft Graph connector against a local fake Graph and identity platform over real HTTP:
delta paging per mail folder and calendar, expired delta state, Retry-After, token renewal and
refused credentials. Unit-style: no Kafka, no Neo4j."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.fakes.graph_fake import CLIENT_ID, CLIENT_SECRET, DIRECTORY, GraphFake, graph_event, graph_message
from tiegraph.ingest import msgraph
from tiegraph.ingest.base import (
    Connector,
    ConnectorAuthError,
    ConnectorThrottled,
    Cursor,
    RotatesSecret,
    SyncBatch,
)
from tiegraph.ingest.headers import parse_message

OWNER = "owner@contoso.com"


@pytest.fixture
def fake() -> Iterator[GraphFake]:
    with GraphFake().running() as server:
        assert isinstance(server, GraphFake)
        yield server


def connect(fake: GraphFake, secret: dict[str, Any] | None = None) -> Connector:
    config = {
        "owner": OWNER,
        "tenant": "acme",
        "client_id": CLIENT_ID,
        "directory_tenant": DIRECTORY,
        "api_endpoint": fake.url + "v1.0",
        "authority": fake.url.rstrip("/"),
    }
    return msgraph.from_config(config, secret or {"client_secret": CLIENT_SECRET})


async def drain(connector: Connector, cursor: Cursor) -> list[SyncBatch]:
    try:
        return [batch async for batch in connector.sync(cursor)]
    finally:
        await connector.close()


def fill(fake: GraphFake, inbox: int, sent: int = 0, events: int = 0) -> None:
    for n in range(inbox):
        fake.put("inbox", graph_message(n))
    for n in range(sent):
        fake.put("sentitems", graph_message(10_000 + n, sender=OWNER))
    for n in range(events):
        fake.put("events", graph_event(n))


async def test_first_round_pages_each_folder_and_the_calendar_then_delta_links_read_changes(fake: GraphFake) -> None:
    fill(fake, inbox=250, sent=20, events=30)
    batches = await drain(connect(fake), {})
    assert [(len(b.messages), len(b.events)) for b in batches] == [(100, 0), (100, 0), (50, 0), (20, 0), (0, 30)]
    assert [b.backfilling for b in batches] == [True, True, False, False, False]
    assert set(batches[0].cursor) == {"messages:inbox"} and "next_link" in batches[0].cursor["messages:inbox"]
    final = batches[-1].cursor
    assert all("delta_link" in final[r] for r in ("messages:inbox", "messages:sentitems", "events"))
    assert {m.folder for b in batches for m in b.messages} == {"inbox", "sentitems"}
    assert len({m.dedupe_key for b in batches for m in b.messages}) == 270
    meeting = batches[-1].events[0]
    assert {(a.email, a.status) for a in meeting.attendees} == {
        ("dan0@example.com", "accepted"),
        ("eve@example.com", "declined"),
    }
    start, end = fake.windows[0]
    assert start < datetime.now(UTC).isoformat() < end  # a bounded window around now
    fake.put("inbox", graph_message(500))
    fake.put("events", graph_event(0, isCancelled=True))
    fake.remove("inbox", "AAMk000001")
    changes = await drain(connect(fake), final)
    assert [m.message_id for b in changes for m in b.messages] == ["graph-500@contoso.com"]
    assert [(e.uid, e.cancelled) for b in changes for e in b.events] == [
        ("040000008200E00074C5B7101A82E00800000000", True)
    ]
    assert not any(b.backfilling for b in changes)


async def test_records_equal_the_file_import_of_the_same_message(fake: GraphFake) -> None:
    fill(fake, inbox=8)
    ours = {m.message_id: m for b in await drain(connect(fake), {}) for m in b.messages}
    for n in range(8):
        item = graph_message(n)
        sender = item["from"]["emailAddress"]
        name = "=?utf-8?q?Bob_M=C3=BCller?= " if sender["name"] else ""
        cc = f"Cc: {item['ccRecipients'][0]['emailAddress']['address']}\r\n" if item["ccRecipients"] else ""
        date = datetime.fromisoformat(item["sentDateTime"]).strftime("%a, %d %b %Y %H:%M:%S +0000")
        raw = (
            f"From: {name}<{sender['address']}>\r\nTo: Owner <{OWNER}>\r\n{cc}Date: {date}\r\n"
            f"Subject: {item['subject']}\r\nMessage-ID: {item['internetMessageId']}\r\n"
        ).encode()
        files = parse_message(raw, tenant="acme")
        mine = ours[files.message_id]
        assert (mine.dedupe_key, mine.sender, mine.is_reply, mine.thread_hash) == (
            files.dedupe_key, files.sender, files.is_reply, files.thread_hash,
        )  # fmt: skip


async def test_expired_delta_state_restarts_that_resource_without_duplicates(fake: GraphFake) -> None:
    fill(fake, inbox=150, events=5)
    cursor = (await drain(connect(fake), {}))[-1].cursor
    fake.put("inbox", graph_message(900))
    fake.expire_delta_tokens()
    batches = await drain(connect(fake), cursor)
    inbox = [m.dedupe_key for b in batches for m in b.messages if m.folder == "inbox"]
    assert len(inbox) == len(set(inbox)) == 151
    assert batches[0].backfilling
    assert all("delta_link" in batches[-1].cursor[r] for r in ("messages:inbox", "messages:sentitems", "events"))


async def test_429_raises_throttled_with_retry_after_and_the_saved_cursor_resumes(fake: GraphFake) -> None:
    fill(fake, inbox=250)
    stream = aiter(connect(fake).sync({}))
    first = await anext(stream)
    fake.fail("messages", 429, retry_after=17, body={"error": {"code": "TooManyRequests", "message": "slow down"}})
    with pytest.raises(ConnectorThrottled) as throttled:
        await anext(stream)
    assert throttled.value.retry_after == 17.0
    fake.fail("messages", 503, retry_after=3)
    with pytest.raises(ConnectorThrottled):
        await drain(connect(fake), first.cursor)
    rest = await drain(connect(fake), first.cursor)
    assert len({m.dedupe_key for b in [first, *rest] for m in b.messages}) == 250


async def test_an_expired_access_token_is_renewed_once_mid_sync(fake: GraphFake) -> None:
    fill(fake, inbox=250)
    connector = connect(fake)
    stream = aiter(connector.sync({}))
    first = await anext(stream)
    fake.access_tokens.clear()
    rest = [b async for b in stream]
    await connector.close()
    assert len({m.dedupe_key for b in [first, *rest] for m in b.messages}) == 250 and fake.issued == 2


async def test_a_wrong_client_secret_is_an_auth_error_saying_what_to_fix(fake: GraphFake) -> None:
    with pytest.raises(ConnectorAuthError, match=f"refused app {CLIENT_ID}.*secrets expire"):
        await drain(connect(fake, {"client_secret": "wrong"}), {})


def test_a_secret_without_credentials_is_refused_before_any_request() -> None:
    config = {"owner": OWNER, "tenant": "acme", "client_id": CLIENT_ID, "directory_tenant": DIRECTORY}
    with pytest.raises(ConnectorAuthError, match=r"needs 'client_secret'.*or 'token'"):
        msgraph.from_config(config, {"token": {"access_token": "x"}})


async def test_delegated_refresh_token_is_used_and_a_revoked_one_says_reconnect(fake: GraphFake) -> None:
    fill(fake, inbox=3)
    batches = await drain(connect(fake, {"token": {"refresh_token": "fake-graph-refresh"}}), {})
    assert sum(len(b.messages) for b in batches) == 3
    fake.refresh_tokens.clear()
    with pytest.raises(ConnectorAuthError, match=f"refresh token for {OWNER} was revoked.*reconnect"):
        await drain(connect(fake, {"token": {"refresh_token": "fake-graph-refresh"}}), {})


async def test_each_rotated_refresh_token_goes_to_the_hook_with_the_rest_of_the_secret(fake: GraphFake) -> None:
    fill(fake, inbox=3)
    connector = connect(fake, {"token": {"refresh_token": "fake-graph-refresh", "access_token": "stale"}})
    assert isinstance(connector, RotatesSecret)
    stored: list[dict[str, Any]] = []

    async def store(secret: dict[str, Any]) -> None:
        stored.append(secret)

    connector.on_secret_rotated(store)
    await drain(connector, {})  # "stale" is refused (401), the refresh token is used and rotated
    assert stored == [{"token": {"refresh_token": f"fake-graph-refresh-{fake.issued}"}}]
    fake.refresh_tokens.discard("fake-graph-refresh")  # the old one is retired; the stored one works
    batches = await drain(connect(fake, stored[-1]), {})
    assert sum(len(b.messages) for b in batches) == 3


async def test_an_app_secret_is_never_rotated(fake: GraphFake) -> None:
    connector = connect(fake)
    stored: list[dict[str, Any]] = []

    async def store(secret: dict[str, Any]) -> None:
        stored.append(secret)

    assert isinstance(connector, RotatesSecret)
    connector.on_secret_rotated(store)
    await drain(connector, {})
    assert stored == [] and fake.issued == 1


async def test_missing_permission_is_an_auth_error_and_bad_items_are_rejects(fake: GraphFake) -> None:
    fake.put("inbox", {**graph_message(1), "sentDateTime": None})
    fake.put("events", {**graph_event(1), "start": None})
    batches = await drain(connect(fake), {})
    rejects = [reason for b in batches for _, reason in b.rejects]
    assert rejects == ["no Date header", "event AAMkEv00001 has no iCalUId or start"]
    fake.fail("messages", 403, body={"error": {"code": "ErrorAccessDenied", "message": "Access is denied."}})
    with pytest.raises(ConnectorAuthError, match=r"Mail\.ReadBasic\.All"):
        await drain(connect(fake), {})


async def test_series_occurrences_keep_their_original_start_and_a_cancelled_one_is_cancelled(fake: GraphFake) -> None:
    for day, cancelled in ((1, False), (8, True)):
        start = f"2026-06-{day:02d}T09:00:00.0000000"
        occurrence = graph_event(day, type="occurrence", seriesMasterId="AAMkSeries", isCancelled=cancelled)
        fake.put(
            "events", {**occurrence, "originalStart": f"2026-06-{day:02d}T09:00:00Z", "start": {"dateTime": start}}
        )
    events = [e for b in await drain(connect(fake), {}) for e in b.events]
    assert [(e.recurrence_id, e.cancelled) for e in events] == [
        ("2026-06-01T09:00:00+00:00", False),
        ("2026-06-08T09:00:00+00:00", True),
    ]
