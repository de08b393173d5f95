"""`tiegraph mailboxes` and GET /v1/mailboxes on the real Neo4j: registering, listing, removing, and the
errors a person gets for bad input (no secrets anywhere in the output)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import httpx
import pytest

from tests.stack import Stack

pytestmark = pytest.mark.integration


def test_mailboxes_of_every_provider_are_registered_listed_and_removed(stack: Stack, tmp_path: Path) -> None:
    stack.create_tenant("reg", "reg.example")
    token = tmp_path / "token.json"
    token.write_text(json.dumps({"refresh_token": "refresh-SECRET", "client_id": "c"}))
    stack.cli("mailboxes", "add", "gmail", "--tenant", "reg", "--owner", "Ann@Reg.example", "--token-file", str(token))
    stack.cli(
        "mailboxes",
        "add",
        "gcal",
        "--tenant",
        "reg",
        "--owner",
        "ann@reg.example",
        "--token-file",
        str(token),
        "--calendar-id",
        "team@reg.example",
    )
    stack.cli(
        "mailboxes",
        "add",
        "msgraph",
        "--tenant",
        "reg",
        "--owner",
        "bob@reg.example",
        "--client-id",
        "app",
        "--directory-tenant",
        "dir",
        "--client-secret-env",
        "GRAPH_SECRET",
        env={"GRAPH_SECRET": "graph-SECRET"},
    )
    listed = stack.cli("mailboxes", "list", "--tenant", "reg", "--json").stdout
    rows = {row["id"]: row for row in json.loads(listed)}
    assert set(rows) == {"gmail:ann@reg.example", "gcal:ann@reg.example", "msgraph:bob@reg.example"}
    assert rows["gcal:ann@reg.example"]["config"]["calendar_id"] == "team@reg.example"
    assert all(row["state"] == "pending" for row in rows.values())
    assert "SECRET" not in listed

    stack.cli("mailboxes", "remove", "--tenant", "reg", "msgraph:bob@reg.example")
    assert stack.cli("mailboxes", "remove", "--tenant", "reg", "bob@reg.example", check=False).returncode == 1
    ambiguous = stack.cli("mailboxes", "remove", "--tenant", "reg", "ann@reg.example", check=False)
    assert ambiguous.returncode == 1 and "several mailboxes" in ambiguous.stderr
    assert len(json.loads(stack.cli("mailboxes", "list", "--tenant", "reg", "--json").stdout)) == 2


@pytest.mark.parametrize(
    ("args", "env", "says"),
    [
        (["--tenant", "nobody"], {"PW": "x"}, "no tenant 'nobody'"),
        (["--tenant", "reg-errors"], {}, "PW is not set"),
        (["--tenant", "reg-errors", "--port", "70000"], {"PW": "x"}, "not a TCP port"),
    ],
)
def test_bad_mailbox_options_are_refused_with_a_reason(
    stack: Stack, args: list[str], env: dict[str, str], says: str
) -> None:
    stack.create_tenant("reg-errors", "reg.example")
    base = ["mailboxes", "add", "imap", "--owner", "me@reg.example", "--host", "h", "--user", "me", "--password-env"]
    result = stack.cli(*base, "PW", *args, env=env, check=False)
    assert result.returncode == 1 and says in result.stderr


async def test_an_unreachable_imap_server_is_an_error_in_words(stack: Stack, api: httpx.AsyncClient) -> None:
    key = stack.create_tenant("reg-down", "reg.example")
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    stack.cli(
        "mailboxes",
        "add",
        "imap",
        "--tenant",
        "reg-down",
        "--owner",
        "me@reg.example",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--user",
        "me",
        "--password-env",
        "PW",
        "--no-tls",
        env={"PW": "pw-SECRET"},
    )
    result = stack.cli("sync", "--tenant", "reg-down", check=False)
    assert result.returncode == 1

    response = await api.get("/v1/mailboxes", headers={"Authorization": f"Bearer {key}"})
    (mailbox,) = response.json()["mailboxes"]
    assert mailbox["state"] == "error" and mailbox["retry_at"]
    assert f"cannot reach the IMAP server 127.0.0.1:{port} after 4 attempts" in mailbox["last_error"]
    assert "pw-SECRET" not in response.text
    assert (await api.get("/v1/mailboxes")).status_code == 401
