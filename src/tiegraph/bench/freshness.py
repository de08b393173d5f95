"""Freshness, measured black-box: how long a message takes from Kafka to a readable tie.

Messages are produced at a steady live rate; every `probe_every`-th one is a probe between two
addresses used nowhere else, so its tie appears in Neo4j only once the probe itself went through
every stage. Neo4j is polled for the outstanding probes; delay = first seen - produced. The poll
interval (`POLL_S`) bounds the error of each reading.

The first `WARMUP_S` of traffic warm up the worker, which the bench starts for this measurement:
its first seconds (connections, a first batch of every stage, Neo4j plans for a new tenant) took
probes up to 2.8 s where the steady state kept them under 0.8 s (2026-11-24). A live pipeline's
worker is warm, so the percentiles are of the probes after it; the warm-up probes' worst delay is
reported apart.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime

from aiokafka import AIOKafkaProducer

from tiegraph.graph.neo4j import GraphStore
from tiegraph.ingest.headers import parse_message
from tiegraph.streams import topics as t

POLL_S = 0.02
WARMUP_S = 5.0


def probe_record(tenant: str, run: str, i: int, now: float) -> tuple[bytes, bytes, str, str]:
    """(key, value, a, b) of a mail between two addresses that no other message uses."""
    sender, recipient = f"probe{i}-{run}@probe.example", f"peer{i}-{run}@probe.example"
    date = format_datetime(datetime.fromtimestamp(now, tz=UTC))
    raw = f"Message-ID: <p{i}.{run}@probe>\r\nDate: {date}\r\nFrom: {sender}\r\nTo: {recipient}\r\nSubject: p\r\n\r\n"
    message = parse_message(raw.encode(), tenant=tenant)
    return t.message_key(tenant, message.dedupe_key), t.encode(message.to_dict()), sender, recipient


@dataclass
class Probes:
    produced: dict[tuple[str, str], float] = field(default_factory=dict)
    seen: set[tuple[str, str]] = field(default_factory=set)
    warming: set[tuple[str, str]] = field(default_factory=set)  # probes sent during the warm-up
    delays_ms: list[float] = field(default_factory=list)
    warmup_delays_ms: list[float] = field(default_factory=list)


async def _produce_steady(
    producer: AIOKafkaProducer,
    topic: str,
    background: list[tuple[bytes, bytes]],
    rate: float,
    probes: Probes,
    tenant: str,
    run: str,
    probe_every: int,
    warmup: int,
) -> None:
    """Produce `background` at `rate` msgs/s, a probe in place of every `probe_every`-th one (those
    among the first `warmup` messages marked as warming up)."""
    started = time.perf_counter()
    for i, (key, value) in enumerate(background):
        delay = started + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if i % probe_every == 0:
            key, value, a, b = probe_record(tenant, run, i, time.time())
            pair = (a, b) if a < b else (b, a)
            probes.produced[pair] = time.perf_counter()
            if i < warmup:
                probes.warming.add(pair)
        await producer.send(topic, key=key, value=value)
    await producer.flush()


async def _watch(graph: GraphStore, tenant: str, probes: Probes, producing: asyncio.Task[None], timeout: float) -> None:
    """Poll for every outstanding probe's tie until all are seen (or `timeout` after producing)."""
    deadline: float | None = None
    while True:
        outstanding = [pair for pair in probes.produced if pair not in probes.seen]
        for pair in outstanding:
            if await graph.tie(tenant, *pair) is not None:
                probes.seen.add(pair)
                delays = probes.warmup_delays_ms if pair in probes.warming else probes.delays_ms
                delays.append((time.perf_counter() - probes.produced[pair]) * 1000)
        if producing.done():
            deadline = deadline or time.perf_counter() + timeout
            if len(probes.seen) == len(probes.produced) or time.perf_counter() > deadline:
                return
        await asyncio.sleep(POLL_S)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def measure_freshness(
    bootstrap: str,
    graph: GraphStore,
    topic: str,
    background: list[tuple[bytes, bytes]],
    tenant: str,
    run: str,
    rate: float = 1000.0,
    probe_every: int = 50,
) -> dict[str, float | int]:
    """Freshness percentiles of probes sent among `background` at a steady `rate` msgs/s, after
    its first `WARMUP_S` (see above)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    await producer.start()
    probes = Probes()
    try:
        producing = asyncio.create_task(
            _produce_steady(producer, topic, background, rate, probes, tenant, run, probe_every, int(rate * WARMUP_S))
        )
        await _watch(graph, tenant, probes, producing, timeout=60.0)
        await producing
    finally:
        await producer.stop()
    lost = len(probes.produced) - len(probes.warming) - len(probes.delays_ms)
    return {
        "freshness_rate_msgs_per_s": rate,
        "freshness_warmup_s": WARMUP_S,
        "freshness_warmup_max_ms": round(max(probes.warmup_delays_ms, default=-1.0), 1),
        "freshness_probes": len(probes.delays_ms),
        "freshness_probes_not_seen": lost,
        "freshness_p50_ms": round(percentile(probes.delays_ms, 0.5), 1) if probes.delays_ms else -1.0,
        "freshness_p99_ms": round(percentile(probes.delays_ms, 0.99), 1) if probes.delays_ms else -1.0,
    }
