"""The connector contract shared by every provider (IMAP, Gmail, Google Calendar, Microsoft Graph).

A connector reads one mailbox or calendar and yields batches of parsed records, each with the
cursor that is valid once that batch is durably in Kafka. The runner produces a batch, waits for
Kafka's acknowledgement, and only then saves the cursor: a connector killed at any point resumes
from the last saved cursor, and the pipeline's dedupe (content key, meeting occurrence key) makes
the overlap harmless. Connectors never touch Kafka or the registry themselves.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from tiegraph.core.records import CalendarEvent, MailMessage
from tiegraph.errors import TiegraphError

Cursor = dict[str, Any]  # provider-specific, JSON-serialisable; None/{} means "never synced"


@dataclass
class SyncBatch:
    """Records read since the previous batch and the cursor that covers them."""

    cursor: Cursor
    messages: list[MailMessage] = field(default_factory=list)
    events: list[CalendarEvent] = field(default_factory=list)
    rejects: list[tuple[str, str]] = field(default_factory=list)  # (source id, reason): dead letters
    backfilling: bool = False  # True while the first full pass of a mailbox is still running


class Connector(Protocol):
    """One provider account (a mailbox or a calendar) of one tenant."""

    provider: str  # "imap", "gmail", "gcal", "msgraph"

    def sync(self, cursor: Cursor) -> AsyncIterator[SyncBatch]:
        """Everything new since `cursor` (a full pass when it is empty), in batches, oldest first."""
        ...

    async def wait_for_changes(self, timeout: float) -> None:
        """Return when the provider may have something new (IMAP IDLE, push) or after `timeout`."""
        ...

    async def close(self) -> None: ...


SecretHook = Callable[[dict[str, Any]], Awaitable[None]]  # stores a connector's replaced credentials


@runtime_checkable
class RotatesSecret(Protocol):
    """A connector whose provider replaces its credentials as they are used (Microsoft rotates refresh
    tokens): the runner hands it a hook that re-encrypts and stores the new secret in the registry,
    so the next run does not start from a token the provider may already have retired."""

    def on_secret_rotated(self, hook: SecretHook) -> None:
        """Call `hook` with the whole new secret (same shape as the one given) whenever it changes."""
        ...


class ConnectorError(TiegraphError):
    """The provider failed in a way a person should read (shown as the mailbox's last error)."""


class ConnectorAuthError(ConnectorError):
    """Credentials were refused: the mailbox goes to auth_failed until someone fixes them."""


class ConnectorThrottled(ConnectorError):
    """The provider asked us to slow down; the cursor stays where it is."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class CursorInvalidated(ConnectorError):
    """The saved cursor no longer means anything (UIDVALIDITY changed, historyId expired,
    syncToken gone): the connector resyncs in full; dedupe keeps the counts right."""
