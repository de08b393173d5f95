"""Google Calendar connector: meetings through events.list with sync tokens (calendar.events.readonly scope).

Full pass: events.list(showDeleted) page by page, cursor {"page_token", "full": true}; the last
page hands out nextSyncToken, cursor {"sync_token"}. Incremental: events.list(syncToken) the same
way. A sync token Google no longer accepts (HTTP 410) restarts the full pass inside the connector
(a warning is logged); the meeting occurrence key (UID + original start) makes re-reads replace,
not add. Series are read unexpanded (singleEvents=false) and expanded here by ics.parse_calendar,
bounded as for files (ics.MAX_OCCURRENCES, ics.MAX_SERIES_SPAN), so an override or cancellation
of one occurrence (recurringEventId + originalStartTime) replaces exactly that occurrence.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tiegraph.ingest import google_api
from tiegraph.ingest.base import Connector, Cursor, CursorInvalidated, SyncBatch
from tiegraph.ingest.header_fields import EventFields, events_from_fields
from tiegraph.ingest.ics import MalformedCalendar

log = logging.getLogger(__name__)

SCOPE = "https://www.googleapis.com/auth/calendar.events.readonly"
PAGE_SIZE = 250
_PARTSTAT = {"accepted": "ACCEPTED", "declined": "DECLINED", "tentative": "TENTATIVE", "needsAction": "NEEDS-ACTION"}


def _when(value: dict[str, Any] | None) -> datetime | date | None:
    """Google's {"dateTime", "timeZone"} or {"date"}; times in the event's own zone so series
    expand across daylight-saving changes as the organiser sees them."""
    if not value:
        return None
    if "date" in value and "dateTime" not in value:
        return date.fromisoformat(value["date"])
    at = datetime.fromisoformat(str(value["dateTime"]))
    if zone := value.get("timeZone"):
        try:
            return at.astimezone(ZoneInfo(zone)) if at.tzinfo else at.replace(tzinfo=ZoneInfo(zone))
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return at


def event_fields(event: dict[str, Any]) -> EventFields:
    """A Google Calendar event resource -> the fields a CalendarEvent keeps (MalformedCalendar if unusable)."""
    uid = str(event.get("iCalUID") or "")
    original = _when(event.get("originalStartTime"))
    start = _when(event.get("start")) or original
    if not uid or start is None:
        raise MalformedCalendar(f"event {event.get('id', '?')} has no iCalUID or start")
    organizer = event.get("organizer") or {}
    attendees = [
        (a["email"], a.get("displayName", ""), _PARTSTAT.get(a.get("responseStatus", ""), "NEEDS-ACTION"))
        for a in event.get("attendees", [])
        if a.get("email") and not a.get("resource")  # rooms and equipment are not people
    ]
    return EventFields(
        uid=uid,
        start=start,
        end=_when(event.get("end")),
        organizer=(organizer["email"], organizer.get("displayName", "")) if organizer.get("email") else None,
        attendees=attendees,
        status=str(event.get("status", "confirmed")),
        sequence=int(event.get("sequence", 0)),
        recurrence=[str(line) for line in event.get("recurrence", [])],
        recurrence_id=original if event.get("recurringEventId") else None,
    )


class GoogleCalendarConnector(google_api.GoogleConnector):
    """One Google calendar of one tenant."""

    provider = "gcal"
    service = "Google Calendar"

    def __init__(self, client: Any, *, owner: str, tenant: str, calendar_id: str, via: str) -> None:
        super().__init__(client, owner=owner, tenant=tenant, via=via)
        self._calendar_id = calendar_id
        self._series_uids: dict[str, str] = {}  # series event id -> iCalUID, for cancelled occurrences

    async def sync(self, cursor: Cursor) -> AsyncIterator[SyncBatch]:
        cursor = cursor or {}
        try:
            async for batch in self._pages(cursor):
                yield batch
        except CursorInvalidated as exc:
            log.warning("gcal %s: %s; reading the whole calendar again", self._owner, exc)
            async for batch in self._pages({}):
                yield batch

    async def _pages(self, cursor: Cursor) -> AsyncIterator[SyncBatch]:
        full = "sync_token" not in cursor and bool(cursor.get("full", True))
        page_token, sync_token = cursor.get("page_token"), cursor.get("sync_token")
        while True:
            args: dict[str, Any] = {"calendarId": self._calendar_id, "maxResults": PAGE_SIZE, "singleEvents": False}
            if page_token:
                args["pageToken"] = page_token
            if sync_token and not page_token:
                args["syncToken"] = sync_token
            if full:
                args["showDeleted"] = True  # cancelled occurrences of a series come as deleted items
            page = await self._call(self._client.events().list(**args), expired_on=frozenset({410}))
            batch = SyncBatch(cursor={}, backfilling=full)
            for event in page.get("items", []):
                await self._add(batch, event)
            page_token = page.get("nextPageToken")
            if page_token:
                batch.cursor = {"page_token": page_token, "full": full}
            else:
                batch.cursor, batch.backfilling = {"sync_token": page["nextSyncToken"]}, False
            yield batch
            if not page_token:
                return

    async def _add(self, batch: SyncBatch, event: dict[str, Any]) -> None:
        source_id = f"gcal:{self._owner}:{event.get('id', '?')}"
        if event.get("recurrence") and event.get("iCalUID"):
            self._series_uids[str(event["id"])] = str(event["iCalUID"])
        try:
            fields = event_fields(await self._completed(event))
            batch.events.extend(
                events_from_fields(fields, tenant=self._tenant, calendar=self._owner, source_id=source_id)
            )
        except MalformedCalendar as exc:
            batch.rejects.append((source_id, str(exc)))

    async def _completed(self, event: dict[str, Any]) -> dict[str, Any]:
        """A deleted item may carry only its id (and its series' id): fetch what identifies it."""
        if event.get("iCalUID") and (event.get("start") or event.get("originalStartTime")):
            return event
        series = event.get("recurringEventId")
        if series and str(series) in self._series_uids:
            return {**event, "iCalUID": self._series_uids[str(series)]}
        request = self._client.events().get(calendarId=self._calendar_id, eventId=str(series or event.get("id")))
        try:
            found = await self._call(request, expired_on=frozenset({404, 410}))
        except CursorInvalidated:
            return event  # gone for good: event_fields rejects it with the reason
        if series:
            self._series_uids[str(series)] = str(found.get("iCalUID", ""))
            return {**event, "iCalUID": found.get("iCalUID")}
        return {**found, "status": event.get("status", found.get("status"))}


def from_config(config: dict[str, Any], secret: dict[str, Any]) -> Connector:
    """A Calendar connector from config {"owner", "tenant", "calendar_id"?, "api_endpoint"?} and its secret."""
    owner, endpoint = str(config["owner"]), config.get("api_endpoint")
    creds = google_api.load_credentials(secret, owner=owner, scopes=[SCOPE])
    # Calendar's method paths are relative to .../calendar/v3/, so the fake's base gets that suffix.
    base = endpoint.rstrip("/") + "/calendar/v3/" if endpoint else None
    client = google_api.build_client("calendar", "v3", creds=creds, api_endpoint=base)
    return GoogleCalendarConnector(
        client,
        owner=owner,
        tenant=str(config["tenant"]),
        calendar_id=str(config.get("calendar_id") or "primary"),
        via=google_api.describe(secret),
    )
