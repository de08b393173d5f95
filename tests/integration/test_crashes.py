"""Crashes and rebalances on the real stack: a worker SIGKILLed mid-stream, a second worker joining
and leaving. Each run must end with exactly the graph a clean run of the same input produces."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from tests.stack import Stack
from tests.stack import test_port as shifted_port
from tiegraph.bench.cpu import worker_pids
from tiegraph.deployment import topic_names
from tiegraph.graph.neo4j import GraphStore
from tiegraph.ingest.headers import parse_message
from tiegraph.services.local import LocalServices
from tiegraph.soak.snapshot import GraphSnapshot, graph_differences, snapshot_graph
from tiegraph.streams import topics as t
from tiegraph.streams.lag import wait_for_stable_group
from tiegraph.synth.organization import Organization, generate_mail, generate_organization, write_mbox

pytestmark = pytest.mark.integration

CHUNKS = 3


def _corpus(tmp_path: Path, seed: int, messages: int) -> tuple[Organization, Path, list[Path]]:
    """The whole corpus as one mbox and as CHUNKS consecutive parts of it."""
    org = generate_organization(people=40, seed=seed)
    mails = list(generate_mail(org, messages=messages, seed=seed))
    whole = tmp_path / "whole.mbox"
    write_mbox(whole, iter(mails))
    size = -(-len(mails) // CHUNKS)
    parts = []
    for i in range(CHUNKS):
        part = tmp_path / f"part-{i}.mbox"
        write_mbox(part, iter(mails[i * size : (i + 1) * size]))
        parts.append(part)
    return org, whole, parts


async def _clean_run(stack: Stack, graph: GraphStore, org: Organization, whole: Path, tenant: str) -> GraphSnapshot:
    stack.create_tenant(tenant, org.home_domain)
    stack.cli("import", str(whole), "--tenant", tenant)
    await stack.wait_caught_up()
    return await snapshot_graph(graph, tenant)


def _assert_same_graph(run: GraphSnapshot, clean: GraphSnapshot) -> None:
    """Stats, every tie and its evidence (what differs between any two runs aside: snapshot.py)."""
    assert graph_differences(run, clean) == {}


def _kill_workers(supervisor: int, role: str | None = None) -> list[int]:
    """SIGKILL the supervisor's worker processes (both, or `role`'s): no graceful shutdown, no
    final commit. Their pids."""
    killed = worker_pids(supervisor, role)
    assert len(killed) == (2 if role is None else 1)
    for pid in killed:
        os.kill(pid, signal.SIGKILL)
    return killed


async def _replaced_workers(supervisor: int, killed: list[int], role: str | None = None) -> None:
    """Wait until the supervisor has restarted every killed worker process."""
    while True:
        running = worker_pids(supervisor, role)
        if len(running) == len(killed) and not set(running) & set(killed):
            return
        await asyncio.sleep(0.2)


def _stack_supervisor(stack: Stack) -> int:
    return int((stack.settings.home / "run" / "worker.pid").read_text())


async def test_sigkills_mid_stream_leave_the_same_graph_as_a_clean_run(
    stack: Stack, graph: GraphStore, tmp_path: Path
) -> None:
    org, whole, parts = _corpus(tmp_path, seed=9, messages=3000)
    clean = await _clean_run(stack, graph, org, whole, "kill-clean")
    assert clean.stats["messages"] == 3000 and clean.stats["ties"] > 50

    stack.create_tenant("killed", org.home_domain)
    supervisor = _stack_supervisor(stack)
    # Each kill lands while the worker is busy with the part just imported: both processes, then
    # the graph writer alone (its stages run on), then the stream stages alone (the writer runs on).
    for part, role in zip(parts, (None, "graph", "streams"), strict=True):
        stack.cli("import", str(part), "--tenant", "killed")
        await _replaced_workers(supervisor, _kill_workers(supervisor, role), role)
    stack.cli("import", str(parts[0]), "--tenant", "killed")  # and a replay of what was already counted
    await stack.wait_caught_up(timeout=240)

    _assert_same_graph(await snapshot_graph(graph, "killed"), clean)


def _spawn_second_worker(stack: Stack) -> subprocess.Popen[bytes]:
    env = {**stack.env, "TIEGRAPH_WORKER_WEB_PORT": str(shifted_port(16067))}
    return subprocess.Popen(
        [sys.executable, "-m", "tiegraph", "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


async def test_a_second_worker_joining_and_leaving_mid_stream_loses_and_doubles_nothing(
    stack: Stack, graph: GraphStore, tmp_path: Path
) -> None:
    org, whole, parts = _corpus(tmp_path, seed=11, messages=3000)
    clean = await _clean_run(stack, graph, org, whole, "join-clean")

    stack.create_tenant("joined", org.home_domain)
    stack.cli("import", str(parts[0]), "--tenant", "joined")
    second = _spawn_second_worker(stack)  # joins while the first part is being processed
    try:
        stack.cli("import", str(parts[1]), "--tenant", "joined")
        await wait_for_stable_group(stack.settings.kafka_bootstrap, stack.settings.app_id)
        killed = _kill_workers(second.pid)  # leaves without a goodbye
        stack.cli("import", str(parts[2]), "--tenant", "joined")
        await _replaced_workers(second.pid, killed)
        second.send_signal(signal.SIGTERM)  # and then leaves gracefully
        second.wait(timeout=90)
    finally:
        if second.poll() is None:
            second.kill()
            second.wait()
    await stack.wait_caught_up(timeout=240)

    _assert_same_graph(await snapshot_graph(graph, "joined"), clean)


async def _produce(stack: Stack, tenant: str, mails: list[bytes]) -> None:
    """What `tiegraph import` produces, straight to Kafka (the import itself checks the tenant in
    Neo4j, which this test stops)."""
    producer = AIOKafkaProducer(bootstrap_servers=stack.settings.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        topic = topic_names(stack.settings)[t.MAIL_MESSAGES]
        for raw in mails:
            message = parse_message(raw, tenant=tenant)
            key = t.message_key(tenant, message.dedupe_key)
            await producer.send(topic, value=t.encode(message.to_dict()), key=key)
        await producer.flush()
    finally:
        await producer.stop()


async def test_neo4j_down_mid_stream_pauses_the_writer_and_loses_nothing(stack: Stack, graph: GraphStore) -> None:
    org = generate_organization(people=40, seed=13)
    mails = list(generate_mail(org, messages=1500, seed=13))
    stack.create_tenant("down-clean", org.home_domain)
    await _produce(stack, "down-clean", mails)
    await stack.wait_caught_up()
    clean = await snapshot_graph(graph, "down-clean")

    stack.create_tenant("neo4j-down", org.home_domain)
    services = LocalServices(stack.settings)
    services.stop("neo4j")
    try:
        await _produce(stack, "neo4j-down", mails)
        with pytest.raises(TimeoutError):  # the writer waits: what it could not write is not committed
            await stack.wait_caught_up(timeout=15)
    finally:
        services.start_neo4j()
    await stack.wait_caught_up(timeout=240)

    _assert_same_graph(await snapshot_graph(graph, "neo4j-down"), clean)
