"""Erasure through the real pipeline: the worker forgets the pair (tombstone on the compacted
tie.updates.v1) and drops later mail with the blocked address."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from tests.stack import Stack
from tiegraph.streams.topics import TIE_UPDATES, pair_key

pytestmark = pytest.mark.integration

ME, CARL = "me@erase.example", "carl@partner.example"


def eml(folder: Path, name: str, sender: str, to: str, day: int) -> None:
    (folder / f"{name}.eml").write_text(
        f"Message-ID: <{name}@test>\nDate: Mon, {day:02d} Jun 2025 10:00:00 +0000\nFrom: <{sender}>\nTo: <{to}>\n"
        f"Subject: plan {name}\n\nbody\n"
    )


async def tie_update_values(stack: Stack, key: bytes) -> list[bytes | None]:
    """Every value ever written to tie.updates.v1 for the key, oldest first."""
    return [value for k, value in await stack.topic_records(TIE_UPDATES) if k == key]


async def test_erased_person_is_forgotten_by_the_stream_and_stays_out(
    stack: Stack, api: httpx.AsyncClient, tmp_path: Path
) -> None:
    headers = {"Authorization": f"Bearer {stack.create_tenant('erase-t', 'erase.example')}"}
    first = tmp_path / "first"
    first.mkdir()
    for day in range(1, 13):  # past the test stack's 8 ids kept inside a tie's state (tests/stack.py)
        eml(first, f"m{day}", *((ME, CARL) if day % 2 else (CARL, ME)), day)
    stack.cli("import", str(first), "--tenant", "erase-t")
    await stack.wait_caught_up()
    assert (await api.get(f"/v1/ties/{ME}/{CARL}", headers=headers)).status_code == 200
    pair = pair_key("erase-t", ME, CARL).decode()
    stored_apart = {k: v for k, v in (await changelog_values(stack, "tie_applied")).items() if pair in k.decode()}
    assert stored_apart and all(v is not None for v in stored_apart.values())

    erased = await api.delete(f"/v1/people/{CARL}", headers=headers)
    assert erased.status_code == 200 and erased.json()["ties"] == 1
    await stack.wait_caught_up()
    values = await tie_update_values(stack, pair.encode())
    assert values and values[0] is not None and values[-1] is None  # the compacted topic forgets the pair
    # and so do the worker's tables: the tie's state and the ids it kept apart
    assert (await changelog_values(stack, "tie_states"))[json.dumps(pair).encode()] is None
    after = await changelog_values(stack, "tie_applied")
    assert all(after[key] is None for key in stored_apart)

    # The workers learn blocklists with the tenants, every 10 s: let one refresh pass.
    await asyncio.sleep(12)
    later = tmp_path / "later"
    later.mkdir()
    eml(later, "m3", CARL, ME, 9)
    eml(later, "m4", ME, "dora@partner.example", 9)
    stack.cli("import", str(later), "--tenant", "erase-t")
    await stack.wait_caught_up()
    assert (await api.get(f"/v1/people/{CARL}", headers=headers)).status_code == 404
    assert (await api.get(f"/v1/ties/{ME}/dora@partner.example", headers=headers)).status_code == 200


def list_eml(folder: Path, name: str, sender: str, day: int, parent: str = "") -> None:
    """A message sent only to a discussion list (a reply when `parent` is given)."""
    reply = f"In-Reply-To: <{parent}@test>\n" if parent else ""
    (folder / f"{name}.eml").write_text(
        f"Message-ID: <{name}@test>\n{reply}Date: Mon, {day:02d} Jun 2025 10:00:00 +0000\nFrom: <{sender}>\n"
        f"To: <dev@lists.erase.example>\nList-Id: <dev.lists.erase.example>\nSubject: Re: plan\n\nbody\n"
    )


async def changelog_values(stack: Stack, table: str) -> dict[bytes, bytes | None]:
    """The latest value of every key in a Faust table's changelog (None: a tombstone)."""
    consumer = AIOKafkaConsumer(
        f"{stack.settings.app_id}-{table}-changelog",
        bootstrap_servers=stack.settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        latest: dict[bytes, bytes | None] = {}
        while batch := await consumer.getmany(timeout_ms=2000):
            latest.update((r.key, r.value) for records in batch.values() for r in records if r.key is not None)
        return latest
    finally:
        await consumer.stop()


async def test_erasure_makes_the_list_reply_join_forget_the_person(
    stack: Stack, api: httpx.AsyncClient, tmp_path: Path
) -> None:
    headers = {"Authorization": f"Bearer {stack.create_tenant('erase-list', 'erase.example')}"}
    eve, bob = "eve@far.example", "bob@near.example"
    mail = tmp_path / "list"
    mail.mkdir()
    list_eml(mail, "p1", eve, 2)  # eve's post: the join learns she wrote p1
    list_eml(mail, "r1", bob, 3, parent="p1")  # bob answers eve through the list only
    list_eml(mail, "r2", eve, 4, parent="gone")  # eve answers a post never seen: a waiting reply
    list_eml(mail, "r3", bob, 4, parent="gone")  # and so does bob
    stack.cli("import", str(mail), "--tenant", "erase-list")
    await stack.wait_caught_up()
    assert (await api.get(f"/v1/ties/{bob}/{eve}", headers=headers)).status_code == 200  # credited by the join
    eve_post, bob_post, gone = (f'"erase-list|{m}@test"'.encode() for m in ("p1", "r1", "gone"))
    authors = await changelog_values(stack, "message_authors")
    assert eve.encode() in (authors[eve_post] or b"") and authors[bob_post] is not None
    assert eve.encode() in ((await changelog_values(stack, "pending_replies"))[gone] or b"")

    assert (await api.delete(f"/v1/people/{eve}", headers=headers)).status_code == 200
    await stack.wait_caught_up()

    authors = await changelog_values(stack, "message_authors")
    assert authors[eve_post] is None  # a tombstone: compaction forgets that she wrote p1
    assert authors[bob_post] is not None and bob.encode() in authors[bob_post]
    waiting = (await changelog_values(stack, "pending_replies"))[gone] or b""
    assert eve.encode() not in waiting and bob.encode() in waiting  # her reply is gone, his waits on
