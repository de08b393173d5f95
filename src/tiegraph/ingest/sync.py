"""`tiegraph sync`: every registered mailbox through its connector into Kafka, cursor saved after the acks.

Per batch: produce its records, wait for Kafka's acknowledgement, then save cursor + counts + state in
one registry write guarded by this runner's lease. A runner killed anywhere resumes from the last saved
cursor; what it re-reads is at most the unacknowledged batch, and the pipeline's dedupe makes that
harmless. Provider errors become the mailbox's state with a reason in words (README "Connecting mailboxes").
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import signal
import socket
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from tiegraph.core.aliases import SentMail
from tiegraph.core.backoff import backoff_seconds
from tiegraph.deployment import connect_graph, ensure_pipeline_topics, topic_names
from tiegraph.errors import GraphUnavailable, StreamUnavailable
from tiegraph.graph.mailboxes import ClaimedMailbox, Mailbox, MailboxRegistry
from tiegraph.ingest.base import (
    Connector,
    ConnectorAuthError,
    ConnectorError,
    ConnectorThrottled,
    Cursor,
    CursorInvalidated,
    RotatesSecret,
    SecretHook,
    SyncBatch,
)
from tiegraph.ingest.connectors import build_connector
from tiegraph.ingest.producer import RecordProducer
from tiegraph.ingest.secrets import SecretBox, SecretKeyError
from tiegraph.settings import Settings

log = logging.getLogger(__name__)
ConnectorBuilder = Callable[[str, dict[str, Any], dict[str, Any]], Connector]


class LeaseLost(ConnectorError):
    """Another runner took the mailbox over (this one stalled past its lease)."""


@dataclass
class MailboxReport:
    """What one pass over one mailbox did."""

    tenant: str
    id: str
    state: str
    messages: int = 0
    events: int = 0
    rejects: int = 0
    error: str = ""


def runner_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class SyncRunner:
    """Syncs the registry's mailboxes, one runner per mailbox at a time (a lease in the registry)."""

    def __init__(
        self,
        registry: MailboxRegistry,
        producer: RecordProducer,
        box: SecretBox,
        *,
        runner_id: str,
        lease_seconds: float,
        poll_seconds: float,
        clock: Callable[[], float] = time.time,
        connectors: ConnectorBuilder = build_connector,
    ) -> None:
        self._registry, self._producer, self._box = registry, producer, box
        self._runner, self._lease, self._poll = runner_id, lease_seconds, poll_seconds
        self._clock, self._connectors = clock, connectors

    # -- once -------------------------------------------------------------------------------------

    async def run_once(self, tenant: str | None = None) -> list[MailboxReport]:
        """One pass over every mailbox (of `tenant`); those another runner holds are reported and left."""
        reports = []
        for mailbox in await self._registry.list(tenant):
            if mailbox.state == "auth_failed" or _throttled(mailbox, self._clock()):
                reports.append(_report(mailbox, mailbox.state, mailbox.last_error))
                continue
            claimed = await self._claim(mailbox)
            if claimed is None:
                reports.append(_report(mailbox, mailbox.state, "synced by another runner right now"))
                continue
            connector: Connector | None = None
            try:
                connector = self._build(claimed)
                reports.append(await self._sync_pass(claimed.mailbox, connector))
            except ConnectorError as exc:
                reports.append(await self._record_failure(claimed.mailbox, exc, failures=1))
            finally:
                if connector is not None:
                    await connector.close()
                await self._registry.release(mailbox.tenant, mailbox.id, runner=self._runner)
        return reports

    # -- following --------------------------------------------------------------------------------

    async def follow(self, tenant: str | None = None, stop: asyncio.Event | None = None) -> None:
        """Keep every mailbox live until `stop`; looks for new and orphaned mailboxes every half lease."""
        stop = stop or asyncio.Event()
        tasks: dict[tuple[str, str], asyncio.Task[None]] = {}
        try:
            while not stop.is_set():
                try:
                    mailboxes = await self._registry.list(tenant)
                except GraphUnavailable as exc:  # a Neo4j restart must not end a process meant to run for years
                    log.warning("cannot read the mailbox registry (%s); trying again", exc)
                    mailboxes = []
                for mailbox in mailboxes:
                    key = (mailbox.tenant, mailbox.id)
                    running = key in tasks and not tasks[key].done()
                    if not running and mailbox.state != "auth_failed":
                        tasks[key] = asyncio.create_task(self._follow_mailbox(mailbox, stop))
                await _sleep_unless(stop, self._lease / 2)
        finally:
            for task in tasks.values():
                task.cancel()
            await asyncio.gather(*tasks.values(), return_exceptions=True)

    async def _follow_mailbox(self, mailbox: Mailbox, stop: asyncio.Event) -> None:
        connector: Connector | None = None
        failures = 0
        try:
            if _throttled(mailbox, self._clock()):
                await _sleep_unless(stop, (mailbox.retry_at or 0) - self._clock())
            while not stop.is_set():
                try:
                    claimed = await self._claim(mailbox)
                except GraphUnavailable as exc:
                    failures += 1
                    log.warning("%s/%s: cannot take the lease (%s)", mailbox.tenant, mailbox.id, exc)
                    await _sleep_unless(stop, backoff_seconds(failures))
                    continue
                if claimed is None:
                    return  # another runner has it; the next scan looks again
                try:
                    connector = connector or self._build(claimed)
                    await self._sync_pass(claimed.mailbox, connector)
                    failures = 0
                    await _unless_stopped(stop, connector.wait_for_changes(self._poll))
                    continue
                except ConnectorAuthError as exc:
                    await self._record_failure(claimed.mailbox, exc, failures=1)
                    return
                except ConnectorThrottled as exc:
                    await self._record_failure(claimed.mailbox, exc, failures=1)
                    delay = exc.retry_after
                except ConnectorError as exc:  # includes LeaseLost, CursorInvalidated (handled in the pass)
                    failures += 1
                    await self._record_failure(claimed.mailbox, exc, failures=failures)
                    delay = backoff_seconds(failures)
                if connector is not None:
                    await connector.close()
                    connector = None
                await _sleep_unless(stop, delay)
        finally:
            if connector is not None:
                await connector.close()
            with contextlib.suppress(GraphUnavailable):  # the lease then simply expires
                await self._registry.release(mailbox.tenant, mailbox.id, runner=self._runner)

    # -- one pass ---------------------------------------------------------------------------------

    async def _sync_pass(self, mailbox: Mailbox, connector: Connector) -> MailboxReport:
        """Everything new since the saved cursor; a cursor the provider invalidated is reset and resynced."""
        try:
            return await self._drain(mailbox, connector, mailbox.cursor)
        except CursorInvalidated as exc:
            log.warning("%s/%s: %s; resyncing in full", mailbox.tenant, mailbox.id, exc)
            await self._registry.set_state(
                mailbox.tenant,
                mailbox.id,
                runner=self._runner,
                state="backfilling",
                error=f"resyncing: {exc}",
                now=self._clock(),
                cursor={},
            )
            return await self._drain(mailbox, connector, {})

    async def _drain(self, mailbox: Mailbox, connector: Connector, cursor: Cursor) -> MailboxReport:
        report = MailboxReport(mailbox.tenant, mailbox.id, "live")
        # The owner's sent mail seen in this pass: aliases go out with the batch that taught them.
        sent_mail, announced = SentMail(mailbox.tenant, mailbox.owner.lower()), set[str]()
        async for batch in connector.sync(cursor):
            await self._produce(mailbox, batch, sent_mail, announced)
            cursor = batch.cursor
            state = "backfilling" if batch.backfilling else "live"
            await self._save(mailbox, batch, state=state, success=False)
            report.messages += len(batch.messages)
            report.events += len(batch.events)
            report.rejects += len(batch.rejects)
        await self._save(mailbox, SyncBatch(cursor=cursor), state="live", success=True)
        return report

    async def _produce(
        self, mailbox: Mailbox, batch: SyncBatch, sent_mail: SentMail | None = None, announced: set[str] | None = None
    ) -> None:
        """Every record of the batch, stamped with the mailbox's tenant, and the owner's aliases
        learned so far that were not sent yet; acknowledged by Kafka on return."""
        try:
            for message in batch.messages:
                stamped = dataclasses.replace(message, tenant=mailbox.tenant)
                await self._producer.send_message(stamped)
                if sent_mail is not None:
                    sent_mail.note(stamped)
            if sent_mail is not None and announced is not None:
                for alias in sent_mail.aliases():
                    if alias.alias not in announced:
                        await self._producer.send_alias(alias)
                        announced.add(alias.alias)
            for event in batch.events:
                await self._producer.send_event(dataclasses.replace(event, tenant=mailbox.tenant))
            for source, reason in batch.rejects:
                await self._producer.send_dead_letter(mailbox.tenant, f"sync:{mailbox.provider}", source, reason)
            await self._producer.flush()
        except StreamUnavailable as exc:
            raise ConnectorError(f"Kafka did not take the batch ({exc}); the cursor stays where it was") from exc

    async def _save(self, mailbox: Mailbox, batch: SyncBatch, *, state: str, success: bool) -> None:
        try:
            saved = await self._registry.save_progress(
                mailbox.tenant,
                mailbox.id,
                runner=self._runner,
                cursor=batch.cursor,
                messages=len(batch.messages),
                events=len(batch.events),
                state=state,
                success=success,
                now=self._clock(),
                lease_seconds=self._lease,
            )
        except GraphUnavailable as exc:
            raise ConnectorError(f"the registry could not save the cursor ({exc}); the batch is re-read") from exc
        if not saved:
            raise LeaseLost(f"{mailbox.id}: another runner took this mailbox over; stopping here")

    # -- helpers ----------------------------------------------------------------------------------

    async def _claim(self, mailbox: Mailbox) -> ClaimedMailbox | None:
        return await self._registry.claim(
            mailbox.tenant, mailbox.id, runner=self._runner, now=self._clock(), lease_seconds=self._lease
        )

    def _build(self, claimed: ClaimedMailbox) -> Connector:
        mailbox = claimed.mailbox
        try:
            secret = self._box.open(claimed.sealed_secret)
        except SecretKeyError as exc:
            raise ConnectorAuthError(str(exc)) from exc
        connector = self._connectors(mailbox.provider, {**mailbox.config, "tenant": mailbox.tenant}, secret)
        if isinstance(connector, RotatesSecret):
            connector.on_secret_rotated(self._secret_store(claimed))
        return connector

    def _secret_store(self, claimed: ClaimedMailbox) -> SecretHook:
        """Re-encrypts and stores credentials the provider rotated, as soon as it hands them out: the
        old refresh token may already be retired, so waiting for the end of the pass could lose access."""
        mailbox, current = claimed.mailbox, claimed.sealed_secret

        async def store(secret: dict[str, Any]) -> None:
            nonlocal current
            sealed = self._box.seal(secret)
            try:
                saved = await self._registry.replace_secret(
                    mailbox.tenant, mailbox.id, runner=self._runner, previous=current, sealed_secret=sealed
                )
            except GraphUnavailable as exc:
                raise ConnectorError(f"the registry could not store the rotated credentials ({exc})") from exc
            if not saved:
                raise LeaseLost(f"{mailbox.id}: re-added or taken over while syncing; its new credentials win")
            current = sealed

        return store

    async def _record_failure(self, mailbox: Mailbox, exc: ConnectorError, *, failures: int) -> MailboxReport:
        now = self._clock()
        if isinstance(exc, ConnectorAuthError):
            state, retry_at = "auth_failed", None
        elif isinstance(exc, ConnectorThrottled):
            state, retry_at = "throttled", now + exc.retry_after
        else:
            state, retry_at = "error", now + backoff_seconds(failures)
        log.warning("%s/%s: %s: %s", mailbox.tenant, mailbox.id, state, exc)
        await self._registry.set_state(
            mailbox.tenant, mailbox.id, runner=self._runner, state=state, error=str(exc), now=now, retry_at=retry_at
        )
        return _report(mailbox, state, str(exc))


def _throttled(mailbox: Mailbox, now: float) -> bool:
    """The provider asked us to wait and the time has not come (errors are retried when asked to)."""
    return mailbox.state == "throttled" and (mailbox.retry_at or 0) > now


def _report(mailbox: Mailbox, state: str, error: str) -> MailboxReport:
    return MailboxReport(mailbox.tenant, mailbox.id, state, error=error)


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


async def _unless_stopped(stop: asyncio.Event, waiting: Coroutine[Any, Any, None]) -> None:
    """Wait for `waiting`, cancelling it once `stop` is set: a SIGTERM must not sit out an IMAP
    IDLE or a poll interval (up to `TIEGRAPH_SYNC_POLL_SECONDS`) before the leases are released."""
    work, stopping = asyncio.ensure_future(waiting), asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({work, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        if not work.done():
            work.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await work
    if not work.cancelled():
        work.result()  # the connector's error, if it failed


async def run_sync(settings: Settings, *, tenant: str | None, follow: bool) -> list[MailboxReport]:
    """`tiegraph sync`: one pass (or follow until cancelled) with this process as one runner."""
    await ensure_pipeline_topics(settings)
    graph = connect_graph(settings)
    try:
        async with RecordProducer(
            settings.kafka_bootstrap, topic_names(settings), settings.produce_timeout_s
        ) as producer:
            runner = SyncRunner(
                MailboxRegistry(graph),
                producer,
                SecretBox.from_settings(settings),
                runner_id=runner_identity(),
                lease_seconds=settings.sync_lease_seconds,
                poll_seconds=settings.sync_poll_seconds,
            )
            if follow:
                stop = asyncio.Event()
                # SIGTERM (a service manager stopping us) ends the follow cleanly: leases are released.
                asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
                await runner.follow(tenant, stop)
                return []
            return await runner.run_once(tenant)
    finally:
        await graph.close()
