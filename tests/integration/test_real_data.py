"""The relationship model on real archives: two Enron mailboxes in one tenant, and a discussion list."""

from __future__ import annotations

import contextlib
import json
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
    stack.cli("import", str(lay), "--tenant", "enron-both", "--owner", "kenneth.lay@enron.com")
    stack.cli("import", str(skilling), "--tenant", "enron-both", "--owner", "jeff.skilling@enron.com")
    lay_keys, skilling_keys = _keys(lay), _keys(skilling)
    assert lay_keys & skilling_keys, "the two mailboxes share messages (sent by one, received by the other)"
    await stack.wait_caught_up()
    auth = {"Authorization": f"Bearer {key}"}

    stats = (await api.get("/v1/stats", headers=auth)).json()
    assert stats["messages"] == len(lay_keys | skilling_keys)

    for person in ("kenneth.lay@enron.com", "jeff.skilling@enron.com"):
        doc = (
            await api.get(f"/v1/people/{person}/contacts", params={"as_of": "2002-01-01", "limit": 200}, headers=auth)
        ).json()
        assert doc["contacts"], person
        assert not any(is_role_address(c["email"]) for c in doc["contacts"])  # machines are never contacts

    # Lay's assistant sends most of his mail; she is her own person with her own ties, never merged into him.
    rosalee = (await api.get("/v1/people/rosalee.fleming@enron.com", headers=auth)).json()
    assert rosalee["email"] == "rosalee.fleming@enron.com" and rosalee["ties"] > 10


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
    doc = (
        await api.get("/v1/people/john.johansen@canonical.com/contacts", params={"as_of": "2025-01-01"}, headers=auth)
    ).json()
    top = doc["contacts"][:10]
    assert len(top) == 10
    assert all(
        c["evidence"]["sent"]["to"]
        + c["evidence"]["received"]["to"]
        + c["evidence"]["sent"]["reply"]
        + c["evidence"]["received"]["reply"]
        > 0
        for c in top
    )
    assert any(c["band"] in ("strong", "known") for c in top)


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
