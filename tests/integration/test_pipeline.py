"""End to end on the real stack: files -> Kafka -> Faust worker -> Neo4j -> HTTP API."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest

from tests.stack import Stack, shared_data
from tiegraph.core.model import TieModel
from tiegraph.ingest.files import iter_path
from tiegraph.ingest.headers import MalformedMessage, parse_message
from tiegraph.synth.organization import generate_mail, generate_organization, write_mbox

pytestmark = pytest.mark.integration

DAY = 86_400


def _mail(sender: str, to: str, at: float, subject: str, msgid: str) -> bytes:
    date = format_datetime(datetime.fromtimestamp(at, tz=UTC))
    headers = f"Message-ID: <{msgid}>\r\nDate: {date}\r\nFrom: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n"
    return (headers + "\r\nbody\r\n").encode()


def _distinct_messages(path: Path) -> tuple[int, int]:
    """(distinct content keys, rejects) computed independently of the pipeline."""
    keys, rejected = set(), 0
    for item in iter_path(path):
        try:
            keys.add(parse_message(item.header, tenant="x").dedupe_key)
        except MalformedMessage:
            rejected += 1
    return len(keys), rejected


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_enron_mailbox_import_answers_who_kenneth_lay_knows(stack: Stack, api: httpx.AsyncClient) -> None:
    mailbox = shared_data("enron", "lay-k")
    key = stack.create_tenant("enron-lay", "enron.com")
    summary = json.loads(
        stack.cli("import", str(mailbox), "--tenant", "enron-lay", "--owner", "kenneth.lay@enron.com", "--json").stdout
    )
    distinct, rejected = _distinct_messages(mailbox)
    assert summary["read"] == 5937
    assert summary["produced"] + summary["calendars"] + summary["rejected"] == summary["read"]
    assert summary["rejected"] == rejected
    await stack.wait_caught_up()

    stats = (await api.get("/v1/stats", headers=_bearer(key))).json()
    # Copies across all_documents / discussion_threads / inbox count once.
    assert stats["messages"] == distinct < summary["produced"]
    assert stats["dead_letters"] == rejected
    assert stats["people"] > 100 and stats["ties"] > 100

    response = await api.get(
        "/v1/people/kenneth.lay@enron.com/contacts", params={"limit": 25, "as_of": "2002-01-01"}, headers=_bearer(key)
    )
    assert response.status_code == 200, response.text
    contacts = response.json()["contacts"]
    assert len(contacts) >= 10
    strengths = [c["strength"] for c in contacts]
    assert all(isinstance(s, float) and 0 < s <= 1 for s in strengths)
    assert strengths == sorted(strengths, reverse=True)
    assert all(c["band"] in {"strong", "known", "weak"} for c in contacts)
    assert response.json()["person"]["internal"] is True
    for c in contacts:  # every score is explained by its evidence under the documented formula
        ev, model = c["evidence"], TieModel()
        total = ev["sent"]["intensity"] + ev["received"]["intensity"]
        gate = model.one_way_cap + (1 - model.one_way_cap) * math.sqrt(ev["reciprocity"])
        assert c["strength"] == pytest.approx((1 - math.exp(-total / model.saturation)) * gate, rel=1e-6)


async def test_reciprocated_contact_outranks_one_way_contact_of_the_same_volume(
    stack: Stack, api: httpx.AsyncClient, tmp_path: Path
) -> None:
    start = 1_750_000_000
    messages = []
    for i in range(6):  # ann <-> bob both ways, ann -> cat one way: same volume from ann
        messages.append(_mail("ann@recip.example", "bob@recip.example", start + i * DAY, f"plan {i}", f"ab{i}@x"))
        messages.append(
            _mail("bob@recip.example", "ann@recip.example", start + i * DAY + 3600, f"Re: plan {i}", f"ba{i}@x")
        )
        messages.append(_mail("ann@recip.example", "cat@other.example", start + i * DAY, f"offer {i}", f"ac{i}@x"))
    for i, raw in enumerate(messages):
        (tmp_path / f"{i}.eml").write_bytes(raw)
    key = stack.create_tenant("recip", "recip.example")
    stack.cli("import", str(tmp_path), "--tenant", "recip")
    await stack.wait_caught_up()

    doc = (
        await api.get("/v1/people/ann@recip.example/contacts", params={"as_of": "2025-06-25"}, headers=_bearer(key))
    ).json()
    by_email = {c["email"]: c for c in doc["contacts"]}
    bob, cat = by_email["bob@recip.example"], by_email["cat@other.example"]
    assert bob["strength"] > cat["strength"]
    assert cat["band"] == "weak" and cat["evidence"]["reciprocity"] == 0
    assert bob["evidence"]["sent"]["to"] == 6 and bob["evidence"]["received"]["reply"] == 6
    assert cat["evidence"]["sent"]["to"] == 6 and cat["evidence"]["received"]["to"] == 0
    assert doc["contacts"][0]["email"] == "bob@recip.example"

    tie = (
        await api.get(
            "/v1/ties/bob@recip.example/ann@recip.example", params={"as_of": "2025-06-25"}, headers=_bearer(key)
        )
    ).json()
    assert tie["strength"] == pytest.approx(bob["strength"])
    assert tie["evidence"]["sent"]["reply"] == 6  # oriented from bob's side


async def test_replaying_an_import_changes_nothing(stack: Stack, api: httpx.AsyncClient, tmp_path: Path) -> None:
    org = generate_organization(people=15, seed=5)
    corpus = tmp_path / "team.mbox"
    write_mbox(corpus, generate_mail(org, messages=400, seed=5))
    key = stack.create_tenant("replay", org.home_domain)

    async def snapshot() -> tuple[dict[str, object], dict[str, object]]:
        await stack.wait_caught_up()
        stats = (await api.get("/v1/stats", headers=_bearer(key))).json()
        contacts = (
            await api.get(f"/v1/people/{org.ceo.email}/contacts", params={"as_of": "2025-06-01"}, headers=_bearer(key))
        ).json()
        return stats, contacts

    stack.cli("import", str(corpus), "--tenant", "replay")
    first = await snapshot()
    assert first[0]["messages"] == 400
    stack.cli("import", str(corpus), "--tenant", "replay")
    assert await snapshot() == first


async def test_garbage_files_are_reported_and_skipped_without_stopping_the_rest(stack: Stack, tmp_path: Path) -> None:
    stack.create_tenant("garbage")
    (tmp_path / "good-1.eml").write_bytes(_mail("a@g.example", "b@g.example", 1_750_000_000, "hi", "g1@x"))
    (tmp_path / "garbage.bin").write_bytes(bytes(range(256)) * 40)
    (tmp_path / "notes.txt").write_text("just some text\nwith no headers at all\n")
    (tmp_path / "bad-date.eml").write_bytes(b"From: a@g.example\r\nTo: b@g.example\r\nDate: not a date\r\n\r\n")
    (tmp_path / "good-2.eml").write_bytes(_mail("b@g.example", "a@g.example", 1_750_000_100, "Re: hi", "g2@x"))
    result = stack.cli("import", str(tmp_path), "--tenant", "garbage", "--json")
    summary = json.loads(result.stdout)
    assert summary["read"] == 5 and summary["produced"] == 2 and summary["rejected"] == 3
    assert set(summary["reasons"]) == {
        "binary data (NUL bytes) in the header block",
        "no header fields",
        "invalid Date header",
    }


def test_import_into_an_unknown_tenant_is_a_clear_error(stack: Stack, tmp_path: Path) -> None:
    (tmp_path / "m.eml").write_bytes(_mail("a@u.example", "b@u.example", 1_750_000_000, "hi", "u1@x"))
    result = stack.cli("import", str(tmp_path), "--tenant", "nobody-here", check=False)
    assert result.returncode == 1
    assert "tiegraph tenants create nobody-here" in result.stderr


def test_demo_runs_end_to_end(stack: Stack) -> None:
    result = stack.cli("demo", "--people", "24", "--messages", "600", timeout=400)
    assert "caught up" in result.stdout
    assert "strongest:" in result.stdout
    assert "'messages': 600" in result.stdout
    assert "GET /v1/who-knows" in result.stdout and "GET /v1/paths" in result.stdout
    assert " -> " in result.stdout  # at least one warm path into the busiest outside account
    assert "have a strong tie to us; key connector" in result.stdout


async def test_awaiting_reply_lists_conversations_whose_last_message_is_unanswered(
    stack: Stack, api: httpx.AsyncClient, tmp_path: Path
) -> None:
    start = 1_750_000_000
    mails = [
        _mail("dan@turns.example", "eve@turns.example", start, "budget", "t1@x"),
        _mail("eve@turns.example", "dan@turns.example", start + 7200, "Re: budget", "t2@x"),  # answered in 2 h
        _mail("dan@turns.example", "eve@turns.example", start + DAY, "RE: Re: budget", "t3@x"),  # eve's turn
        _mail("fay@turns.example", "dan@turns.example", start + 2 * DAY, "hiring", "t4@x"),  # dan's turn
        _mail("dan@turns.example", "fay@turns.example", start + 2 * DAY + 60, "offsite", "t5@x"),  # fay's turn
    ]
    for i, raw in enumerate(mails):
        (tmp_path / f"{i}.eml").write_bytes(raw)
    key = stack.create_tenant("turns", "turns.example")
    stack.cli("import", str(tmp_path), "--tenant", "turns")
    await stack.wait_caught_up()
    auth = _bearer(key)

    dan = (await api.get("/v1/people/dan@turns.example/awaiting-reply", headers=auth)).json()["awaiting"]
    assert [(a["email"], a["conversations"]) for a in dan] == [("fay@turns.example", 1)]
    eve = (await api.get("/v1/people/eve@turns.example/awaiting-reply", headers=auth)).json()["awaiting"]
    assert [(a["email"], a["conversations"]) for a in eve] == [("dan@turns.example", 1)]
    assert eve[0]["last_message_at"].startswith("2025-06-16")

    tie = (await api.get("/v1/ties/eve@turns.example/dan@turns.example", headers=auth)).json()
    assert tie["evidence"]["sent"]["answered"] == 1
    assert tie["evidence"]["sent"]["mean_answer_hours"] == pytest.approx(2.0)


async def test_a_tenants_tuned_model_applies_to_its_scores(
    stack: Stack, api: httpx.AsyncClient, tmp_path: Path
) -> None:
    for i in range(5):
        (tmp_path / f"{i}.eml").write_bytes(
            _mail("gus@tune.example", "hal@tune.example", 1_750_000_000 + i * DAY, f"t{i}", f"tu{i}@x")
        )
    key = stack.create_tenant("tune", "tune.example")
    stack.cli("import", str(tmp_path), "--tenant", "tune")
    await stack.wait_caught_up()
    url, params, auth = "/v1/ties/gus@tune.example/hal@tune.example", {"as_of": "2025-06-20"}, _bearer(key)

    default = (await api.get(url, params=params, headers=auth)).json()["strength"]
    assert 0.05 < default <= 0.25
    configured = json.loads(stack.cli("tenants", "configure", "tune", "--set", "one_way_cap=0.05").stdout)
    assert configured == {"tenant": "tune", "model": {"one_way_cap": 0.05}}
    assert (await api.get(url, params=params, headers=auth)).json()["strength"] <= 0.05
    refused = stack.cli("tenants", "configure", "tune", "--set", "half_life=3", check=False)
    assert refused.returncode == 1 and "unknown tie model parameters" in refused.stderr


async def test_a_group_address_that_only_receives_is_nobodys_contact(
    stack: Stack, api: httpx.AsyncClient, tmp_path: Path
) -> None:
    start = 1_750_000_000
    for i in range(12):  # twelve colleagues write to the team list, which never writes back
        (tmp_path / f"g{i}.eml").write_bytes(
            _mail(f"p{i}@grp.example", "team@grp.example", start + i * 60, "news", f"g{i}@x")
        )
    (tmp_path / "d.eml").write_bytes(_mail("p0@grp.example", "p1@grp.example", start, "hello", "d@x"))
    (tmp_path / "e.eml").write_bytes(_mail("p1@grp.example", "p0@grp.example", start + 90, "Re: hello", "e@x"))
    key = stack.create_tenant("grp", "grp.example")
    stack.cli("import", str(tmp_path), "--tenant", "grp")
    await stack.wait_caught_up()
    doc = (await api.get("/v1/people/p0@grp.example/contacts", headers=_bearer(key))).json()
    assert [c["email"] for c in doc["contacts"]] == ["p1@grp.example"]
