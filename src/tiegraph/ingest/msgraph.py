"""Microsoft Graph connector (Exchange Online mail and calendar) over plain httpx.

Why httpx and not msgraph-sdk: the SDK (Kiota) brings a large dependency tree, and its retry
middleware waits out 429s itself, hiding throttling from the cursor state machine the runner
drives; delta queries are plain GETs of opaque links. httpx is async and already a dependency.

Mail: /users/{owner}/mailFolders/{inbox,sentitems}/messages/delta with $select of header fields
only; calendar: /users/{owner}/calendarView/delta over a bounded window (the server expands
series into occurrences). The cursor holds, per resource, {"next_link", "initial"} while paging
and {"delta_link"} once a round is complete. A delta link Graph no longer knows (410,
syncStateNotFound, resyncRequired) restarts that resource's full pass inside the connector; the
pipeline's dedupe keys make the re-read harmless. 429/503 raise ConnectorThrottled(Retry-After)
before the batch is yielded, so the cursor never moves past unread items.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, formataddr
from typing import Any

import httpx

from tiegraph.ingest.base import (
    Connector,
    ConnectorAuthError,
    ConnectorError,
    ConnectorThrottled,
    Cursor,
    CursorInvalidated,
    SecretHook,
    SyncBatch,
)
from tiegraph.ingest.header_fields import EventFields, events_from_fields, message_from_headers
from tiegraph.ingest.headers import MalformedMessage
from tiegraph.ingest.ics import MalformedCalendar
from tiegraph.ingest.msgraph_auth import DEFAULT_AUTHORITY, GraphTokens, check_secret, retry_after_of

log = logging.getLogger(__name__)

DEFAULT_ENDPOINT = "https://graph.microsoft.com/v1.0"
MAIL_FOLDERS = ("inbox", "sentitems")
MESSAGE_FIELDS = (
    "from,sender,toRecipients,ccRecipients,bccRecipients,replyTo,sentDateTime,subject,internetMessageId,conversationId"
)
WINDOW_BEFORE, WINDOW_AFTER = timedelta(days=365), timedelta(days=180)  # meetings read around "now"
PAGE_SIZE = 100
_ISO = "%Y-%m-%dT%H:%M:%SZ"
_EXPIRED_CODES = {"syncStateNotFound", "resyncRequired", "syncStateInvalid"}
_RESPONSE = {
    "accepted": "ACCEPTED",
    "organizer": "ACCEPTED",
    "tentativelyAccepted": "TENTATIVE",
    "declined": "DECLINED",
}


def _address(recipient: dict[str, Any] | None) -> str:
    mail = (recipient or {}).get("emailAddress") or {}
    return formataddr((str(mail.get("name") or ""), str(mail.get("address") or ""))) if mail.get("address") else ""


def message_headers(item: dict[str, Any]) -> list[tuple[str, str]]:
    """A Graph message's structured fields as the header fields they came from."""
    headers = [("From", _address(item.get("from"))), ("Sender", _address(item.get("sender")))]
    for name, key in (
        ("To", "toRecipients"),
        ("Cc", "ccRecipients"),
        ("Bcc", "bccRecipients"),
        ("Reply-To", "replyTo"),
    ):
        headers.append((name, ", ".join(a for r in item.get(key) or [] if (a := _address(r)))))
    if sent := item.get("sentDateTime"):
        headers.append(("Date", format_datetime(datetime.fromisoformat(str(sent).replace("Z", "+00:00")))))
    headers += [("Subject", str(item.get("subject") or "")), ("Message-ID", str(item.get("internetMessageId") or ""))]
    return [(name, value) for name, value in headers if value]


def _graph_time(value: dict[str, Any] | None) -> datetime | None:
    """Graph's {"dateTime": "2026-06-01T08:00:00.0000000", "timeZone": "UTC"} (UTC unless asked otherwise)."""
    if not value or not value.get("dateTime"):
        return None
    at = datetime.fromisoformat(str(value["dateTime"])[:26])
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def event_fields(item: dict[str, Any]) -> EventFields:
    """A Graph calendarView event (an occurrence already) -> CalendarEvent fields."""
    start = _graph_time(item.get("start"))
    if not item.get("iCalUId") or start is None:
        raise MalformedCalendar(f"event {item.get('id', '?')} has no iCalUId or start")
    organizer = (item.get("organizer") or {}).get("emailAddress") or {}
    attendees = [
        (
            mail["address"],
            str(mail.get("name") or ""),
            _RESPONSE.get(a.get("status", {}).get("response"), "NEEDS-ACTION"),
        )
        for a in item.get("attendees") or []
        if (mail := a.get("emailAddress") or {}).get("address") and a.get("type") != "resource"
    ]
    in_series = item.get("type") in {"occurrence", "exception"}
    original = _graph_time({"dateTime": item.get("originalStart")}) if in_series else None
    return EventFields(
        uid=str(item["iCalUId"]),
        start=start,
        end=_graph_time(item.get("end")),
        organizer=(organizer["address"], str(organizer.get("name") or "")) if organizer.get("address") else None,
        attendees=attendees,
        status="CANCELLED" if item.get("isCancelled") else "CONFIRMED",
        recurrence_id=original or (start if in_series else None),
    )


class GraphConnector:
    """One Exchange Online mailbox (mail folders and calendar) of one tenant."""

    provider = "msgraph"

    def __init__(
        self, http: httpx.AsyncClient, tokens: GraphTokens, *, owner: str, tenant: str, endpoint: str,
        now: Callable[[], float] = time.time,
    ) -> None:  # fmt: skip
        self._http, self._tokens, self._owner, self._tenant = http, tokens, owner, tenant
        self._base, self._now = endpoint.rstrip("/"), now

    def _first_link(self, resource: str) -> str:
        user = f"{self._base}/users/{self._owner}"
        if resource == "events":
            at = datetime.fromtimestamp(self._now(), UTC)
            start, end = (at - WINDOW_BEFORE).strftime(_ISO), (at + WINDOW_AFTER).strftime(_ISO)
            return f"{user}/calendarView/delta?startDateTime={start}&endDateTime={end}"
        return f"{user}/mailFolders/{resource.split(':', 1)[1]}/messages/delta?$select={MESSAGE_FIELDS}"

    async def sync(self, cursor: Cursor) -> AsyncIterator[SyncBatch]:
        state: dict[str, Any] = dict(cursor or {})
        for resource in [f"messages:{folder}" for folder in MAIL_FOLDERS] + ["events"]:
            try:
                async for batch in self._resource(resource, state):
                    yield batch
            except CursorInvalidated as exc:
                log.warning("msgraph %s %s: %s; reading it again in full", self._owner, resource, exc)
                state.pop(resource, None)
                async for batch in self._resource(resource, state):
                    yield batch

    async def _resource(self, resource: str, state: dict[str, Any]) -> AsyncIterator[SyncBatch]:
        saved = state.get(resource) or {}
        link = saved.get("next_link") or saved.get("delta_link") or self._first_link(resource)
        initial = bool(saved.get("initial", not saved))
        while True:
            page = await self._get(link)
            batch = SyncBatch(cursor={}, backfilling=initial)
            for item in page.get("value", []):
                self._add(batch, resource, item)
            if next_link := page.get("@odata.nextLink"):
                state[resource] = {"next_link": next_link, "initial": initial}
            else:
                state[resource], batch.backfilling = {"delta_link": page["@odata.deltaLink"]}, False
            batch.cursor = dict(state)
            yield batch
            if not next_link:
                return
            link = next_link

    def _add(self, batch: SyncBatch, resource: str, item: dict[str, Any]) -> None:
        if "@removed" in item:
            return  # deleted or moved: what was exchanged stays exchanged; Graph gives only the id
        source_id = f"msgraph:{self._owner}:{item.get('id', '?')}"
        try:
            if resource == "events":
                fields = event_fields(item)
                batch.events += events_from_fields(
                    fields, tenant=self._tenant, calendar=self._owner, source_id=source_id
                )
            else:
                batch.messages.append(
                    message_from_headers(
                        message_headers(item), tenant=self._tenant, mailbox=self._owner,
                        folder=resource.split(":", 1)[1], source_id=source_id,
                    )
                )  # fmt: skip
        except (MalformedMessage, MalformedCalendar) as exc:
            batch.rejects.append((source_id, str(exc)))

    async def _get(self, url: str) -> dict[str, Any]:
        response = await self._send(url)
        if response.status_code == 401:  # the token expired or was revoked early: renew once
            await self._tokens.renew()
            response = await self._send(url)
        if response.status_code == 200:
            body: dict[str, Any] = response.json()
            return body
        raise self._error(response)

    async def _send(self, url: str) -> httpx.Response:
        headers = {
            "Authorization": f"Bearer {await self._tokens.current()}",
            "Prefer": f"odata.maxpagesize={PAGE_SIZE}",
        }
        try:
            return await self._http.get(url, headers=headers)
        except httpx.HTTPError as exc:
            raise ConnectorError(f"could not reach Microsoft Graph for {self._owner}: {exc}") from exc

    def _error(self, response: httpx.Response) -> ConnectorError:
        try:
            error = response.json().get("error") or {}
        except ValueError:
            error = {}
        code, status = str(error.get("code", "")), response.status_code
        if status in {429, 503, 504}:
            return ConnectorThrottled(
                f"Microsoft Graph throttled {self._owner} ({code or status})", retry_after_of(response, 30.0)
            )
        if status == 410 or code in _EXPIRED_CODES:
            return CursorInvalidated(f"delta state gone ({code or status})")
        if status == 401:
            return ConnectorAuthError(
                f"Microsoft Graph refused the token for {self._owner} (HTTP 401): reconnect the mailbox"
            )
        if status == 403:
            return ConnectorAuthError(
                f"Microsoft Graph denied access to {self._owner} ({code}): grant the app Mail.ReadBasic.All and "
                "Calendars.Read (application permissions, with admin consent) or reconnect the mailbox"
            )
        return ConnectorError(
            f"Microsoft Graph answered HTTP {status} for {self._owner}: {code} {error.get('message', '')}"
        )

    def on_secret_rotated(self, hook: SecretHook) -> None:
        self._tokens.on_rotated = hook

    async def wait_for_changes(self, timeout: float) -> None:
        # Change notifications need a public HTTPS webhook; a delta-link poll is cheap.
        await asyncio.sleep(timeout)

    async def close(self) -> None:
        await self._http.aclose()


def from_config(config: dict[str, Any], secret: dict[str, Any]) -> Connector:
    """A Graph connector from config {"owner", "tenant", "client_id", "directory_tenant", "api_endpoint"?,
    "authority"?} and secret {"client_secret"} or {"token"}."""
    owner = str(config["owner"])
    check_secret(secret, owner=owner)  # before a client exists that would need closing
    http = httpx.AsyncClient(timeout=60.0)
    tokens = GraphTokens(
        http,
        owner=owner,
        client_id=str(config["client_id"]),
        directory_tenant=str(config["directory_tenant"]),
        secret=secret,
        authority=str(config.get("authority") or DEFAULT_AUTHORITY),
    )
    endpoint = str(config.get("api_endpoint") or DEFAULT_ENDPOINT)
    return GraphConnector(http, tokens, owner=owner, tenant=str(config["tenant"]), endpoint=endpoint)
