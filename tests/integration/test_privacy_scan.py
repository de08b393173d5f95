"""No subject or body text anywhere: every record of every topic (the pipeline's and the worker's
table changelogs) and every property in Neo4j is scanned for the words of a mailbox just imported."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from tests.stack import Stack
from tiegraph.graph.neo4j import GraphStore

pytestmark = pytest.mark.integration


def _mail(sender: str, to: str, at: float, subject: str, body: str, msgid: str, in_reply_to: str = "") -> bytes:
    headers = (
        f"Message-ID: <{msgid}>\r\nDate: {format_datetime(datetime.fromtimestamp(at, tz=UTC))}\r\n"
        f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\nList-Id: <secret.lists.scan.example>\r\n"
    )
    if in_reply_to:
        headers += f"In-Reply-To: <{in_reply_to}>\r\n"
    return (headers + f"\r\n{body}\r\n").encode()


async def _every_record(bootstrap: str) -> list[bytes]:
    """Keys and values of every record on every topic of the cluster, from the beginning."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        topics = [name for name in await admin.list_topics() if not name.startswith("__")]
    finally:
        await admin.close()
    consumer = AIOKafkaConsumer(*topics, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    found: list[bytes] = []
    try:
        await consumer.seek_to_beginning()
        ends = await consumer.end_offsets(list(consumer.assignment()))
        remaining = {tp: end for tp, end in ends.items() if end > 0}
        while remaining:
            for tp, records in (await consumer.getmany(timeout_ms=2000, max_records=10000)).items():
                found += [(r.key or b"") + b"\0" + (r.value or b"") for r in records]
                if records and records[-1].offset + 1 >= remaining.get(tp, 0):
                    remaining.pop(tp, None)
    finally:
        await consumer.stop()
    return found


async def test_no_subject_or_body_text_reaches_kafka_or_neo4j(stack: Stack, graph: GraphStore, tmp_path: Path) -> None:
    marker, ids = uuid.uuid4().hex, [f"{uuid.uuid4().hex}@scan" for _ in range(3)]  # ids are kept, text is not
    subject, body = f"Merger {marker} subject", f"confidential {marker[::-1]} body"
    at = 1_750_000_000.0
    mails = [
        _mail("ann@scan.example", "bob@scan.example", at, subject, body, ids[0]),
        _mail("bob@scan.example", "ann@scan.example", at + 60, f"Re: {subject}", body, ids[1], ids[0]),
        _mail("cy@scan.example", "secret@lists.scan.example", at + 120, f"Re: {subject}", body, ids[2], ids[0]),
    ]
    for i, raw in enumerate(mails):
        (tmp_path / f"{i}.eml").write_bytes(raw)
    stack.create_tenant("scan", "scan.example")
    stack.cli("import", str(tmp_path), "--tenant", "scan", "--owner", "ann@scan.example")
    await stack.wait_caught_up()
    assert await graph.tie("scan", "ann@scan.example", "bob@scan.example") is not None  # it did flow through
    assert await graph.tie("scan", "cy@scan.example", "ann@scan.example") is not None  # via the list-reply join

    words = [marker.encode(), marker[::-1].encode()]
    records = await _every_record(stack.settings.kafka_bootstrap)
    assert records
    leaks = [r[:200] for r in records if any(w in r for w in words)]
    assert not leaks, leaks

    rows = await graph._read(  # a scan of everything: no tenant filter, on purpose
        "MATCH (n) RETURN properties(n) AS p UNION ALL MATCH ()-[r]->() RETURN properties(r) AS p"
    )
    text = repr([row["p"] for row in rows])
    assert not any(w.decode() in text for w in words)
