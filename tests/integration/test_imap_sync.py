"""The IMAP connector end to end: a real Dovecot loaded with real Enron folders, `tiegraph sync` into the
real Kafka, the real worker, Neo4j and the API. Compared against `tiegraph import` of the same folders."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.dovecot import Dovecot
from tests.stack import Stack, shared_data
from tiegraph.graph.mailboxes import Mailbox, MailboxRegistry
from tiegraph.graph.neo4j import GraphStore
from tiegraph.ingest.files import iter_path
from tiegraph.ingest.headers import MalformedMessage, parse_message

pytestmark = [pytest.mark.integration, pytest.mark.shared_data]

LAY = "kenneth.lay@enron.com"
FOLDERS = ("sent", "_sent", "elizabeth", "family", "notes_inbox")  # 1,369 files, sent copies repeated
EXCLUDED = {"Junk": "compaq", "Trash": "sec_panel", "Drafts": "business"}  # never synced
PASSWORD = "s3cret-imap"


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def _keys(*folders: Path) -> set[str]:
    keys = set()
    for folder in folders:
        for item in iter_path(folder):
            with contextlib.suppress(MalformedMessage):
                keys.add(parse_message(item.header, tenant="x").dedupe_key)
    return keys


def _load_user(dovecot: Dovecot, user: str, folders: dict[str, str]) -> int:
    """Create an IMAP user whose folders (IMAP name -> lay-k folder) hold the Enron files; returns messages."""
    lay = shared_data("enron", "lay-k")
    dovecot.add_user(user, PASSWORD)
    client = dovecot.client(user, PASSWORD)
    try:
        return sum(dovecot.load_folder(client, name, _files(lay / source)) for name, source in folders.items())
    finally:
        client.logout()


def _add_imap(stack: Stack, dovecot: Dovecot, tenant: str, user: str, password: str, *extra: str) -> None:
    stack.cli(
        "mailboxes", "add", "imap", "--tenant", tenant, "--owner", LAY, "--host", dovecot.host,
        "--port", str(dovecot.port), "--user", user, "--password-env", "IMAP_PASSWORD", "--no-tls", *extra,
        env={"IMAP_PASSWORD": password},
    )  # fmt: skip


async def _mailbox(graph: GraphStore, tenant: str) -> Mailbox:
    (mailbox,) = await MailboxRegistry(graph).list(tenant)
    return mailbox


async def _graph_view(api: httpx.AsyncClient, key: str) -> dict[str, Any]:
    auth = {"Authorization": f"Bearer {key}"}
    stats = (await api.get("/v1/stats", headers=auth)).json()
    stats.pop("tenant")
    contacts = (
        await api.get(f"/v1/people/{LAY}/contacts", params={"as_of": "2002-01-01", "limit": 500}, headers=auth)
    ).json()["contacts"]
    # Decayed sums are added in arrival order, which differs between two runs: compare to 9 digits.
    return _rounded({"stats": stats, "contacts": sorted((c["email"], c["strength"], c["evidence"]) for c in contacts)})


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return float(f"{value:.9g}")
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_rounded(v) for v in value]
    return value


@pytest.fixture(scope="module")
def lay_imap(dovecot: Dovecot) -> dict[str, Any]:
    """User `lay`: the five folders, plus junk, trash and drafts folders the folder policy must skip."""
    lay = shared_data("enron", "lay-k")
    loaded = _load_user(dovecot, "lay", {**{f: f for f in FOLDERS}, **EXCLUDED})
    included = _keys(*(lay / f for f in FOLDERS))
    skipped = _keys(*(lay / f for f in EXCLUDED.values()))
    assert skipped - included, "the skipped folders hold messages found nowhere else"
    return {"loaded": loaded, "keys": included, "paths": [str(lay / f) for f in FOLDERS]}


@pytest.fixture(scope="module")
async def files_view(stack: Stack, api: httpx.AsyncClient, lay_imap: dict[str, Any]) -> dict[str, Any]:
    """The same folders through `tiegraph import`: the reference the IMAP sync must match."""
    key = stack.create_tenant("lay-files", "enron.com")
    stack.cli("import", *lay_imap["paths"], "--tenant", "lay-files", "--owner", LAY)
    await stack.wait_caught_up()
    return await _graph_view(api, key)


async def test_imap_sync_gives_the_same_graph_as_the_file_import(
    stack: Stack,
    api: httpx.AsyncClient,
    graph: GraphStore,
    dovecot: Dovecot,
    lay_imap: dict[str, Any],
    files_view: dict[str, Any],
) -> None:
    key = stack.create_tenant("lay-imap", "enron.com")
    _add_imap(stack, dovecot, "lay-imap", "lay", PASSWORD)
    stack.cli("sync", "--tenant", "lay-imap")
    await stack.wait_caught_up()

    view = await _graph_view(api, key)
    assert view["stats"]["messages"] == len(lay_imap["keys"])
    assert view["stats"] == files_view["stats"]
    differing = [(a, b) for a, b in zip(view["contacts"], files_view["contacts"], strict=True) if a != b]
    assert not differing, differing[:3]

    mailbox = await _mailbox(graph, "lay-imap")
    assert mailbox.state == "live" and mailbox.last_error == "" and mailbox.last_success_at
    assert set(mailbox.cursor["folders"]) == {*FOLDERS, "INBOX"}  # Junk, Trash, Drafts never read
    assert all(f["highestmodseq"] is not None for f in mailbox.cursor["folders"].values())  # CONDSTORE on
    assert mailbox.messages == sum(len(_files(Path(p))) for p in lay_imap["paths"])

    response = await api.get("/v1/mailboxes", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200
    (served,) = response.json()["mailboxes"]
    assert served["id"] == f"imap:{LAY}" and served["state"] == "live" and served["messages"] == mailbox.messages
    assert PASSWORD not in response.text and "secret" not in served
    listed = json.loads(stack.cli("mailboxes", "list", "--tenant", "lay-imap", "--json").stdout)
    assert listed[0]["state"] == "live" and PASSWORD not in json.dumps(listed)


async def test_a_wrong_password_shows_auth_failed_with_what_to_do(
    stack: Stack, graph: GraphStore, dovecot: Dovecot, lay_imap: dict[str, Any]
) -> None:
    stack.create_tenant("lay-badpw", "enron.com")
    _add_imap(stack, dovecot, "lay-badpw", "lay", "not-the-password")
    result = stack.cli("sync", "--tenant", "lay-badpw", check=False)
    assert result.returncode == 1

    mailbox = await _mailbox(graph, "lay-badpw")
    assert mailbox.state == "auth_failed"
    assert "refused the login of user 'lay'" in mailbox.last_error and "password" in mailbox.last_error
    assert mailbox.messages == 0 and mailbox.cursor == {}

    _add_imap(stack, dovecot, "lay-badpw", "lay", PASSWORD)  # the fix: add it again
    assert (await _mailbox(graph, "lay-badpw")).state == "pending"
    stack.cli("sync", "--tenant", "lay-badpw")
    assert (await _mailbox(graph, "lay-badpw")).state == "live"


async def test_a_sync_killed_mid_batch_resumes_without_loss_or_double_counting(
    stack: Stack,
    api: httpx.AsyncClient,
    graph: GraphStore,
    dovecot: Dovecot,
    lay_imap: dict[str, Any],
    files_view: dict[str, Any],
) -> None:
    key = stack.create_tenant("lay-kill", "enron.com")
    batch = 20
    _add_imap(stack, dovecot, "lay-kill", "lay", PASSWORD, "--batch-size", str(batch))
    lease = {"TIEGRAPH_SYNC_LEASE_SECONDS": "3"}  # the killed runner's lease expires quickly
    runner = subprocess.Popen(
        [sys.executable, "-m", "tiegraph", "sync", "--tenant", "lay-kill"],
        env={**stack.env, **lease},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while (await _mailbox(graph, "lay-kill")).messages < 200:
            assert runner.poll() is None, "the sync ended before it could be killed"
            await asyncio.sleep(0.02)
        runner.send_signal(signal.SIGKILL)
    finally:
        runner.wait()
    at_kill = await _mailbox(graph, "lay-kill")
    assert at_kill.messages < lay_imap["loaded"] and at_kill.state == "backfilling"

    result = stack.cli("sync", "--tenant", "lay-kill", env=lease, check=False)
    while "another runner" in result.stdout:  # the dead runner's lease has not expired yet
        await asyncio.sleep(1)
        result = stack.cli("sync", "--tenant", "lay-kill", env=lease, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    await stack.wait_caught_up()

    resumed = await _mailbox(graph, "lay-kill")
    expected = sum(len(_files(Path(p))) for p in lay_imap["paths"])
    # Resumed from the last saved cursor: at most the one unacknowledged batch (per folder) read twice.
    assert expected <= resumed.messages <= expected + batch
    assert resumed.state == "live"
    assert await _graph_view(api, key) == files_view


async def test_a_uidvalidity_change_resyncs_the_folder_without_counting_twice(
    stack: Stack, api: httpx.AsyncClient, graph: GraphStore, dovecot: Dovecot
) -> None:
    lay = shared_data("enron", "lay-k")
    _load_user(dovecot, "uv", {"family": "family", "elizabeth": "elizabeth"})
    key = stack.create_tenant("lay-uv", "enron.com")
    _add_imap(stack, dovecot, "lay-uv", "uv", PASSWORD)
    stack.cli("sync", "--tenant", "lay-uv")
    await stack.wait_caught_up()
    before, first = await _graph_view(api, key), await _mailbox(graph, "lay-uv")
    assert before["stats"]["messages"] == len(_keys(lay / "family", lay / "elizabeth"))

    # The server loses its UID state: the folder is re-created, the same mail in it, new UIDVALIDITY.
    old_validity = first.cursor["folders"]["family"]["uidvalidity"]
    client = dovecot.client("uv", PASSWORD)
    try:
        while True:
            client.delete_folder("family")
            dovecot.load_folder(client, "family", _files(lay / "family"))
            if client.folder_status("family", [b"UIDVALIDITY"])[b"UIDVALIDITY"] != old_validity:
                break
            time.sleep(1)  # Dovecot derives UIDVALIDITY from the clock: wait for the next second
    finally:
        client.logout()

    stack.cli("sync", "--tenant", "lay-uv")
    await stack.wait_caught_up()
    second = await _mailbox(graph, "lay-uv")
    assert second.cursor["folders"]["family"]["uidvalidity"] != old_validity
    assert second.cursor["folders"]["elizabeth"] == first.cursor["folders"]["elizabeth"]  # untouched folder
    assert second.messages == first.messages + len(_files(lay / "family"))  # the folder was read again...
    assert await _graph_view(api, key) == before  # ...and nothing counts twice


async def test_a_message_appended_while_following_reaches_the_api_within_10_seconds(
    stack: Stack, api: httpx.AsyncClient, graph: GraphStore, dovecot: Dovecot
) -> None:
    _load_user(dovecot, "live", {"INBOX": "elizabeth"})
    key = stack.create_tenant("lay-live", "enron.com")
    _add_imap(stack, dovecot, "lay-live", "live", PASSWORD)
    follower = subprocess.Popen(
        [sys.executable, "-m", "tiegraph", "sync", "--tenant", "lay-live", "--follow"],
        env=stack.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while (await _mailbox(graph, "lay-live")).state != "live":
            assert follower.poll() is None and time.monotonic() < deadline, "the follower never went live"
            await asyncio.sleep(0.2)
        await stack.wait_caught_up()
        await asyncio.sleep(1)  # the follower is in IDLE now (or about to be; then it syncs on entry)

        newcomer = "new.partner@example.com"
        client = dovecot.client("live", PASSWORD)
        try:
            client.append("INBOX", _new_message(newcomer))
        finally:
            client.logout()
        appended = time.monotonic()

        auth = {"Authorization": f"Bearer {key}"}
        while (await api.get(f"/v1/ties/{LAY}/{newcomer}", headers=auth)).status_code != 200:
            assert time.monotonic() - appended < 10, "the appended message did not reach the graph within 10 s"
            await asyncio.sleep(0.1)
        print(f"appended message visible through the API after {time.monotonic() - appended:.2f} s")
    finally:
        follower.send_signal(signal.SIGTERM)
        stopping = time.monotonic()
        _, errors = follower.communicate(timeout=30)  # a stop cancels the IDLE (up to 30 s otherwise)
        print(f"the follower stopped {time.monotonic() - stopping:.2f} s after SIGTERM")
    assert follower.returncode == 0, errors.decode()
    assert (await _mailbox(graph, "lay-live")).lease_owner is None  # released on SIGTERM


async def test_a_following_sync_survives_a_server_restart_and_says_so_meanwhile(
    stack: Stack, api: httpx.AsyncClient, graph: GraphStore, dovecot: Dovecot
) -> None:
    _load_user(dovecot, "restart", {"INBOX": "family"})
    key = stack.create_tenant("lay-restart", "enron.com")
    _add_imap(stack, dovecot, "lay-restart", "restart", PASSWORD)
    follower = subprocess.Popen(
        [sys.executable, "-m", "tiegraph", "sync", "--tenant", "lay-restart", "--follow"],
        env=stack.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        await _wait_for_state(graph, "lay-restart", "live", follower)
        dovecot.stop()  # the IDLE connection breaks; reconnecting fails until the server is back
        down = await _wait_for_state(graph, "lay-restart", "error", follower)
        assert "IMAP server" in down.last_error and down.retry_at
        dovecot.start()

        newcomer = "after.restart@example.com"
        client = dovecot.client("restart", PASSWORD)
        try:
            client.append("INBOX", _new_message(newcomer))
        finally:
            client.logout()
        auth, deadline = {"Authorization": f"Bearer {key}"}, time.monotonic() + 120
        while (await api.get(f"/v1/ties/{LAY}/{newcomer}", headers=auth)).status_code != 200:
            assert time.monotonic() < deadline and follower.poll() is None, "the follower did not recover"
            await asyncio.sleep(0.5)
        recovered = await _wait_for_state(graph, "lay-restart", "live", follower)
        assert recovered.last_error == ""
    finally:
        follower.send_signal(signal.SIGTERM)
        _, errors = follower.communicate(timeout=30)
    assert follower.returncode == 0, errors.decode()


async def _wait_for_state(graph: GraphStore, tenant: str, state: str, follower: subprocess.Popen[bytes]) -> Mailbox:
    deadline = time.monotonic() + 120
    while (mailbox := await _mailbox(graph, tenant)).state != state:
        assert follower.poll() is None and time.monotonic() < deadline, f"never {state}: {mailbox}"
        await asyncio.sleep(0.2)
    return mailbox


def _new_message(recipient: str) -> bytes:
    return (
        f"From: Kenneth Lay <{LAY}>\r\nTo: {recipient}\r\nSubject: lunch next week\r\n"
        f"Date: {format_datetime(datetime.now(UTC))}\r\nMessage-ID: <{recipient}@enron.com>\r\n\r\nbody\r\n"
    ).encode()
