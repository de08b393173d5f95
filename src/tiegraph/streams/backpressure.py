"""Graph writes that wait for Neo4j: retried with bounded backoff until they land, and visible.

A batch's offsets are committed only after its write returns, so a slow or stopped Neo4j pauses
the writer and Kafka holds the backlog: nothing is dropped. A write attempt that hangs (a frozen
server, a lock held by another transaction, a dead TCP peer that never answers) is abandoned
after a timeout and tried again: writes set absolute values keyed by pair and offset, so a
repeated or half-finished attempt changes nothing. How long the current write has waited goes
into the worker's heartbeat, and `/readyz` reports a writer stuck longer than
`TIEGRAPH_WRITE_STUCK_S`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from tiegraph.errors import GraphUnavailable

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 30.0
MAX_TIMEOUT_FACTOR = 8  # a timed-out attempt doubles the next one's timeout, up to this factor


class WriteWaits:
    """When each graph write in progress began and the last error seen: the heartbeat's view."""

    def __init__(self) -> None:
        self._started: dict[int, float] = {}
        self._next = 0
        self.last_error = ""

    def begin(self, now: float) -> int:
        self._next += 1
        self._started[self._next] = now
        return self._next

    def end(self, token: int) -> None:
        self._started.pop(token, None)
        if not self._started:
            self.last_error = ""

    def busy(self) -> bool:
        return bool(self._started)

    def waiting_s(self, now: float) -> float:
        """How long the oldest write in progress has been waiting (0 when none)."""
        return max((now - started for started in self._started.values()), default=0.0)

    def status(self, now: float) -> dict[str, Any]:
        """The heartbeat fields (`now` on the monotonic clock the writes were started on)."""
        return {"write_waiting_s": round(self.waiting_s(now), 3), "write_error": self.last_error}


async def write_until_done(
    write: Callable[[Sequence[dict[str, Any]]], Awaitable[None]],
    rows: Sequence[dict[str, Any]],
    on_retry: Callable[[], None] | None = None,
    *,
    waits: WriteWaits | None = None,
    timeout_s: float = 120.0,
) -> None:
    """Retry a graph write with bounded backoff until it lands: the offsets of the batch are only
    committed afterwards, so Neo4j being down or slow pauses the stage instead of losing records."""
    delay, attempt_timeout = 0.25, timeout_s
    token = waits.begin(time.monotonic()) if waits is not None else 0
    try:
        while True:
            try:
                await asyncio.wait_for(write(rows), attempt_timeout)
                return
            except TimeoutError:
                error = f"Neo4j did not finish a write within {attempt_timeout:g}s"
                attempt_timeout = min(attempt_timeout * 2, timeout_s * MAX_TIMEOUT_FACTOR)
            except GraphUnavailable as exc:
                error = str(exc)
            log.warning("graph write failed, retrying in %.1fs: %s", delay, error)
            if waits is not None:
                waits.last_error = error
            if on_retry is not None:
                on_retry()
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF_S)
    finally:
        if waits is not None:
            waits.end(token)
