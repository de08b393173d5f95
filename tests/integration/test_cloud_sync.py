"""Gmail, Google Calendar and Microsoft Graph end to end: `tiegraph mailboxes add <provider>` against the
local provider fakes (tests/fakes/), `tiegraph sync` into the real Kafka, the real worker and Neo4j, and the
result read back through `tiegraph mailboxes list --json` and the API. Credentials reach the CLI from a
token file or an environment variable, as an operator would give them."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.google_fake import GoogleFake
from tests.fakes.graph_fake import CLIENT_ID, CLIENT_SECRET, DIRECTORY, GraphFake, graph_event, graph_message
from tests.fakes.samples import google_event, own_messages
from tests.stack import Stack
from tiegraph.graph.mailboxes import MailboxRegistry
from tiegraph.graph.neo4j import GraphStore
from tiegraph.ingest.secrets import SecretBox

pytestmark = [pytest.mark.integration]

GOOGLE_OWNER, MS_OWNER = "owner@example.org", "owner@contoso.com"
GMAIL_COUNT, GCAL_COUNT, MS_INBOX, MS_SENT, MS_EVENTS = 130, 6, 120, 5, 4  # Gmail and Graph page at 100


@pytest.fixture
def google() -> Iterator[GoogleFake]:
    with GoogleFake().running() as server:
        assert isinstance(server, GoogleFake)
        for headers in own_messages(GMAIL_COUNT):
            server.add_message(headers)
        for n in range(GCAL_COUNT):
            server.put_event(
                google_event(
                    f"ev{n}",
                    start=f"2026-06-{n + 1:02d}T10:00:00",
                    end=f"2026-06-{n + 1:02d}T11:00:00",
                    attendees={GOOGLE_OWNER: "accepted", f"dan{n % 2}@example.com": "accepted"},
                )
            )
        yield server


@pytest.fixture
def microsoft() -> Iterator[GraphFake]:
    with GraphFake().running() as server:
        assert isinstance(server, GraphFake)
        for n in range(MS_INBOX):
            server.put("inbox", graph_message(n))
        for n in range(MS_SENT):
            server.put("sentitems", graph_message(10_000 + n, sender=MS_OWNER))
        for n in range(MS_EVENTS):
            server.put("events", graph_event(n))
        yield server


def _token_file(tmp_path: Path, content: dict[str, Any]) -> Path:
    path = tmp_path / "token.json"
    path.write_text(json.dumps(content))
    return path


def add_google(stack: Stack, provider: str, tenant: str, fake: GoogleFake, token_file: Path) -> None:
    stack.cli(
        "mailboxes", "add", provider, "--tenant", tenant, "--owner", GOOGLE_OWNER,
        "--token-file", str(token_file), "--api-endpoint", fake.url,
    )  # fmt: skip


def add_msgraph(
    stack: Stack, tenant: str, fake: GraphFake, *, secret: str = "", token_file: Path | None = None
) -> None:
    credentials = ["--token-file", str(token_file)] if token_file else ["--client-secret-env", "GRAPH_SECRET"]
    stack.cli(
        "mailboxes", "add", "msgraph", "--tenant", tenant, "--owner", MS_OWNER, "--client-id", CLIENT_ID,
        "--directory-tenant", DIRECTORY, "--api-endpoint", fake.url + "v1.0", "--authority", fake.url.rstrip("/"),
        *credentials, env={"GRAPH_SECRET": secret},
    )  # fmt: skip


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def stats(api: httpx.AsyncClient, key: str) -> dict[str, Any]:
    response = await api.get("/v1/stats", headers=_auth(key))
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    found.pop("tenant")
    return found


async def all_mailbox_views(
    stack: Stack, api: httpx.AsyncClient, tenant: str, key: str
) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """Each mailbox of `tenant` by id: as `mailboxes list --json` and as GET /v1/mailboxes show it."""
    listed = json.loads(stack.cli("mailboxes", "list", "--tenant", tenant, "--json").stdout)
    response = await api.get("/v1/mailboxes", headers=_auth(key))
    assert response.status_code == 200, response.text
    served = response.json()["mailboxes"]
    assert [m["id"] for m in listed] == [m["id"] for m in served]
    for view in listed + served:  # credentials are never shown
        assert CLIENT_SECRET not in json.dumps(view) and "fake-graph-refresh" not in json.dumps(view)
    return {a["id"]: (a, b) for a, b in zip(listed, served, strict=True)}


async def mailbox_views(stack: Stack, api: httpx.AsyncClient, tenant: str, key: str) -> tuple[dict[str, Any], ...]:
    """The one mailbox of `tenant`, listed and served."""
    (views,) = (await all_mailbox_views(stack, api, tenant, key)).values()
    return views


async def sync(stack: Stack, tenant: str, *, check: bool = True) -> str:
    result = stack.cli("sync", "--tenant", tenant, check=check)
    await stack.wait_caught_up()
    return result.stdout + result.stderr


# -- each provider, registered with the CLI, into the graph ----------------------------------------

Case = Callable[[Stack, str, Path, GoogleFake, GraphFake], None]
CASES: dict[str, tuple[Case, dict[str, int], tuple[str, str], int, int]] = {
    # provider: (add it, stats expected, a tie it must create, records in the registry's counts)
    "gmail": (
        lambda s, t, tmp, g, m: add_google(s, "gmail", t, g, _token_file(tmp, g.authorized_user())),
        {"messages": GMAIL_COUNT, "meetings": 0},
        (GOOGLE_OWNER, "bob1@example.com"),
        GMAIL_COUNT,
        0,
    ),
    "gcal": (
        lambda s, t, tmp, g, m: add_google(s, "gcal", t, g, _token_file(tmp, g.authorized_user())),
        {"messages": 0, "meetings": GCAL_COUNT},
        (GOOGLE_OWNER, "dan0@example.com"),
        0,
        GCAL_COUNT,
    ),
    "msgraph": (
        lambda s, t, tmp, g, m: add_msgraph(s, t, m, secret=CLIENT_SECRET),
        {"messages": MS_INBOX + MS_SENT, "meetings": MS_EVENTS},
        (MS_OWNER, "bob1@example.com"),
        MS_INBOX + MS_SENT,
        MS_EVENTS,
    ),
}


@pytest.mark.parametrize("provider", list(CASES))
async def test_a_mailbox_added_with_the_cli_syncs_into_the_graph_once(
    stack: Stack, api: httpx.AsyncClient, tmp_path: Path, google: GoogleFake, microsoft: GraphFake, provider: str
) -> None:
    add, expected, (a, b), messages, events = CASES[provider]
    tenant = f"cloud-{provider}"
    key = stack.create_tenant(tenant, "example.org", "contoso.com")
    started = time.time()
    add(stack, tenant, tmp_path, google, microsoft)
    await sync(stack, tenant)

    first = await stats(api, key)
    assert {k: first[k] for k in expected} == expected
    assert first["ties"] > 0 and first["dead_letters"] == 0
    tie = await api.get(f"/v1/ties/{a}/{b}", headers=_auth(key))
    assert tie.status_code == 200, tie.text
    assert tie.json()["strength"] > 0
    for view in await mailbox_views(stack, api, tenant, key):
        assert view["id"] == f"{provider}:{a}" and view["state"] == "live" and view["last_error"] == ""
        assert (view["messages"], view["events"]) == (messages, events)
        assert view["last_success_at"] is not None and _when(view["last_success_at"]) >= started

    calls = len(google.calls) + len(microsoft.calls)
    output = await sync(stack, tenant)  # nothing new: the saved cursor reads only changes
    assert "messages       0  events     0" in output
    assert await stats(api, key) == first
    assert len(google.calls) + len(microsoft.calls) > calls  # it did ask the provider
    listed, _ = await mailbox_views(stack, api, tenant, key)
    assert (listed["messages"], listed["events"]) == (messages, events)


def _when(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


# -- refused credentials ---------------------------------------------------------------------------


async def test_refused_credentials_show_auth_failed_with_what_to_do(
    stack: Stack, api: httpx.AsyncClient, tmp_path: Path, google: GoogleFake, microsoft: GraphFake
) -> None:
    tenant = "cloud-auth"
    key = stack.create_tenant(tenant, "example.org", "contoso.com")
    add_google(stack, "gmail", tenant, google, _token_file(tmp_path, google.authorized_user()))
    add_msgraph(stack, tenant, microsoft, secret="not-the-app-secret")
    google.revoke_refresh_tokens()  # the user removed the app's access in their Google account

    output = await sync(stack, tenant, check=False)
    assert "auth_failed" in output
    views = await all_mailbox_views(stack, api, tenant, key)
    expected = {
        f"gmail:{GOOGLE_OWNER}": ["refresh token for owner@example.org was revoked", "tiegraph mailboxes add"],
        f"msgraph:{MS_OWNER}": [f"Microsoft refused app {CLIENT_ID}", "invalid_client", "client id and secret"],
    }
    for id, phrases in expected.items():
        for view in views[id]:
            assert view["state"] == "auth_failed" and view["last_success_at"] is None
            assert all(phrase in view["last_error"] for phrase in phrases), view["last_error"]
    assert (await stats(api, key))["messages"] == 0

    add_msgraph(stack, tenant, microsoft, secret=CLIENT_SECRET)  # the fix: add it again with the right secret
    await sync(stack, tenant, check=False)
    views = await all_mailbox_views(stack, api, tenant, key)
    assert [v["state"] for v in views[f"msgraph:{MS_OWNER}"]] == ["live", "live"]
    assert [v["state"] for v in views[f"gmail:{GOOGLE_OWNER}"]] == ["auth_failed", "auth_failed"]  # left alone
    assert (await stats(api, key))["messages"] == MS_INBOX + MS_SENT


# -- throttling ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Throttling:
    route: str  # the fake's route that answers 429 ...
    after: int  # ... after this many calls of it went through
    message: str  # what the mailbox then says
    cursor: Callable[[dict[str, Any]], bool]  # the saved cursor covers what was read, nothing more
    counts_read: tuple[int, int]  # (messages, events) produced before the 429
    counts_all: tuple[int, int]


THROTTLING = {
    # Gmail: the first page's two metadata batches go through, the second page's is throttled.
    "gmail": Throttling(
        "batch", 2, "Gmail rate limit for owner@example.org (rateLimitExceeded)",
        lambda cursor: cursor.get("page_token") == "100" and "history_id" not in cursor,
        (100, 0), (GMAIL_COUNT, 0),
    ),
    # Graph: both mail folders are read, the calendar is throttled.
    "msgraph": Throttling(
        "events", 0, "Microsoft Graph throttled owner@contoso.com (TooManyRequests)",
        lambda cursor: set(cursor) == {"messages:inbox", "messages:sentitems"},
        (MS_INBOX + MS_SENT, 0), (MS_INBOX + MS_SENT, MS_EVENTS),
    ),
}  # fmt: skip
_RATE_LIMITED = {"error": {"code": "TooManyRequests", "message": "slow", "errors": [{"reason": "rateLimitExceeded"}]}}


@pytest.mark.parametrize("provider", list(THROTTLING))
async def test_throttling_mid_sync_keeps_the_cursor_and_a_later_sync_gives_the_same_graph(
    stack: Stack,
    api: httpx.AsyncClient,
    graph: GraphStore,
    tmp_path: Path,
    google: GoogleFake,
    microsoft: GraphFake,
    provider: str,
) -> None:
    case, add = THROTTLING[provider], CASES[provider][0]
    fake: GoogleFake | GraphFake = google if provider == "gmail" else microsoft
    reference_key = stack.create_tenant(f"cloud-unthrottled-{provider}", "example.org", "contoso.com")
    add(stack, f"cloud-unthrottled-{provider}", tmp_path, google, microsoft)
    await sync(stack, f"cloud-unthrottled-{provider}")
    reference = await stats(api, reference_key)

    tenant = f"cloud-throttled-{provider}"
    key = stack.create_tenant(tenant, "example.org", "contoso.com")
    add(stack, tenant, tmp_path, google, microsoft)
    # Long enough that the next sync surely comes before it, short enough to wait out.
    fake.fail(case.route, 429, retry_after=12, body=_RATE_LIMITED, after=case.after)
    stack.cli("sync", "--tenant", tenant)  # reads some, then is throttled
    (mailbox,) = await MailboxRegistry(graph).list(tenant)
    assert case.cursor(mailbox.cursor), mailbox.cursor
    output = stack.cli("sync", "--tenant", tenant).stdout  # too early: the mailbox is left alone
    assert "throttled" in output and case.message in output
    assert (await MailboxRegistry(graph).list(tenant))[0].cursor == mailbox.cursor
    await stack.wait_caught_up()

    for view in await mailbox_views(stack, api, tenant, key):
        assert view["state"] == "throttled" and view["last_error"] == case.message
        assert view["retry_at"] is not None and view["last_success_at"] is None
        assert (view["messages"], view["events"]) == case.counts_read
    throttled = await stats(api, key)
    assert (throttled["messages"], throttled["meetings"]) == case.counts_read

    assert mailbox.retry_at is not None
    await asyncio.sleep(max(0.0, mailbox.retry_at - time.time()) + 0.5)

    await sync(stack, tenant)
    for view in await mailbox_views(stack, api, tenant, key):
        assert view["state"] == "live" and view["last_error"] == "" and view["retry_at"] is None
        assert (view["messages"], view["events"]) == case.counts_all
    assert await stats(api, key) == reference


# -- expired cursors -------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["gmail", "gcal"])
async def test_an_expired_cursor_resyncs_in_full_without_counting_twice(
    stack: Stack, api: httpx.AsyncClient, tmp_path: Path, google: GoogleFake, provider: str
) -> None:
    tenant = f"cloud-expiry-{provider}"
    key = stack.create_tenant(tenant, "example.org")
    add_google(stack, provider, tenant, google, _token_file(tmp_path, google.authorized_user()))
    await sync(stack, tenant)
    before = await stats(api, key)

    if provider == "gmail":
        google.add_message([("From", "late@example.com"), ("To", GOOGLE_OWNER), ("Message-ID", "<late@example.com>"),
                            ("Date", "Tue, 2 Jun 2026 10:00:00 +0000"), ("Subject", "late")])  # fmt: skip
        google.forget_history()  # history.list now answers 404
        expected = {"messages": GMAIL_COUNT + 1, "meetings": 0}
    else:
        google.put_event(
            google_event("late", start="2026-06-20T10:00:00", end="2026-06-20T11:00:00",
                         attendees={GOOGLE_OWNER: "accepted", "late@example.com": "accepted"})
        )  # fmt: skip
        google.expire_sync_tokens()  # events.list(syncToken) now answers 410
        expected = {"messages": 0, "meetings": GCAL_COUNT + 1}
    await sync(stack, tenant)

    after = await stats(api, key)
    assert {k: after[k] for k in expected} == expected
    assert after["people"] == before["people"] + 1 and after["dead_letters"] == 0
    for view in await mailbox_views(stack, api, tenant, key):
        assert view["state"] == "live" and view["last_error"] == ""
    assert (await api.get(f"/v1/ties/{GOOGLE_OWNER}/late@example.com", headers=_auth(key))).status_code == 200


# -- rotated refresh tokens ------------------------------------------------------------------------


async def test_a_rotated_microsoft_refresh_token_is_stored_for_the_next_run(
    stack: Stack, api: httpx.AsyncClient, graph: GraphStore, tmp_path: Path, microsoft: GraphFake
) -> None:
    tenant = "cloud-rotation"
    key = stack.create_tenant(tenant, "contoso.com")
    add_msgraph(stack, tenant, microsoft, token_file=_token_file(tmp_path, {"refresh_token": "fake-graph-refresh"}))
    await sync(stack, tenant)
    assert await _stored_refresh_token(stack, graph, tenant) == f"fake-graph-refresh-{microsoft.issued}"

    # Microsoft retires the used token; only the rotated one (stored by the first run) still works.
    microsoft.refresh_tokens.discard("fake-graph-refresh")
    microsoft.access_tokens.clear()
    microsoft.put("inbox", graph_message(50_000))
    await sync(stack, tenant)
    for view in await mailbox_views(stack, api, tenant, key):
        assert view["state"] == "live" and view["messages"] == MS_INBOX + MS_SENT + 1
    assert (await stats(api, key))["messages"] == MS_INBOX + MS_SENT + 1
    assert await _stored_refresh_token(stack, graph, tenant) == f"fake-graph-refresh-{microsoft.issued}"


async def _stored_refresh_token(stack: Stack, graph: GraphStore, tenant: str) -> str:
    """The refresh token sealed in the registry (read under a lease, as a runner would)."""
    registry = MailboxRegistry(graph)
    claimed = await registry.claim(
        tenant, f"msgraph:{MS_OWNER}", runner="test-reader", now=time.time(), lease_seconds=30
    )
    assert claimed is not None
    try:
        secret = SecretBox.from_settings(stack.settings).open(claimed.sealed_secret)
    finally:
        await registry.release(tenant, f"msgraph:{MS_OWNER}", runner="test-reader")
    return str(secret["token"]["refresh_token"])


async def test_a_rotated_secret_never_overwrites_credentials_added_meanwhile(stack: Stack, graph: GraphStore) -> None:
    stack.create_tenant("cloud-readd", "contoso.com")
    registry, box, id = MailboxRegistry(graph), SecretBox.from_settings(stack.settings), f"msgraph:{MS_OWNER}"

    async def add(secret: dict[str, Any]) -> None:
        await registry.add(
            tenant="cloud-readd", provider="msgraph", owner=MS_OWNER, config={}, sealed_secret=box.seal(secret),
            now=time.time(),
        )  # fmt: skip

    await add({"token": {"refresh_token": "first"}})
    claimed = await registry.claim("cloud-readd", id, runner="r1", now=time.time(), lease_seconds=30)
    assert claimed is not None
    rotated = box.seal({"token": {"refresh_token": "rotated"}})
    assert await registry.replace_secret("cloud-readd", id, runner="r1", previous=claimed.sealed_secret,
                                         sealed_secret=rotated)  # fmt: skip
    await add({"token": {"refresh_token": "added-by-a-person"}})  # `mailboxes add` while the sync runs
    again = await registry.claim("cloud-readd", id, runner="r1", now=time.time(), lease_seconds=30)
    assert again is not None and box.open(again.sealed_secret) == {"token": {"refresh_token": "added-by-a-person"}}
    late = box.seal({"token": {"refresh_token": "rotated-again"}})
    assert not await registry.replace_secret("cloud-readd", id, runner="r1", previous=rotated, sealed_secret=late)
    assert not await registry.replace_secret(
        "cloud-readd", id, runner="not-the-lease-holder", previous=again.sealed_secret, sealed_secret=late
    )
    final = await registry.claim("cloud-readd", id, runner="r1", now=time.time(), lease_seconds=30)
    assert final is not None and final.sealed_secret == again.sealed_secret
