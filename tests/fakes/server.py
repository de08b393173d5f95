"""A scriptable HTTP server on 127.0.0.1 (ephemeral port) in a thread: the base of the provider fakes.

Subclasses route requests in `handle`; tests script one-shot failures with `fail` (a 429 with
Retry-After, a 500, ...) and read `calls` to see what the client asked for.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    @property
    def bearer(self) -> str:
        return self.headers.get("authorization", "").removeprefix("Bearer ").strip()


@dataclass
class Response:
    status: int = 200
    body: Any = None  # JSON-serialisable, or bytes sent as they are
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> tuple[bytes, str]:
        if isinstance(self.body, bytes):
            return self.body, self.headers.get("Content-Type", "application/octet-stream")
        return (json.dumps(self.body).encode() if self.body is not None else b""), "application/json; charset=UTF-8"


@dataclass
class Failure:
    route: str
    response: Response
    times: int
    after: int = 0  # calls of the route served normally first (a failure mid-way through a sync)


class FakeServer:
    """Routes requests to `handle`; scripted failures for a route are served first."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._failures: list[Failure] = []
        self.calls: list[tuple[str, str]] = []  # (route, path with query)
        self._http: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._http is not None
        return f"http://127.0.0.1:{self._http.server_address[1]}/"

    def fail(
        self,
        route: str,
        status: int,
        *,
        times: int = 1,
        body: Any = None,
        retry_after: float | None = None,
        after: int = 0,
    ) -> None:
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        with self._lock:
            self._failures.append(Failure(route, Response(status, body, headers), times, after))

    def route_of(self, request: Request) -> str:
        raise NotImplementedError

    def handle(self, request: Request) -> Response:
        raise NotImplementedError

    def dispatch(self, request: Request) -> Response:
        with self._lock:
            route = self.route_of(request)
            self.calls.append((route, request.path + ("?" + "&".join(request.query) if request.query else "")))
            for failure in self._failures:
                if failure.route == route and failure.after > 0:
                    failure.after -= 1
                elif failure.route == route and failure.times > 0:
                    failure.times -= 1
                    return failure.response
            return self.handle(request)

    @contextmanager
    def running(self) -> Iterator[FakeServer]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                request = Request(
                    self.command,
                    parts.path,
                    parse_qs(parts.query),
                    {k.lower(): v for k, v in self.headers.items()},
                    self.rfile.read(length) if length else b"",
                )
                response = fake.dispatch(request)
                body, content_type = response.encoded()
                self.send_response(response.status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for name, value in response.headers.items():
                    if name.lower() != "content-type":
                        self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PATCH = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=self._http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._http.shutdown()
            self._http.server_close()
            thread.join()
