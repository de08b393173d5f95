"""The sync runner's contract with any connector, on the real Kafka and Neo4j: the cursor moves only with
acknowledged batches, provider failures become states with reasons, and the lease hands mailboxes over."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.stack import Stack
from tiegraph.deployment import topic_names
from tiegraph.graph.mailboxes import Mailbox, MailboxRegistry
from tiegraph.graph.neo4j import GraphStore
from tiegraph.ingest.base import Connector, ConnectorError, ConnectorThrottled, Cursor, CursorInvalidated, SyncBatch
from tiegraph.ingest.headers import parse_message
from tiegraph.ingest.producer import RecordProducer
from tiegraph.ingest.secrets import SecretBox
from tiegraph.ingest.sync import SyncRunner
from tiegraph.streams.topics import ALIASES

pytestmark = pytest.mark.integration


def _message(n: int) -> Any:
    raw = f"From: a@runner.example\r\nTo: b{n}@runner.example\r\nDate: Mon, 2 Jun 2025 10:{n:02d}:00 +0000\r\n\r\n"
    return parse_message(raw.encode(), tenant="", mailbox="a@runner.example", source_id=f"scripted:{n}")


class ScriptedConnector:
    """Yields three batches of two messages after the cursor's position, failing as told."""

    provider = "scripted"

    def __init__(self, fail_after: int | None = None, failure: Exception | None = None) -> None:
        self.fail_after, self.failure, self.cursors_seen = fail_after, failure, list[Cursor]()

    async def sync(self, cursor: Cursor) -> AsyncIterator[SyncBatch]:
        self.cursors_seen.append(cursor)
        position = int(cursor.get("position", 0))
        for batch in range(position, 3):
            if self.fail_after is not None and batch == self.fail_after and self.failure is not None:
                failure, self.failure = self.failure, None  # fails once
                raise failure
            yield SyncBatch(cursor={"position": batch + 1}, messages=[_message(2 * batch), _message(2 * batch + 1)])

    async def wait_for_changes(self, timeout: float) -> None:
        return None

    async def close(self) -> None:
        return None


async def _runner(
    stack: Stack, graph: GraphStore, producer: RecordProducer, connector: Connector, *, name: str, clock_skew: float
) -> SyncRunner:
    return SyncRunner(
        MailboxRegistry(graph),
        producer,
        SecretBox.from_settings(stack.settings),
        runner_id=name,
        lease_seconds=60,
        poll_seconds=1,
        clock=lambda: time.time() + clock_skew,
        connectors=lambda provider, config, secret: connector,
    )


async def _register(stack: Stack, graph: GraphStore, tenant: str) -> Mailbox:
    stack.create_tenant(tenant, "runner.example")
    sealed = SecretBox.from_settings(stack.settings).seal({"token": "t"})
    mailbox = await MailboxRegistry(graph).add(
        tenant=tenant, provider="scripted", owner="a@runner.example", config={}, sealed_secret=sealed, now=time.time()
    )
    assert mailbox is not None
    return mailbox


async def _state(graph: GraphStore, tenant: str) -> Mailbox:
    (mailbox,) = await MailboxRegistry(graph).list(tenant)
    return mailbox


@pytest.mark.parametrize(
    ("failure", "state"),
    [(ConnectorThrottled("429: slow down", retry_after=30), "throttled"), (ConnectorError("boom"), "error")],
)
async def test_a_failing_provider_keeps_the_acknowledged_cursor_and_says_why(
    stack: Stack, graph: GraphStore, failure: ConnectorError, state: str
) -> None:
    tenant = f"runner-{state}"
    await _register(stack, graph, tenant)
    connector = ScriptedConnector(fail_after=2, failure=failure)
    async with RecordProducer(stack.settings.kafka_bootstrap, topic_names(stack.settings)) as producer:
        runner = await _runner(stack, graph, producer, connector, name="r1", clock_skew=0)
        (report,) = await runner.run_once(tenant)
        assert report.state == state and str(failure) in report.error
        failed = await _state(graph, tenant)
        assert failed.state == state and failed.last_error == str(failure) and failed.retry_at
        assert failed.cursor == {"position": 2} and failed.messages == 4  # the two batches Kafka acknowledged
        assert failed.lease_owner is None

        (report,) = await runner.run_once(tenant)  # run again at once: an error is retried, a throttle waits
        if state == "throttled":
            assert report.state == "throttled" and connector.cursors_seen == [{}]
            later = await _runner(stack, graph, producer, connector, name="r1", clock_skew=31)
            (report,) = await later.run_once(tenant)
    assert connector.cursors_seen[-1] == {"position": 2}  # resumed where the acknowledged cursor was
    recovered = await _state(graph, tenant)
    assert recovered.state == "live" and recovered.last_error == "" and recovered.messages == 6
    assert recovered.last_success_at and recovered.retry_at is None


async def test_an_invalidated_cursor_is_reset_and_the_mailbox_resynced(stack: Stack, graph: GraphStore) -> None:
    await _register(stack, graph, "runner-reset")
    connector = ScriptedConnector(fail_after=1, failure=CursorInvalidated("historyId too old"))
    async with RecordProducer(stack.settings.kafka_bootstrap, topic_names(stack.settings)) as producer:
        runner = await _runner(stack, graph, producer, connector, name="r1", clock_skew=0)
        (report,) = await runner.run_once("runner-reset")
    assert report.state == "live" and connector.cursors_seen == [{}, {}]
    mailbox = await _state(graph, "runner-reset")
    assert mailbox.state == "live" and mailbox.cursor == {"position": 3} and mailbox.messages == 2 + 6


async def test_one_runner_per_mailbox_and_an_expired_lease_hands_it_over(stack: Stack, graph: GraphStore) -> None:
    mailbox = await _register(stack, graph, "runner-lease")
    registry = MailboxRegistry(graph)
    held = await registry.claim("runner-lease", mailbox.id, runner="dead-runner", now=time.time(), lease_seconds=60)
    assert held is not None and held.sealed_secret

    connector = ScriptedConnector()
    async with RecordProducer(stack.settings.kafka_bootstrap, topic_names(stack.settings)) as producer:
        now_runner = await _runner(stack, graph, producer, connector, name="r2", clock_skew=0)
        (report,) = await now_runner.run_once("runner-lease")
        assert "another runner" in report.error and connector.cursors_seen == []
        assert (await _state(graph, "runner-lease")).lease_owner == "dead-runner"

        later_runner = await _runner(stack, graph, producer, connector, name="r3", clock_skew=61)
        (report,) = await later_runner.run_once("runner-lease")
    assert report.state == "live" and report.messages == 6
    assert (await _state(graph, "runner-lease")).lease_owner is None


class SentFolderConnector:
    """The owner's sent folder over two batches: his own address and his assistant's first, an
    alias of his in the second, and the alias again in the third."""

    provider = "scripted"
    OWNER = "jeff.skilling@runner.example"

    @classmethod
    def _sent(cls, n: int, sender: str) -> Any:
        raw = f"From: {sender}\r\nTo: carl@partner.example\r\nDate: Mon, 2 Jun 2025 11:{n:02d}:00 +0000\r\n\r\n"
        return parse_message(raw.encode(), tenant="", mailbox=cls.OWNER, folder="Sent Items", source_id=f"sent:{n}")

    async def sync(self, cursor: Cursor) -> AsyncIterator[SyncBatch]:
        own, assistant = f'"Jeff Skilling" <{self.OWNER}>', '"Sherri Sera" <sherri.sera@runner.example>'
        alias = '"Skilling, Jeff" <jeff@home.example>'
        yield SyncBatch(cursor={"position": 1}, messages=[self._sent(1, own), self._sent(2, assistant)])
        yield SyncBatch(cursor={"position": 2}, messages=[self._sent(3, alias), self._sent(4, assistant)])
        yield SyncBatch(cursor={"position": 3}, messages=[self._sent(5, alias)])

    async def wait_for_changes(self, timeout: float) -> None:
        return None

    async def close(self) -> None:
        return None


async def test_the_owners_aliases_go_out_once_with_the_batch_that_taught_them(stack: Stack, graph: GraphStore) -> None:
    tenant = "runner-aliases"
    stack.create_tenant(tenant, "runner.example")
    sealed = SecretBox.from_settings(stack.settings).seal({"token": "t"})
    owner = SentFolderConnector.OWNER
    await MailboxRegistry(graph).add(
        tenant=tenant, provider="scripted", owner=owner, config={}, sealed_secret=sealed, now=time.time()
    )
    async with RecordProducer(stack.settings.kafka_bootstrap, topic_names(stack.settings)) as producer:
        runner = await _runner(stack, graph, producer, SentFolderConnector(), name="r1", clock_skew=0)
        (report,) = await runner.run_once(tenant)
    assert report.state == "live" and report.messages == 5
    records = [
        json.loads(value or b"")
        for key, value in await stack.topic_records(ALIASES)
        if key is not None and key.startswith(b"runner-aliases|")
    ]
    assert [(r["alias"], r["owner"], r["name"]) for r in records] == [("jeff@home.example", owner, "Skilling, Jeff")]
