"""The worker SIGKILLed while mail keeps arriving (the soak's first fault, `tiegraph soak`): records
produced while the supervisor's new worker starts and the dead member still holds its partitions
must be processed like any other. test_crashes.py kills only after each import has finished.

The worker runs with the production session timeout (30 s) here: the dead member then holds its
partitions long enough for records to pile up, and the new worker's first fetches overlap Faust's
seeks to the committed offsets. Before streams/delivery.py `fence_seeks`, such a fetch made Faust
record a false gap and commit ~30 records per partition nobody processed (the soak's loss)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from tests.stack import Stack
from tiegraph.bench.cpu import worker_pids
from tiegraph.deployment import topic_names
from tiegraph.graph.neo4j import GraphStore
from tiegraph.ingest.headers import parse_message
from tiegraph.ingest.producer import RecordProducer
from tiegraph.services.local import LocalServices
from tiegraph.soak.snapshot import graph_differences, snapshot_graph
from tiegraph.streams.lag import wait_for_stable_group
from tiegraph.synth.organization import generate_mail, generate_organization

pytestmark = pytest.mark.integration


async def _produce(stack: Stack, tenant: str, mails: list[bytes], per_second: float) -> None:
    """Send the mails at a steady rate, each half second's chunk acknowledged before the next."""
    chunk = max(1, round(per_second / 2))
    async with RecordProducer(stack.settings.kafka_bootstrap, topic_names(stack.settings)) as producer:
        for start in range(0, len(mails), chunk):
            began = time.monotonic()
            for raw in mails[start : start + chunk]:
                await producer.send_message(parse_message(raw, tenant=tenant))
            await producer.flush()
            await asyncio.sleep(max(0.0, 0.5 - (time.monotonic() - began)))


@asynccontextmanager
async def _worker_with_session_timeout(stack: Stack, seconds: int) -> AsyncIterator[None]:
    """The stack's worker replaced by one with a `seconds` session timeout, then restored."""

    async def restart(session_timeout: str) -> None:
        services = LocalServices(stack.settings)
        services.stop("worker")
        saved = os.environ["TIEGRAPH_KAFKA_SESSION_TIMEOUT_S"]
        os.environ["TIEGRAPH_KAFKA_SESSION_TIMEOUT_S"] = session_timeout
        try:
            services.spawn_process("worker", [sys.executable, "-m", "tiegraph", "worker"])
        finally:
            os.environ["TIEGRAPH_KAFKA_SESSION_TIMEOUT_S"] = saved
        await wait_for_stable_group(stack.settings.kafka_bootstrap, stack.settings.app_id)

    standard = os.environ["TIEGRAPH_KAFKA_SESSION_TIMEOUT_S"]
    await restart(str(seconds))
    try:
        yield
    finally:
        await restart(standard)


def _worker_processes(stack: Stack) -> list[int]:
    """The stream stages' and the graph writer's processes under the stack's worker supervisor."""
    supervisor = int((stack.settings.home / "run" / "worker.pid").read_text())
    processes = worker_pids(supervisor)
    assert len(processes) == 2
    return processes


async def test_a_worker_killed_while_mail_keeps_arriving_loses_nothing(stack: Stack, graph: GraphStore) -> None:
    org = generate_organization(people=40, seed=29)
    mails = list(generate_mail(org, messages=1200, seed=29))
    stack.create_tenant("steady-clean", org.home_domain)
    await _produce(stack, "steady-clean", mails, per_second=10_000)
    await stack.wait_caught_up()
    clean = await snapshot_graph(graph, "steady-clean")

    stack.create_tenant("steady-killed", org.home_domain)
    async with _worker_with_session_timeout(stack, 30):
        load = asyncio.create_task(_produce(stack, "steady-killed", mails, per_second=80))  # 15 s of mail
        await asyncio.sleep(3)
        for process in _worker_processes(stack):  # as if its machine died; the supervisor restarts them
            os.kill(process, signal.SIGKILL)
        await load
        await stack.wait_caught_up(timeout=240)

    assert graph_differences(await snapshot_graph(graph, "steady-killed"), clean) == {}
