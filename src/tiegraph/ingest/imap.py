"""The IMAP connector (imapclient): header-only fetches in batches, a cursor per folder, IDLE when following.

Cursor: {"folders": {name: {"uidvalidity", "last_uid", "highestmodseq"}}}. UIDs only mean something
together with the folder's UIDVALIDITY (RFC 3501 2.3.1.1): when it changes, that folder is read again
from the start and the pipeline's content-key dedupe keeps anything from counting twice. imapclient
is synchronous, so every call runs in a worker thread, one at a time (a client is not thread-safe).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import Any, TypeVar

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError, LoginError

from tiegraph.core.records import MailMessage
from tiegraph.ingest.base import ConnectorAuthError, ConnectorError, Cursor, SyncBatch
from tiegraph.ingest.headers import MalformedMessage, parse_message

log = logging.getLogger(__name__)

# Only what parse_message reads: never bodies, never more header fields than needed.
HEADER_FIELDS = (
    "FROM SENDER TO CC BCC REPLY-TO DATE SUBJECT MESSAGE-ID IN-REPLY-TO REFERENCES "
    "LIST-ID LIST-UNSUBSCRIBE PRECEDENCE AUTO-SUBMITTED"
)
_FETCH_ITEM = f"BODY.PEEK[HEADER.FIELDS ({HEADER_FIELDS})]"
# Folders that hold no real correspondence (or only unsent drafts), by RFC 6154 flag and, for servers
# without SPECIAL-USE, by the names common clients give them.
SKIPPED_SPECIAL_USE = frozenset({b"\\Junk", b"\\Trash", b"\\Drafts"})
SKIPPED_NAMES = frozenset(
    {"spam", "junk", "junk e-mail", "junk email", "bulk mail", "trash", "deleted items", "deleted messages", "drafts"}
)
_UNSELECTABLE = frozenset({b"\\Noselect", b"\\NonExistent"})
_CONNECT_ATTEMPTS = 4  # then the runner's backoff takes over
_T = TypeVar("_T")


def folders_to_sync(
    listing: Iterable[tuple[Sequence[bytes], bytes | None, str]],
    *,
    include: Sequence[str] = (),
) -> list[str]:
    """The folders worth reading from a LIST answer: selectable, not spam/trash/drafts; `include`
    (when given) restricts to those names. Pure, so the policy is tested without a server."""
    chosen = []
    wanted = {name.lower() for name in include}
    for flags, delimiter, name in listing:
        flag_set = {bytes(f) for f in flags}
        if flag_set & _UNSELECTABLE:
            continue
        if wanted:
            if name.lower() in wanted:
                chosen.append(name)
            continue
        leaf = name.rsplit(delimiter.decode(), 1)[-1] if delimiter else name
        if flag_set & SKIPPED_SPECIAL_USE or leaf.lower() in SKIPPED_NAMES:
            continue
        chosen.append(name)
    return chosen


def source_id(host: str, folder: str, uidvalidity: int, uid: int) -> str:
    return f"imap://{host}/{folder};UIDVALIDITY={uidvalidity};UID={uid}"


class ImapConnector:
    """One IMAP account of one owner."""

    provider = "imap"

    def __init__(
        self,
        *,
        owner: str,
        host: str,
        port: int,
        user: str,
        password: str,
        tls: bool = True,
        folders: Sequence[str] = (),
        tenant: str = "",
        batch_size: int = 500,
        timeout: float = 30.0,
    ) -> None:
        self.owner, self.host, self.port, self.user = owner, host, port, user
        self._password, self._tls, self._folders = password, tls, tuple(folders)
        self._tenant, self._batch_size, self._timeout = tenant, batch_size, timeout
        self._client: IMAPClient | None = None
        self._lock = asyncio.Lock()

    # -- the Connector protocol ---------------------------------------------------------------

    async def sync(self, cursor: Cursor) -> AsyncIterator[SyncBatch]:
        """New messages of every chosen folder since `cursor`, in UID order, one batch at a time."""
        folder_states: dict[str, dict[str, Any]] = {
            name: dict(state) for name, state in (cursor or {}).get("folders", {}).items()
        }
        client = await self._connected()
        listing = await self._call(client.list_folders)
        for folder in folders_to_sync(listing, include=self._folders):
            async for batch in self._sync_folder(client, folder, folder_states):
                yield batch

    async def wait_for_changes(self, timeout: float) -> None:
        """IDLE on the INBOX (new mail lands there) up to `timeout`; a plain wait where IDLE is missing.
        Other folders are looked at when the wait ends."""
        client = await self._connected()
        if not client.has_capability("IDLE"):
            await asyncio.sleep(timeout)
            return
        try:
            await self._call(self._idle, client, timeout)
        except asyncio.CancelledError:
            # A stop: cancelling does not end the IDLE, which blocks a thread up to `timeout`;
            # shutting its socket does (the connection is given up: the next pass reconnects).
            self._client = None
            with contextlib.suppress(OSError):
                client.socket().shutdown(socket.SHUT_RDWR)
            raise

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                await asyncio.to_thread(client.logout)
            except (IMAPClientError, OSError):
                log.debug("IMAP logout from %s failed; the connection is dropped anyway", self.host)

    # -- one folder ------------------------------------------------------------------------------

    async def _sync_folder(
        self, client: IMAPClient, folder: str, states: dict[str, dict[str, Any]]
    ) -> AsyncIterator[SyncBatch]:
        status = await self._call(client.select_folder, folder, True)
        uidvalidity = int(status[b"UIDVALIDITY"])
        uidnext = int(status.get(b"UIDNEXT", 0))
        modseq = status.get(b"HIGHESTMODSEQ")
        saved = states.get(folder)
        if saved and saved.get("uidvalidity") != uidvalidity:
            log.warning("%s: UIDVALIDITY of %r changed; reading the folder again", self.host, folder)
            saved = None
        backfilling = saved is None
        last_uid = int(saved["last_uid"]) if saved else 0
        if saved and uidnext and uidnext - 1 <= last_uid:
            return  # nothing new: no search needed
        found = await self._call(client.search, ["UID", f"{last_uid + 1}:*"])
        uids = sorted(uid for uid in found if uid > last_uid)  # "n:*" always matches the newest message
        if not uids:
            states[folder] = {"uidvalidity": uidvalidity, "last_uid": last_uid, "highestmodseq": modseq}
            yield SyncBatch(cursor={"folders": _copy(states)}, backfilling=backfilling)
            return
        for start in range(0, len(uids), self._batch_size):
            chunk = uids[start : start + self._batch_size]
            fetched = await self._call(client.fetch, chunk, [_FETCH_ITEM])
            batch = SyncBatch(cursor={}, backfilling=backfilling)
            for uid in chunk:
                if uid not in fetched:
                    continue  # expunged between SEARCH and FETCH
                self._parse_into(
                    batch, _header_of(fetched[uid]), folder, source_id(self.host, folder, uidvalidity, uid)
                )
            states[folder] = {"uidvalidity": uidvalidity, "last_uid": chunk[-1], "highestmodseq": modseq}
            batch.cursor = {"folders": _copy(states)}
            yield batch

    def _parse_into(self, batch: SyncBatch, header: bytes | None, folder: str, source: str) -> None:
        try:
            if header is None:
                raise MalformedMessage("the server returned no header block")
            message: MailMessage = parse_message(
                header, tenant=self._tenant, mailbox=self.owner, folder=folder, source_id=source
            )
            batch.messages.append(message)
        except MalformedMessage as exc:
            batch.rejects.append((source, str(exc)))

    # -- connection ------------------------------------------------------------------------------

    async def _connected(self) -> IMAPClient:
        """The open client, or a new one after bounded backoff on network errors (never on a refused login)."""
        if self._client is not None:
            return self._client
        delay = 1.0
        for attempt in range(1, _CONNECT_ATTEMPTS + 1):
            try:
                self._client = await asyncio.to_thread(self._login)
                return self._client
            except LoginError as exc:
                raise ConnectorAuthError(
                    f"the IMAP server {self.host}:{self.port} refused the login of user {self.user!r} "
                    f"({_server_text(exc)}): check the user name and password, then run "
                    f"`tiegraph mailboxes add imap ... --password-env VAR` again"
                ) from exc
            except (IMAPClientError, OSError) as exc:
                if attempt == _CONNECT_ATTEMPTS:
                    raise ConnectorError(
                        f"cannot reach the IMAP server {self.host}:{self.port} after {attempt} attempts: {exc}"
                    ) from exc
                log.info("IMAP %s:%s unreachable (%s); retrying in %.0fs", self.host, self.port, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 15.0)
        raise AssertionError("unreachable")

    def _login(self) -> IMAPClient:
        client = IMAPClient(self.host, port=self.port, ssl=self._tls, timeout=self._timeout)
        try:
            client.login(self.user, self._password)
            if client.has_capability("CONDSTORE") and client.has_capability("ENABLE"):
                client.enable("CONDSTORE")  # makes SELECT report HIGHESTMODSEQ
        except BaseException:
            client.shutdown()
            raise
        return client

    async def _call(self, fn: Callable[..., _T], *args: Any) -> _T:
        """Run one client call in a thread; a broken connection is dropped so the next sync reconnects."""
        async with self._lock:
            try:
                return await asyncio.to_thread(fn, *args)
            except (TimeoutError, IMAPClientAbortError, OSError) as exc:
                self._client = None
                raise ConnectorError(f"the connection to the IMAP server {self.host} broke: {exc}") from exc
            except IMAPClientError as exc:
                raise ConnectorError(f"the IMAP server {self.host} answered with an error: {exc}") from exc

    def _idle(self, client: IMAPClient, timeout: float) -> None:
        client.select_folder("INBOX", readonly=True)
        client.idle()
        try:
            client.idle_check(timeout=timeout)
        finally:
            client.idle_done()


def _header_of(item: dict[bytes, Any]) -> bytes | None:
    # The server echoes the item name in its own spelling, e.g. b"BODY[HEADER.FIELDS (FROM ...)]".
    for key, value in item.items():
        if key.upper().startswith(b"BODY[HEADER") and isinstance(value, bytes):
            return value
    return None


def _server_text(exc: Exception) -> str:
    text = str(exc)
    return text.removeprefix("b'").removesuffix("'") or "no reason given"


def _copy(states: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {name: dict(state) for name, state in states.items()}


def from_config(config: dict[str, Any], secret: dict[str, Any]) -> ImapConnector:
    """Build the connector from a registry entry: config {"owner","host","port","user","tls","folders"},
    secret {"password"}."""
    return ImapConnector(
        owner=config["owner"],
        host=config["host"],
        port=int(config["port"]),
        user=config["user"],
        password=secret["password"],
        tls=bool(config.get("tls", True)),
        folders=tuple(config.get("folders") or ()),
        tenant=config.get("tenant", ""),
        batch_size=int(config.get("batch_size", 500)),
    )
