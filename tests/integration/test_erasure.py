"""Erasure through the real pipeline: the worker forgets the pair (tombstone on the compacted
tie.updates.v1) and drops later mail with the blocked address."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from tests.stack import Stack
from tiegraph.deployment import topic_names
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
    consumer = AIOKafkaConsumer(
        topic_names(stack.settings)[TIE_UPDATES],
        bootstrap_servers=stack.settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        found: list[bytes | None] = []
        while True:
            batch = await consumer.getmany(timeout_ms=2000)
            if not batch:
                return found
            found += [r.value for records in batch.values() for r in records if r.key == key]
    finally:
        await consumer.stop()


async def test_erased_person_is_forgotten_by_the_stream_and_stays_out(
    stack: Stack, api: httpx.AsyncClient, tmp_path: Path
) -> None:
    headers = {"Authorization": f"Bearer {stack.create_tenant('erase-t', 'erase.example')}"}
    first = tmp_path / "first"
    first.mkdir()
    eml(first, "m1", ME, CARL, 2)
    eml(first, "m2", CARL, ME, 3)
    stack.cli("import", str(first), "--tenant", "erase-t")
    await stack.wait_caught_up()
    assert (await api.get(f"/v1/ties/{ME}/{CARL}", headers=headers)).status_code == 200

    erased = await api.delete(f"/v1/people/{CARL}", headers=headers)
    assert erased.status_code == 200 and erased.json()["ties"] == 1
    await stack.wait_caught_up()
    values = await tie_update_values(stack, pair_key("erase-t", ME, CARL))
    assert values and values[0] is not None and values[-1] is None  # the compacted topic forgets the pair

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
