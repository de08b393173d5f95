"""The one Kafka producer of the ingest side (file import and mailbox sync): records out, acks awaited.

acks=all and an idempotent producer: once `flush` returns, every record sent before it is durable in
Kafka, which is what lets a caller save a cursor or report success.

A broker restart is ridden out: the idempotent producer resends unacknowledged batches until the
broker is back (without duplicates). It would do so forever, so waiting for acknowledgements is
bounded by `timeout_s` (`TIEGRAPH_PRODUCE_TIMEOUT_S`): a longer outage raises StreamUnavailable,
and the caller re-runs (an import) or retries with backoff (a sync, whose cursor did not move).
Re-sending is harmless: the pipeline counts a message once by its content key.
"""

from __future__ import annotations

import asyncio
from types import TracebackType

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from tiegraph.core.aliases import Alias
from tiegraph.core.records import CalendarEvent, DeadLetter, MailMessage
from tiegraph.errors import StreamUnavailable
from tiegraph.streams import topics as t

_IN_FLIGHT = 2000  # sends awaited together: bounds memory, keeps the producer's batches full


class RecordProducer:
    """Produces mail, meeting and dead-letter records for one tenant-agnostic ingest process."""

    def __init__(self, bootstrap: str, names: t.TopicNames, timeout_s: float = 120.0) -> None:
        self._bootstrap = bootstrap
        self._names = names
        self._timeout_s = timeout_s
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=20, max_batch_size=262144
        )
        self._pending: list[asyncio.Future[object]] = []

    async def __aenter__(self) -> RecordProducer:
        try:
            await self._producer.start()
        except KafkaError as exc:
            await self._producer.stop()
            raise StreamUnavailable(f"Kafka unreachable at {self._bootstrap}: {exc}") from exc
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:  # stop() waits for every queued batch: with the broker gone that is forever
            await asyncio.wait_for(self._producer.stop(), self._timeout_s if exc is None else 1.0)
        except TimeoutError:
            # aiokafka offers no way to abandon queued batches: end its sender task so that it stops
            # retrying in the background (a long-running sync goes on in this process).
            self._producer._sender.sender_task.cancel()
            await self._producer.client.close()
            if exc is None:
                raise StreamUnavailable(self._unacknowledged("closing the producer")) from None

    async def send(self, topic: str, key: bytes, value: dict[str, object]) -> None:
        """Queue one record; waits for earlier acks once `_IN_FLIGHT` records are outstanding."""
        try:
            self._pending.append(await self._producer.send(self._names[topic], key=key, value=t.encode(value)))
        except KafkaError as exc:
            raise StreamUnavailable(f"producing to Kafka failed: {exc}") from exc
        if len(self._pending) >= _IN_FLIGHT:
            await self.flush()

    async def flush(self) -> None:
        """Return once Kafka has acknowledged every record sent so far."""
        pending, self._pending = self._pending, []
        try:
            await asyncio.wait_for(asyncio.gather(*pending), self._timeout_s)
        except TimeoutError:
            raise StreamUnavailable(self._unacknowledged(f"{len(pending)} records")) from None
        except KafkaError as exc:
            raise StreamUnavailable(f"producing to Kafka failed: {exc}") from exc

    def _unacknowledged(self, what: str) -> str:
        return (
            f"Kafka at {self._bootstrap} did not acknowledge {what} within {self._timeout_s:g}s "
            "(TIEGRAPH_PRODUCE_TIMEOUT_S); what was acknowledged is in the pipeline, and sending the "
            "rest again (the same import re-run, the next sync) is safe: every message is counted once"
        )

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    async def send_message(self, message: MailMessage) -> None:
        await self.send(t.MAIL_MESSAGES, t.message_key(message.tenant, message.dedupe_key), message.to_dict())

    async def send_event(self, event: CalendarEvent) -> None:
        await self.send(t.CALENDAR_EVENTS, t.meeting_key(event.tenant, event.key), event.to_dict())

    async def send_alias(self, alias: Alias) -> None:
        await self.send(t.ALIASES, t.alias_key(alias.tenant, alias.alias), alias.to_dict())

    async def send_dead_letter(self, tenant: str, stage: str, source: str, reason: str) -> None:
        letter = DeadLetter(tenant=tenant, stage=stage, source=source, reason=reason)
        await self.send(t.DEAD_LETTERS, f"{tenant}|{source}".encode(), letter.to_dict())
