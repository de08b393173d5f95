"""The worker SIGKILLed while mail keeps arriving (the soak's first fault, `tiegraph soak`): records
produced while the supervisor's new worker starts and the dead member still holds its partitions
must be processed like any other. test_crashes.py kills only after each import has finished.
The first soak lost 96 such messages (README "Soak"); this test passed on its one run so far,
so the loss needs more than this (the soak's Neo4j and Kafka faults followed within minutes)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from tests.stack import Stack
from tiegraph.deployment import topic_names
from tiegraph.graph.neo4j import GraphStore
from tiegraph.ingest.headers import parse_message
from tiegraph.ingest.producer import RecordProducer
from tiegraph.snapshot import graph_differences, snapshot_graph
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


def _worker_child(stack: Stack) -> int:
    supervisor = int((stack.settings.home / "run" / "worker.pid").read_text())
    [child] = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()
    return int(child)


async def test_a_worker_killed_while_mail_keeps_arriving_loses_nothing(stack: Stack, graph: GraphStore) -> None:
    org = generate_organization(people=40, seed=29)
    mails = list(generate_mail(org, messages=1200, seed=29))
    stack.create_tenant("steady-clean", org.home_domain)
    await _produce(stack, "steady-clean", mails, per_second=10_000)
    await stack.wait_caught_up()
    clean = await snapshot_graph(graph, "steady-clean")

    stack.create_tenant("steady-killed", org.home_domain)
    load = asyncio.create_task(_produce(stack, "steady-killed", mails, per_second=80))  # 15 s of mail
    await asyncio.sleep(3)
    os.kill(_worker_child(stack), signal.SIGKILL)  # the supervisor starts a new one at once
    await load
    await stack.wait_caught_up(timeout=240)

    assert graph_differences(await snapshot_graph(graph, "steady-killed"), clean) == {}
