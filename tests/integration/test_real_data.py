"""The relationship model on real archives: two Enron mailboxes in one tenant, and a discussion list."""

from __future__ import annotations

import contextlib
import json
import mailbox
from collections import Counter
from email.utils import getaddresses
from pathlib import Path

import httpx
import pytest

from tests.stack import Stack, shared_data
from tiegraph.core.noise import is_role_address
from tiegraph.ingest.files import iter_path
from tiegraph.ingest.headers import MalformedMessage, parse_message

pytestmark = pytest.mark.integration


def _keys(path: Path) -> set[str]:
    keys = set()
    for item in iter_path(path):
        with contextlib.suppress(MalformedMessage):
            keys.add(parse_message(item.header, tenant="x").dedupe_key)
    return keys


async def test_two_enron_mailboxes_count_shared_messages_once(stack: Stack, api: httpx.AsyncClient) -> None:
    lay, skilling = shared_data("enron", "lay-k"), shared_data("enron", "skilling-j")
    key = stack.create_tenant("enron-both", "enron.com")
    lay_import = stack.cli("import", str(lay), "--tenant", "enron-both", "--owner", "kenneth.lay@enron.com", "--json")
    skilling_import = stack.cli(
        "import", str(skilling), "--tenant", "enron-both", "--owner", "jeff.skilling@enron.com", "--json"
    )
    # Measured: neither sent folder holds a second address of its owner. Lay's holds his assistants'
    # (rosalee.fleming: 497 of 540 messages, tori.wells: 28), Skilling's his (sherri.sera 380 of 605, three more):
    # none of them is an alias.
    assert json.loads(lay_import.stdout)["aliases"] == []
    assert json.loads(skilling_import.stdout)["aliases"] == []
    lay_keys, skilling_keys = _keys(lay), _keys(skilling)
    assert lay_keys & skilling_keys, "the two mailboxes share messages (sent by one, received by the other)"
    await stack.wait_caught_up(timeout=600)  # 10,076 files: patience on a loaded 2-core machine
    auth = {"Authorization": f"Bearer {key}"}

    for person in ("kenneth.lay@enron.com", "jeff.skilling@enron.com"):
        doc = (
            await api.get(f"/v1/people/{person}/contacts", params={"as_of": "2002-01-01", "limit": 200}, headers=auth)
        ).json()
        assert doc["contacts"], person
        assert not any(is_role_address(c["email"]) for c in doc["contacts"])  # machines are never contacts

    # Lay's assistant sends most of his mail; she is her own person with her own ties, never merged into him.
    rosalee = (await api.get("/v1/people/rosalee.fleming@enron.com", headers=auth)).json()
    assert rosalee["email"] == "rosalee.fleming@enron.com" and rosalee["ties"] > 10 and rosalee["aliases"] == []
    lay_doc = (await api.get("/v1/people/kenneth.lay@enron.com", headers=auth)).json()
    assert lay_doc["aliases"] == []
    tie = (await api.get("/v1/ties/kenneth.lay@enron.com/rosalee.fleming@enron.com", headers=auth)).json()
    assert tie["b"] == "rosalee.fleming@enron.com" and tie["folded"] == []  # two people, one tie between them
    # skilling@enron.com is "Skilling, Tom" writing to Jeff (his inbox), and ken.skilling@enron.com is
    # "Ken Lay and Jeff Skilling": a shared surname or a joint sender is not an alias.
    for other in ("skilling@enron.com", "ken.skilling@enron.com"):
        doc = (await api.get(f"/v1/people/{other}", headers=auth)).json()
        assert doc["email"] == other, doc
    assert (await api.get("/v1/people/jeff.skilling@enron.com", headers=auth)).json()["aliases"] == []

    # Last: the messages counter can end a few low after worker restarts (README, "Crashes and
    # rebalances"), which says nothing about the identity checks above.
    stats = (await api.get("/v1/stats", headers=auth)).json()
    assert stats["messages"] == len(lay_keys | skilling_keys)


def _reciprocated_exchanges(archive: Path, list_address: str) -> tuple[Counter[str], dict[str, Counter[str]]]:
    """Ground truth from the raw headers with the standard library alone (not tiegraph's parser):
    messages sent per author, and per author and correspondent the smaller of the two directions'
    message counts, i.e. how much real back-and-forth a pair has. A message goes to the people in
    To/Cc and, when it replies to a message of the archive, to that message's author."""

    def author_of(message: mailbox.mboxMessage) -> str | None:
        authors = [a.lower() for _, a in getaddresses(message.get_all("From", []))]
        if authors and authors[0] == list_address:  # the list rewrote From: the author is in Reply-To
            authors = [a.lower() for _, a in getaddresses(message.get_all("Reply-To", []))]
        authors = [a for a in authors if a != list_address]
        return authors[0] if authors else None

    messages = list(mailbox.mbox(archive))
    author_by_id = {str(m["Message-ID"]).strip(): author_of(m) for m in messages if m["Message-ID"]}
    sent: Counter[str] = Counter()
    direct: Counter[tuple[str, str]] = Counter()
    for message in messages:
        author = author_of(message)
        if author is None:
            continue
        sent[author] += 1
        addressed = {r.lower() for _, r in getaddresses(message.get_all("To", []) + message.get_all("Cc", []))}
        addressed.add(author_by_id.get(str(message["In-Reply-To"] or "").strip()) or "")
        for rcpt in addressed - {list_address, author}:
            if "@" in rcpt:
                direct[author, rcpt] += 1
    reciprocated: dict[str, Counter[str]] = {}
    for (a, b), count in direct.items():
        back = direct.get((b, a), 0)
        if back:
            reciprocated.setdefault(a, Counter())[b] = min(count, back)
    return sent, reciprocated


async def test_discussion_list_people_are_contacts_and_the_list_is_not(stack: Stack, api: httpx.AsyncClient) -> None:
    archive = shared_data("mbox", "apparmor-headers.mbox")
    key = stack.create_tenant("apparmor", "canonical.com")
    summary = json.loads(stack.cli("import", str(archive), "--tenant", "apparmor", "--json").stdout)
    assert summary["produced"] > 2500
    await stack.wait_caught_up()
    auth = {"Authorization": f"Bearer {key}"}

    assert (await api.get("/v1/people/apparmor@lists.ubuntu.com", headers=auth)).status_code == 404
    stats = (await api.get("/v1/stats", headers=auth)).json()
    assert stats["people"] > 50 and stats["ties"] > 50

    # Replies sent only to the list still answer one person: the parent's author. John Johansen
    # answered me@zygoon.pl five times that way, and no header ever put them in one message.
    tie = await api.get(
        "/v1/ties/john.johansen@canonical.com/me@zygoon.pl", params={"as_of": "2026-07-16"}, headers=auth
    )
    assert tie.status_code == 200, tie.text
    assert tie.json()["evidence"]["sent"]["reply"] == 5

    # The most active participants' strongest ties are their real correspondents: the strongest is
    # someone they exchanged mail with both ways, and the top five share at least two people with
    # the five they had the most back-and-forth with. Never the list, nor the kernel lists cc'd on
    # every patch.
    sent, reciprocated = _reciprocated_exchanges(archive, "apparmor@lists.ubuntu.com")
    for person, _ in sent.most_common(3):
        doc = (
            await api.get(f"/v1/people/{person}/contacts", params={"as_of": "2026-07-16", "limit": 10}, headers=auth)
        ).json()
        top = doc["contacts"]
        assert len(top) == 10, person
        ranked = [c["email"] for c in top]
        most_exchanged = {email for email, _ in reciprocated[person].most_common(5)}
        assert ranked[0] in reciprocated[person], (person, ranked)
        assert len(most_exchanged & set(ranked[:5])) >= 2, (person, ranked, most_exchanged)
        if person == sent.most_common(1)[0][0]:  # the list's most active person has real, not weak, ties
            assert top[0]["band"] in ("strong", "known"), (person, top[0])
        assert not any(c["email"].endswith("@vger.kernel.org") for c in top), person


async def test_odd_and_broken_corpora_flow_through_and_garbage_records_become_dead_letters(
    stack: Stack, api: httpx.AsyncClient
) -> None:
    folders = [shared_data("mbox", "notmuch"), shared_data("mbox", "apache-ponymail"), shared_data("mbox", "kx-nlp")]
    key = stack.create_tenant("odd", "example.org")
    summary = json.loads(stack.cli("import", *map(str, folders), "--tenant", "odd", "--json").stdout)
    assert summary["produced"] > 100
    assert summary["produced"] + summary["calendars"] + summary["rejected"] == summary["read"]

    # Records that bypass the importer (a buggy connector, a hand-made record) must not stop the worker.
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=stack.settings.kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait("mail.messages.v1", key=b"odd|junk-1", value=b"not json at all")
        await producer.send_and_wait("mail.messages.v1", key=b"odd|junk-2", value=b'{"tenant": "odd"}')
    finally:
        await producer.stop()
    await stack.wait_caught_up()

    distinct = set()
    for folder in folders:
        distinct |= _keys(folder)
    stats = (await api.get("/v1/stats", headers={"Authorization": f"Bearer {key}"})).json()
    assert stats["messages"] == len(distinct)
    assert stats["dead_letters"] == summary["rejected"] + 2
