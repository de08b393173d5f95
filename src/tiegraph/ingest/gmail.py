"""Gmail connector: message headers through the Gmail API with the gmail.metadata scope.

Full pass: users.getProfile captures the mailbox's historyId, then messages.list pages through
every message (newest first, as Gmail lists them) and a batched messages.get(format=metadata)
reads only the headers we parse. The cursor during the pass is {"backfill_history_id",
"page_token"}; after the last page it is {"history_id"} as captured at the start, so mail that
arrived during the pass is read by the first history.list.

Incremental: history.list(startHistoryId, messageAdded) -> the same batched get. An expired
historyId (HTTP 404) restarts the full pass inside the connector (a warning is logged): the
pipeline's content-key dedupe makes the re-read harmless, and within one pass every message is
yielded once. Throttling raises ConnectorThrottled before the batch is yielded, so the cursor the
runner holds never moves past unread mail.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from googleapiclient.errors import HttpError
from googleapiclient.http import BatchHttpRequest

from tiegraph.ingest import google_api
from tiegraph.ingest.base import Connector, Cursor, CursorInvalidated, SyncBatch
from tiegraph.ingest.header_fields import message_from_headers
from tiegraph.ingest.headers import MalformedMessage

log = logging.getLogger(__name__)

SCOPE = "https://www.googleapis.com/auth/gmail.metadata"
METADATA_HEADERS = [
    "From", "Sender", "To", "Cc", "Bcc", "Reply-To", "Date", "Subject", "Message-ID", "In-Reply-To",
    "References", "List-Id", "List-Unsubscribe", "Precedence", "Auto-Submitted",
]  # fmt: skip
PAGE_SIZE = 100
BATCH_SIZE = 50  # Gmail throttles batches of more than 50 requests
_SKIPPED_LABELS = {"DRAFT", "SPAM", "TRASH"}  # not mail anyone exchanged (yet, or any more)


def folder_of(labels: list[str]) -> str:
    """The one folder name a message is filed under: SENT and INBOX first, else its first label."""
    for preferred in ("SENT", "INBOX"):
        if preferred in labels:
            return preferred
    return labels[0] if labels else ""


class GmailConnector(google_api.GoogleConnector):
    """One Gmail mailbox of one tenant."""

    provider = "gmail"
    service = "Gmail"

    def __init__(self, client: Any, *, owner: str, tenant: str, batch_uri: str | None, via: str) -> None:
        super().__init__(client, owner=owner, tenant=tenant, via=via)
        self._batch_uri = batch_uri

    async def sync(self, cursor: Cursor) -> AsyncIterator[SyncBatch]:
        cursor = cursor or {}
        if "history_id" in cursor:
            try:
                async for batch in self._changes(str(cursor["history_id"])):
                    yield batch
                return
            except CursorInvalidated as exc:
                log.warning("gmail %s: %s; reading the whole mailbox again", self._owner, exc)
                cursor = {}
        async for batch in self._full_pass(cursor):
            yield batch

    async def _full_pass(self, cursor: Cursor) -> AsyncIterator[SyncBatch]:
        start = cursor.get("backfill_history_id")
        page_token = cursor.get("page_token")
        if start is None:
            start = str((await self._call(self._client.users().getProfile(userId="me")))["historyId"])
        while True:
            request = self._client.users().messages().list(userId="me", maxResults=PAGE_SIZE, pageToken=page_token)
            try:
                page = await self._call(request, expired_on=frozenset({400}) if page_token else frozenset())
            except CursorInvalidated:  # a page token from an old run is no longer accepted: start over
                log.warning("gmail %s: page token refused, restarting the full pass", self._owner)
                page_token = None
                continue
            batch = await self._read([m["id"] for m in page.get("messages", [])])
            page_token = page.get("nextPageToken")
            batch.backfilling = page_token is not None
            batch.cursor = (
                {"backfill_history_id": start, "page_token": page_token} if page_token else {"history_id": start}
            )
            yield batch
            if not page_token:
                return

    async def _changes(self, start: str) -> AsyncIterator[SyncBatch]:
        page_token = None
        while True:
            request = (
                self._client.users()
                .history()
                .list(
                    userId="me",
                    startHistoryId=start,
                    historyTypes=["messageAdded"],
                    maxResults=PAGE_SIZE,
                    pageToken=page_token,
                )
            )
            page = await self._call(request, expired_on=frozenset({404}))
            records = page.get("history", [])
            ids = [added["message"]["id"] for record in records for added in record.get("messagesAdded", [])]
            batch = await self._read(list(dict.fromkeys(ids)))
            page_token = page.get("nextPageToken")
            # Mid-way, the last history record read is where a later run picks up again.
            if page_token:
                reached = str(records[-1]["id"]) if records else start
            else:
                reached = str(page.get("historyId", start))
            batch.cursor = {"history_id": reached}
            yield batch
            if not page_token:
                return

    async def _read(self, ids: list[str]) -> SyncBatch:
        batch = SyncBatch(cursor={})
        for offset in range(0, len(ids), BATCH_SIZE):
            for message_id, found in await self._get_metadata(ids[offset : offset + BATCH_SIZE]):
                self._add(batch, message_id, found)
        return batch

    def _add(self, batch: SyncBatch, message_id: str, found: dict[str, Any] | None) -> None:
        if found is None:
            return  # deleted between listing and reading: nothing left to count
        labels = list(found.get("labelIds") or [])
        if _SKIPPED_LABELS & set(labels):
            return
        headers = [(h.get("name", ""), h.get("value", "")) for h in (found.get("payload") or {}).get("headers", [])]
        source_id = f"gmail:{self._owner}:{message_id}"
        try:
            batch.messages.append(
                message_from_headers(
                    headers, tenant=self._tenant, mailbox=self._owner, folder=folder_of(labels), source_id=source_id
                )
            )
        except MalformedMessage as exc:
            batch.rejects.append((source_id, str(exc)))

    async def _get_metadata(self, ids: list[str]) -> list[tuple[str, dict[str, Any] | None]]:
        """messages.get(format=metadata) for `ids` in one HTTP batch; a missing message reads as None."""
        results: dict[str, dict[str, Any] | None] = {}
        failures: list[HttpError] = []

        def collect(request_id: str, response: dict[str, Any] | None, exception: HttpError | None) -> None:
            if exception is not None and int(exception.resp.status) == 404:
                results[request_id] = None
            elif exception is not None:
                failures.append(exception)
            else:
                results[request_id] = response

        http_batch = (
            BatchHttpRequest(callback=collect, batch_uri=self._batch_uri)
            if self._batch_uri
            else (self._client.new_batch_http_request(callback=collect))
        )
        messages = self._client.users().messages()
        for message_id in ids:
            get = messages.get(userId="me", id=message_id, format="metadata", metadataHeaders=METADATA_HEADERS)
            http_batch.add(get, request_id=message_id)
        await self._call(http_batch)
        if failures:  # the whole batch is read again after the pause: the cursor has not moved
            raise google_api.translate(failures[0], owner=self._owner, service=self.service, via=self._via)
        return [(message_id, results.get(message_id)) for message_id in ids]


def from_config(config: dict[str, Any], secret: dict[str, Any]) -> Connector:
    """A Gmail connector from the registry's config {"owner", "tenant", "api_endpoint"?} and its secret."""
    owner, endpoint = str(config["owner"]), config.get("api_endpoint")
    creds = google_api.load_credentials(secret, owner=owner, scopes=[SCOPE])
    client = google_api.build_client("gmail", "v1", creds=creds, api_endpoint=endpoint)
    batch_uri = endpoint.rstrip("/") + "/batch" if endpoint else None  # batches ignore api_endpoint
    return GmailConnector(
        client, owner=owner, tenant=str(config["tenant"]), batch_uri=batch_uri, via=google_api.describe(secret)
    )
