"""A local Microsoft Graph and identity platform: token endpoint, message delta per mail folder and
calendarView delta, with delta/skip tokens that can be expired (410 syncStateNotFound), 429 with
Retry-After, access tokens that can be expired and secrets or refresh tokens that can be revoked."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import parse_qs

from tests.fakes.server import FakeServer, Request, Response

CLIENT_ID, CLIENT_SECRET, DIRECTORY = "11111111-2222-3333-4444-555555555555", "fake-app-secret", "contoso-directory"


class GraphFake(FakeServer):
    def __init__(self) -> None:
        super().__init__()
        self.change = 0
        self.items: dict[str, dict[str, tuple[int, dict[str, Any]]]] = {"inbox": {}, "sentitems": {}, "events": {}}
        self.oldest_delta = 0  # delta tokens from before this answer 410
        self.access_tokens: set[str] = set()
        self.client_secrets = {CLIENT_SECRET}
        self.refresh_tokens = {"fake-graph-refresh"}
        self.issued = 0
        self.windows: list[tuple[str, str]] = []  # calendarView windows asked for

    def put(self, collection: str, item: dict[str, Any]) -> None:
        self.change += 1
        self.items[collection][item["id"]] = (self.change, item)

    def remove(self, collection: str, item_id: str) -> None:
        self.change += 1
        self.items[collection][item_id] = (self.change, {"id": item_id, "@removed": {"reason": "deleted"}})

    def expire_delta_tokens(self) -> None:
        self.oldest_delta = self.change + 1

    def route_of(self, request: Request) -> str:
        if request.path.endswith("/oauth2/v2.0/token"):
            return "token"
        if "/calendarView/delta" in request.path:
            return "events"
        return "messages"

    def handle(self, request: Request) -> Response:
        route = self.route_of(request)
        if route == "token":
            return self._token(request)
        if request.bearer not in self.access_tokens:
            return Response(
                401, {"error": {"code": "InvalidAuthenticationToken", "message": "Access token has expired."}}
            )
        collection = "events" if route == "events" else request.path.split("/mailFolders/")[1].split("/")[0]
        return self._delta(request, collection)

    def _token(self, request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs(request.body.decode()).items()}
        if f"/{DIRECTORY}/" not in request.path or form.get("client_id") != CLIENT_ID:
            return Response(
                400, {"error": "unauthorized_client", "error_description": "AADSTS700016: Application not found."}
            )
        if form.get("grant_type") == "client_credentials" and form.get("client_secret") not in self.client_secrets:
            return Response(
                401, {"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."}
            )
        if form.get("grant_type") == "refresh_token" and form.get("refresh_token") not in self.refresh_tokens:
            return Response(
                400, {"error": "invalid_grant", "error_description": "AADSTS70008: The refresh token has expired."}
            )
        self.issued += 1
        token = f"graph-{self.issued}-{secrets.token_hex(4)}"
        self.access_tokens.add(token)
        body = {"access_token": token, "expires_in": 3599, "token_type": "Bearer"}
        if form.get("grant_type") == "refresh_token":  # Microsoft rotates refresh tokens
            body["refresh_token"] = f"fake-graph-refresh-{self.issued}"
            self.refresh_tokens.add(body["refresh_token"])
        return Response(200, body)

    def _delta(self, request: Request, collection: str) -> Response:
        base = self.url.rstrip("/") + request.path
        since, offset, upto = 0, 0, self.change
        delta, skip = request.arg("$deltatoken"), request.arg("$skiptoken")
        if collection != "events" and request.arg("$select") is None and delta is None and skip is None:
            return Response(400, {"error": {"code": "BadRequest", "message": "the test expects $select of headers"}})
        if delta is not None:
            since = int(delta)
            if since < self.oldest_delta:
                return Response(410, {"error": {"code": "syncStateNotFound", "message": "The sync state is gone."}})
        elif skip is not None:
            offset, upto, since = (int(x) for x in skip.split("-"))
        elif collection == "events":
            self.windows.append((request.arg("startDateTime") or "", request.arg("endDateTime") or ""))
        changed = sorted((n, i) for n, i in self.items[collection].values() if since < n <= upto)
        if since == 0:  # a first round lists what exists, not what was deleted
            changed = [(n, i) for n, i in changed if "@removed" not in i]
        size = int(request.headers.get("prefer", "odata.maxpagesize=100").split("=")[1])
        body: dict[str, Any] = {"value": [i for _, i in changed[offset : offset + size]]}
        if offset + size < len(changed):
            body["@odata.nextLink"] = f"{base}?$skiptoken={offset + size}-{upto}-{since}"
        else:
            body["@odata.deltaLink"] = f"{base}?$deltatoken={upto}"
        return Response(200, body)


def graph_message(n: int, *, sender: str = "", subject: str = "") -> dict[str, Any]:
    """A message as Graph's delta returns it with our $select."""

    def who(address: str, name: str = "") -> dict[str, Any]:
        return {"emailAddress": {"address": address, "name": name}}

    return {
        "id": f"AAMk{n:06d}",
        "from": who(sender or f"bob{n % 5}@example.com", "Bob Müller" if n % 2 else ""),
        "sender": who(sender or f"bob{n % 5}@example.com"),
        "toRecipients": [who("owner@contoso.com", "Owner")],
        "ccRecipients": [who(f"carol{n % 3}@example.net")] if n % 3 else [],
        "bccRecipients": [],
        "replyTo": [],
        "sentDateTime": f"2026-05-{1 + n % 28:02d}T{n % 24:02d}:15:00Z",
        "subject": subject or ("RE: " if n % 4 else "") + f"Budget {n}",
        "internetMessageId": f"<graph-{n}@contoso.com>",
        "conversationId": f"conv{n % 7}",
    }


def graph_event(n: int, **extra: Any) -> dict[str, Any]:
    """A calendarView occurrence as Graph's delta returns it (times in UTC)."""
    return {
        "id": f"AAMkEv{n:05d}",
        "iCalUId": f"040000008200E00074C5B7101A82E008{n:08d}",
        "type": "singleInstance",
        "isCancelled": False,
        "start": {"dateTime": f"2026-06-{1 + n % 28:02d}T09:00:00.0000000", "timeZone": "UTC"},
        "end": {"dateTime": f"2026-06-{1 + n % 28:02d}T09:30:00.0000000", "timeZone": "UTC"},
        "organizer": {"emailAddress": {"address": "owner@contoso.com", "name": "Owner"}},
        "attendees": [
            {
                "type": "required",
                "status": {"response": "accepted"},
                "emailAddress": {"address": f"dan{n % 3}@example.com"},
            },
            {"type": "optional", "status": {"response": "declined"}, "emailAddress": {"address": "eve@example.com"}},
            {"type": "resource", "status": {"response": "accepted"}, "emailAddress": {"address": "room1@contoso.com"}},
        ],
        **extra,
    }
