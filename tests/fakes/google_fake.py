"""A local Google: OAuth token endpoint, Gmail (profile, messages, history, batch) and Calendar events.

State is plain Python a test can script: messages with history ids, the oldest history id still
kept (older ones answer 404 as Gmail does), calendar events with change numbers and sync tokens
that can be expired (410), access tokens that can be expired (401 until the client refreshes)
and refresh tokens that can be revoked (invalid_grant).
"""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass, field
from email.parser import Parser
from email.policy import compat32
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.server import FakeServer, Request, Response

CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN = "fake-client.apps.googleusercontent.com", "fake-secret", "fake-refresh"


@dataclass
class FakeMessage:
    id: str
    headers: list[tuple[str, str]]
    history_id: int
    labels: list[str] = field(default_factory=lambda: ["INBOX"])


def _error(status: int, reason: str, message: str) -> Response:
    return Response(status, {"error": {"code": status, "message": message, "errors": [{"reason": reason}]}})


class GoogleFake(FakeServer):
    def __init__(self) -> None:
        super().__init__()
        self.messages: dict[str, FakeMessage] = {}
        self.history_id = 1000
        self.oldest_history_id = 0  # history.list from below this answers 404
        self.events: dict[str, tuple[int, dict[str, Any]]] = {}  # id -> (change number, event JSON)
        self.change = 0
        self.oldest_sync_change = 0  # sync tokens from before this answer 410
        self.deleted: dict[str, dict[str, Any]] = {}
        self.access_tokens: set[str] = set()
        self.refresh_tokens = {REFRESH_TOKEN}
        self.delegated_subjects: set[str] = set()  # who a service account may act for
        self.issued = 0

    # -- scripting -------------------------------------------------------------------------
    def add_message(self, headers: list[tuple[str, str]], labels: list[str] | None = None) -> FakeMessage:
        self.history_id += 1
        message = FakeMessage(f"m{len(self.messages) + 1:05d}", headers, self.history_id, labels or ["INBOX"])
        self.messages[message.id] = message
        return message

    def forget_history(self) -> None:
        """Gmail keeps history for about a week: every history id handed out so far is now too old."""
        self.oldest_history_id = self.history_id + 1

    def put_event(self, event: dict[str, Any]) -> None:
        self.change += 1
        self.events[event["id"]] = (self.change, event)

    def delete_event(self, event_id: str) -> None:
        """As Google deletes: listed by id only, while events.get still answers the cancelled resource."""
        self.deleted[event_id] = {**self.events[event_id][1], "status": "cancelled"}
        self.put_event({"kind": "calendar#event", "id": event_id, "status": "cancelled"})

    def expire_sync_tokens(self) -> None:
        self.oldest_sync_change = self.change + 1

    def expire_access_tokens(self) -> None:
        self.access_tokens.clear()

    def revoke_refresh_tokens(self) -> None:
        self.refresh_tokens.clear()
        self.access_tokens.clear()

    def authorized_user(self) -> dict[str, Any]:
        return {
            "type": "authorized_user",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "refresh_token": REFRESH_TOKEN,
            "token_uri": self.url + "token",
        }

    # -- routing ---------------------------------------------------------------------------
    def route_of(self, request: Request) -> str:
        path = request.path
        if path == "/token":
            return "token"
        if path == "/batch" or path.startswith("/batch/"):
            return "batch"
        if path.startswith("/calendar/v3/"):
            return "events" if path.endswith("/events") else "events.get"
        tail = path.removeprefix("/gmail/v1/users/me/")
        if tail == "messages":
            return "messages.list"
        if tail.startswith("messages/"):
            return "messages.get"
        return tail  # "profile", "history"

    def handle(self, request: Request) -> Response:
        route = self.route_of(request)
        if route == "token":
            return self._token(parse_qs(request.body.decode()))
        if request.bearer not in self.access_tokens:
            return _error(401, "authError", "Request had invalid authentication credentials.")
        if route == "batch":
            return self._batch(request)
        handlers = {
            "profile": self._profile,
            "messages.list": self._list,
            "messages.get": self._get,
            "history": self._history,
            "events": self._events,
            "events.get": self._event,
        }
        return handlers[route](request) if route in handlers else _error(404, "notFound", "Not Found")

    def _token(self, form: dict[str, list[str]]) -> Response:
        grant = form.get("grant_type", [""])[0]
        if grant == "refresh_token" and form.get("refresh_token", [""])[0] not in self.refresh_tokens:
            return Response(400, {"error": "invalid_grant", "error_description": "Token has been expired or revoked."})
        if grant.endswith("jwt-bearer"):
            claims = form.get("assertion", [""])[0].split(".")[1]
            subject = json.loads(base64.urlsafe_b64decode(claims + "==")).get("sub")
            if subject not in self.delegated_subjects:
                return Response(
                    401,
                    {
                        "error": "unauthorized_client",
                        "error_description": "Client is unauthorized to retrieve access tokens using this method.",
                    },
                )
        elif grant != "refresh_token":
            return Response(400, {"error": "unsupported_grant_type"})
        self.issued += 1
        token = f"access-{self.issued}-{secrets.token_hex(4)}"
        self.access_tokens.add(token)
        return Response(200, {"access_token": token, "expires_in": 3600, "token_type": "Bearer"})

    # -- Gmail -----------------------------------------------------------------------------
    def _profile(self, request: Request) -> Response:
        return Response(200, {"emailAddress": "owner@example.org", "historyId": str(self.history_id)})

    def _list(self, request: Request) -> Response:
        newest_first = sorted(self.messages.values(), key=lambda m: m.history_id, reverse=True)
        if not (request.arg("pageToken") or "0").isdigit():
            return _error(400, "invalidArgument", "Invalid pageToken")
        size, offset = int(request.arg("maxResults", "100") or 100), int(request.arg("pageToken", "0") or 0)
        page = newest_first[offset : offset + size]
        body: dict[str, Any] = {"messages": [{"id": m.id, "threadId": m.id} for m in page]}
        if offset + size < len(newest_first):
            body["nextPageToken"] = str(offset + size)
        return Response(200, body)

    def _get(self, request: Request) -> Response:
        message = self.messages.get(request.path.rsplit("/", 1)[1])
        if message is None:
            return _error(404, "notFound", "Requested entity was not found.")
        wanted = {name.lower() for name in request.query.get("metadataHeaders", [])}
        headers = [{"name": n, "value": v} for n, v in message.headers if n.lower() in wanted]
        return Response(
            200,
            {
                "id": message.id,
                "threadId": message.id,
                "labelIds": message.labels,
                "historyId": str(message.history_id),
                "payload": {"mimeType": "multipart/alternative", "headers": headers},
            },
        )

    def _history(self, request: Request) -> Response:
        start = int(request.arg("startHistoryId", "0") or 0)
        if start < self.oldest_history_id:
            return _error(404, "notFound", "Requested entity was not found.")
        added = sorted((m for m in self.messages.values() if m.history_id > start), key=lambda m: m.history_id)
        size, offset = int(request.arg("maxResults", "100") or 100), int(request.arg("pageToken", "0") or 0)
        records = [
            {
                "id": str(m.history_id),
                "messages": [{"id": m.id}],
                "messagesAdded": [{"message": {"id": m.id, "labelIds": m.labels}}],
            }
            for m in added[offset : offset + size]
        ]
        body: dict[str, Any] = {"history": records, "historyId": str(self.history_id)}
        if offset + size < len(added):
            body["nextPageToken"] = str(offset + size)
        return Response(200, body)

    def _batch(self, request: Request) -> Response:
        content_type = request.headers.get("content-type", "")
        envelope = Parser(policy=compat32).parsestr(f"Content-Type: {content_type}\r\n\r\n" + request.body.decode())
        boundary = "batch_" + secrets.token_hex(8)
        out = []
        for part in envelope.get_payload():
            inner = Parser(policy=compat32).parsestr(part.get_payload().split("\n", 1)[1])
            method, target = part.get_payload().split("\n", 1)[0].split(" ")[:2]
            url = urlsplit(target)
            sub = Request(method, url.path, parse_qs(url.query), {k.lower(): v for k, v in inner.items()}, b"")
            response = self.dispatch(sub)
            body, sub_type = response.encoded()
            extra = "".join(f"{k}: {v}\r\n" for k, v in response.headers.items())
            content_id = "<response-" + part["Content-ID"][1:]
            out.append(
                f"--{boundary}\r\nContent-Type: application/http\r\nContent-ID: {content_id}\r\n\r\n"
                f"HTTP/1.1 {response.status} X\r\nContent-Type: {sub_type}\r\n{extra}\r\n{body.decode()}\r\n"
            )
        payload = ("".join(out) + f"--{boundary}--\r\n").encode()
        return Response(200, payload, {"Content-Type": f"multipart/mixed; boundary={boundary}"})

    # -- Calendar --------------------------------------------------------------------------
    def _event(self, request: Request) -> Response:
        event_id = request.path.rsplit("/", 1)[1]
        if event_id in self.deleted:
            return Response(200, self.deleted[event_id])
        found = self.events.get(event_id)
        return Response(200, found[1]) if found else _error(404, "notFound", "Not Found")

    def _events(self, request: Request) -> Response:
        sync_token = request.arg("syncToken")
        since = 0
        if sync_token is not None:
            since = int(sync_token.removeprefix("sync-"))
            if since < self.oldest_sync_change:
                return _error(410, "fullSyncRequired", "Sync token is no longer valid, a full sync is required.")
        # A page token remembers where the listing started, as Google's opaque tokens do.
        offset, upto = 0, self.change
        if (page_token := request.arg("pageToken")) is not None:
            offset, upto, since = (int(x) for x in page_token.split("-"))
        show_deleted = sync_token is not None or request.arg("showDeleted") == "true"
        changed = sorted(
            (
                (n, e)
                for n, e in self.events.values()
                if since < n <= upto and (show_deleted or e.get("status") != "cancelled")
            ),
            key=lambda item: item[0],
        )
        size = int(request.arg("maxResults", "250") or 250)
        body: dict[str, Any] = {"kind": "calendar#events", "items": [e for _, e in changed[offset : offset + size]]}
        if offset + size < len(changed):
            body["nextPageToken"] = f"{offset + size}-{upto}-{since}"
        else:
            body["nextSyncToken"] = f"sync-{upto}"
        return Response(200, body)
