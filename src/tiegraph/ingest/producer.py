"""The one Kafka producer of the ingest side (file import and mailbox sync): records out, acks awaited.

acks=all and an idempotent producer: once `flush` returns, every record sent before it is durable in
Kafka, which is what lets a caller save a cursor or report success.
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

    def __init__(self, bootstrap: str, names: t.TopicNames) -> None:
        self._bootstrap = bootstrap
        self._names = names
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
        await self._producer.stop()

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
            await asyncio.gather(*pending)
        except KafkaError as exc:
            raise StreamUnavailable(f"producing to Kafka failed: {exc}") from exc

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
