"""A following sync stops at once on SIGTERM, even while a connector waits for changes."""

from __future__ import annotations

import asyncio

import pytest

from tiegraph.ingest.base import ConnectorError
from tiegraph.ingest.sync import _unless_stopped


async def test_a_stop_cancels_the_wait_for_changes() -> None:
    stop, cancelled = asyncio.Event(), asyncio.Event()

    async def idle() -> None:  # an IDLE with nothing arriving
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    waiting = asyncio.create_task(_unless_stopped(stop, idle()))
    await asyncio.sleep(0)
    stop.set()
    await waiting
    assert cancelled.is_set()


async def test_a_wait_that_ends_returns_and_one_that_fails_raises() -> None:
    stop = asyncio.Event()

    async def new_mail() -> None:
        await asyncio.sleep(0)

    async def broken() -> None:
        raise ConnectorError("the connection to the IMAP server broke")

    await _unless_stopped(stop, new_mail())
    with pytest.raises(ConnectorError):
        await _unless_stopped(stop, broken())
    assert not stop.is_set()
