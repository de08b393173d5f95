"""`tiegraph soak`: the real stack under a steady synthetic load with faults injected at intervals,
then the graph compared with a clean run of the same input.

The local Kafka, Neo4j and a supervised worker are started under `TIEGRAPH_HOME` (as `tiegraph
demo` does). While mail is produced at a steady rate for a tenant of its own, one fault every
`fault_every_s` seconds, in turn: the Faust worker SIGKILLed (its supervisor restarts it), Neo4j
stopped and started, the Kafka broker SIGKILLed and restarted on its data, Neo4j frozen
(SIGSTOP) and thawed. Afterwards the same messages go to a second tenant with no faults, and the
two graphs must be equal (`snapshot.py`). Not part of the test suite: a useful soak takes
minutes to hours.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from tiegraph.bench.cpu import worker_pids
from tiegraph.deployment import connect_graph, prepare, topic_names
from tiegraph.errors import StreamUnavailable
from tiegraph.graph.neo4j import GraphStore
from tiegraph.ingest.headers import parse_message
from tiegraph.ingest.producer import RecordProducer
from tiegraph.services.local import LocalServices
from tiegraph.settings import Settings
from tiegraph.soak.snapshot import graph_differences, snapshot_graph
from tiegraph.streams.lag import wait_for_zero_lag
from tiegraph.synth.organization import generate_mail, generate_organization

FAULTS = ("worker_kill", "neo4j_restart", "kafka_restart", "neo4j_freeze")
_CHUNK_S = 0.5  # the producer sends, and waits for Kafka's acks, every half second


@dataclass
class SoakReport:
    tenant: str
    minutes: float
    messages: int = 0
    faults: list[dict[str, Any]] = field(default_factory=list)
    produce_retries: int = 0
    catch_up_s: float = 0.0
    differences: dict[str, Any] = field(default_factory=dict)
    stats: dict[str, int] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.differences and self.messages > 0 and self.stats.get("messages") == self.messages

    def to_dict(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "minutes": self.minutes,
            "messages": self.messages,
            "faults": self.faults,
            "produce_retries": self.produce_retries,
            "catch_up_s": round(self.catch_up_s, 1),
            "stats": self.stats,
            "differences": {k: len(v) for k, v in self.differences.items()},
            "passed": self.passed,
        }


def fault_schedule(start: float, end: float, every_s: float) -> Iterator[tuple[float, str]]:
    """(when, fault) from `start + every_s` on, the faults in turn, none after `end - every_s/2`
    (the last one gets time to recover while the load still runs)."""
    at, i = start + every_s, 0
    while at <= end - every_s / 2:
        yield at, FAULTS[i % len(FAULTS)]
        at, i = at + every_s, i + 1


def _worker_processes(services: LocalServices) -> list[int]:
    """The worker's processes (stream stages, graph writer) under the tracked `tiegraph worker` supervisor."""
    supervisor = {status.name: status.pid for status in services.status()}["worker"]
    return [] if supervisor is None else worker_pids(supervisor)


async def inject(services: LocalServices, fault: str) -> dict[str, Any]:
    """Inject one fault and wait until the service is back; what was done and how long it took."""
    began = time.monotonic()
    if fault == "worker_kill":
        for process in _worker_processes(services):  # as if the worker's machine died
            signal_process(process, signal.SIGKILL)
    elif fault == "neo4j_restart":
        await asyncio.to_thread(services.stop, "neo4j")
        await asyncio.sleep(5)
        await asyncio.to_thread(services.start_neo4j)
    elif fault == "kafka_restart":
        services.send_signal("kafka", signal.SIGKILL)
        await asyncio.sleep(3)
        await asyncio.to_thread(services.start_kafka)
    elif fault == "neo4j_freeze":
        for _ in range(3):
            services.send_signal("neo4j", signal.SIGSTOP)
            await asyncio.sleep(4)
            services.send_signal("neo4j", signal.SIGCONT)
            await asyncio.sleep(1)
    return {"fault": fault, "at_s": 0.0, "took_s": round(time.monotonic() - began, 1)}


def signal_process(pid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # died on its own: the supervisor restarts it anyway
        os.kill(pid, signum)


async def _produce_steadily(
    settings: Settings, tenant: str, mails: Iterator[bytes], rate: float, until: float, report: SoakReport
) -> list[bytes]:
    """Send `rate` messages a second until `until`; a chunk Kafka did not acknowledge is sent
    again with bounded backoff (dedupe by content key makes a resend harmless). Every sent mail."""
    sent: list[bytes] = []
    per_chunk = max(1, round(rate * _CHUNK_S))
    while time.monotonic() < until:
        chunk = [next(mails) for _ in range(per_chunk)]
        await _send_until_acked(settings, tenant, chunk, report)
        sent += chunk
        report.messages = len(sent)
        await asyncio.sleep(_CHUNK_S)
    return sent


async def _send_until_acked(settings: Settings, tenant: str, chunk: list[bytes], report: SoakReport) -> None:
    delay = 0.5
    while True:
        try:
            async with RecordProducer(
                settings.kafka_bootstrap, topic_names(settings), settings.produce_timeout_s
            ) as producer:
                for raw in chunk:
                    await producer.send_message(parse_message(raw, tenant=tenant))
                await producer.flush()
            return
        except StreamUnavailable:
            report.produce_retries += 1
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)


async def _caught_up(settings: Settings, timeout: float) -> float:
    return await wait_for_zero_lag(
        settings.kafka_bootstrap, settings.app_id, topic_names(settings).all(), timeout=timeout
    )


async def _tenant(graph: GraphStore, name: str, domain: str) -> None:
    await graph.wait_until_reachable()
    await graph.create_tenant(name, [domain])


async def run_soak(
    settings: Settings,
    minutes: float,
    rate: float = 50.0,
    fault_every_s: float = 60.0,
    seed: int = 5,
    say: Callable[[str], None] = print,
) -> SoakReport:
    """Load with faults for `minutes`, then a clean replay, then the comparison."""
    services = LocalServices(settings)
    await asyncio.to_thread(services.up)
    await prepare(settings)
    services.spawn_process("worker", [sys.executable, "-m", "tiegraph", "worker"])
    org = generate_organization(people=80, seed=seed)
    tenant = f"soak-{int(time.time())}"
    report = SoakReport(tenant=tenant, minutes=minutes)
    graph = connect_graph(settings)
    try:
        await _tenant(graph, tenant, org.home_domain)
        start = time.monotonic()
        end = start + minutes * 60
        mails = generate_mail(org, messages=10**9, seed=seed)
        load = asyncio.create_task(_produce_steadily(settings, tenant, mails, rate, end, report))
        for at, fault in fault_schedule(start, end, fault_every_s):
            await asyncio.sleep(max(0.0, at - time.monotonic()))
            say(f"{time.monotonic() - start:6.0f}s  {fault} ({report.messages} messages produced)")
            done = await inject(services, fault)
            report.faults.append({**done, "at_s": round(at - start, 1)})
        sent = await load
        await graph.close()  # Neo4j was restarted under it: a fresh driver for what follows
        graph = connect_graph(settings)
        say(f"load done: {len(sent)} messages; waiting for the pipeline to catch up")
        report.catch_up_s = await _caught_up(settings, timeout=900)
        faulty = await snapshot_graph(graph, tenant)
        say("clean replay of the same messages for the comparison")
        await _tenant(graph, f"{tenant}-clean", org.home_domain)
        await _send_until_acked(settings, f"{tenant}-clean", sent, report)
        await _caught_up(settings, timeout=900)
        report.stats = faulty.stats
        report.differences = graph_differences(faulty, await snapshot_graph(graph, f"{tenant}-clean"))
    finally:
        await graph.close()
    return report
