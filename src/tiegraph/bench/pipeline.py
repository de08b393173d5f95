"""`tiegraph bench`: pipeline throughput against the limits of the engines, measured in one run.

On the local services it generates a corpus with the synthetic organisation generator, warms the
engines up with one unmeasured pipeline run and limit write (see WARMUP below), then:
  1. kafka_consume_limit: a raw aiokafka consumer reads and JSON-decodes the corpus topic;
  2. pipeline throughput: a real `tiegraph worker` (own consumer group and topic prefix) takes the
     corpus from mail.messages.v1 to a settled graph (lag 0); three runs, each into a fresh tenant
     (every tie created, as in a backfill), the median, with how its time split (cpu.py);
  3. neo4j_write_limit: after each pipeline run, the final tie states are written again with the
     same batched UNWIND statement into a fresh tenant; the median of the three. Each limit run
     follows its pipeline run, so that both meet Neo4j in the same state (store size, checkpoints):
     three limit runs in a row, after all the pipeline runs, spread 1.35x within one bench and
     their medians 2x between benches;
  4. the same pipeline run with two workers in one consumer group (a fresh tenant too);
  5. freshness at a steady live rate of 1,000 msgs/s, after 5 s warming its fresh worker up
     (freshness.py);
  6. query latency (queries.py), on a generated graph of 1M ties by default;
  7. worker peak RSS at scale: one fresh worker (RocksDB store by default) takes scale.py's mail
     to a settled graph of 1M ties by default; its VmHWM. The throughput runs' peak is reported
     too, for their ~11,500 ties.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from tiegraph.bench.cpu import (
    cpu_now,
    cpu_since,
    engine_pids,
    graph_write_seconds,
    last_graph_write,
    worker_metrics,
    worker_pids,
)
from tiegraph.bench.freshness import WARMUP_S, measure_freshness
from tiegraph.bench.queries import measure_query_latency
from tiegraph.bench.scale import scale_corpus
from tiegraph.deployment import connect_graph
from tiegraph.errors import GraphUnavailable, StreamUnavailable
from tiegraph.graph.neo4j import tie_row
from tiegraph.ingest.headers import parse_message
from tiegraph.services.local import port_open
from tiegraph.settings import Settings
from tiegraph.streams import topics as t
from tiegraph.streams.faust_app import faust_dir
from tiegraph.streams.lag import wait_for_stable_group, wait_for_zero_lag
from tiegraph.streams.metrics import GRAPH_WRITER, STREAM_STAGES, metrics_port
from tiegraph.synth.organization import generate_mail, generate_organization


def _for_tenant(corpus: list[tuple[bytes, bytes]], tenant: str, other: str) -> list[tuple[bytes, bytes]]:
    """The same corpus in tenant `other` (the bench's tenant names are unique random tokens, so a
    byte replacement touches nothing else)."""
    old, new = tenant.encode(), other.encode()
    return [(key.replace(old, new), value.replace(old, new)) for key, value in corpus]


def _corpus(messages: int, people: int, tenant: str, seed: int = 42) -> list[tuple[bytes, bytes]]:
    org = generate_organization(people=people, seed=seed)
    records = []
    for raw in generate_mail(org, messages=messages, seed=seed):
        message = parse_message(raw, tenant=tenant)
        records.append((t.message_key(tenant, message.dedupe_key), t.encode(message.to_dict())))
    return records


async def _produce(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> float:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20, max_batch_size=262144)
    await producer.start()
    started = time.perf_counter()
    try:
        futures = [await producer.send(topic, key=k, value=v) for k, v in records]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return time.perf_counter() - started


async def _consume_limit(bootstrap: str, topic: str, expected: int) -> float:
    """Messages per second a bare consumer reads and decodes: the ceiling for the first stage."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        group_id=None,
        max_partition_fetch_bytes=4 << 20,
    )
    await consumer.start()
    seen = 0
    started = time.perf_counter()
    try:
        while seen < expected:
            batches = await consumer.getmany(timeout_ms=1000, max_records=5000)
            for records in batches.values():
                for record in records:
                    json.loads(record.value)
                seen += len(records)
    finally:
        await consumer.stop()
    return expected / (time.perf_counter() - started)


async def _latest_ties(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    """The final state of every tie the pipeline emitted."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    latest: dict[bytes, dict[str, Any]] = {}
    read = 0
    try:
        ends = await consumer.end_offsets(list(consumer.assignment()))
        total = sum(ends.values())
        while read < total:
            for records in (await consumer.getmany(timeout_ms=1000, max_records=5000)).values():
                for record in records:
                    read += 1
                    if record.value is None:  # a tombstone: the tie was erased
                        latest.pop(record.key, None)
                    else:
                        latest[record.key] = json.loads(record.value)
    finally:
        await consumer.stop()
    return list(latest.values())


# Single-worker pipeline runs: on this 2-core machine, shared with Kafka and Neo4j, single runs
# ranged from 2,260 to 3,190 msgs/s within a session; the bench reports the median, as for the limit
# (one write-limit run after each).
PIPELINE_RUNS = 3
# A JVM compiles its hot paths over the first minute of work: right after `tiegraph services up`,
# three pipeline runs in a row cost Neo4j 30.3, 16.1 and 8.5 s of CPU for the same 50,000 messages
# (1,491, 2,262 and 2,432 msgs/s; bench/profile_worker.py, 2026-11-24 19:40). A live pipeline's
# engines are warm, so the bench first runs the whole corpus through once, and writes its ties
# once, unmeasured, into tenants of their own.
WARMUP = "warmup"


async def _write_limit(settings: Settings, ties: list[dict[str, Any]], tenant: str, batch: int) -> float:
    """Tie writes per second with the pipeline's own statement and batch size, into `tenant` (a
    fresh one: every tie is created, as in the pipeline's run). One write of the ~11,500 ties takes
    ~2 s, and single runs ranged from 4,000 to 7,200 ties/s on this machine: the bench reports the
    median of several, and each."""
    graph = connect_graph(settings)
    try:
        rows = sorted((tie_row({**u, "tenant": tenant}, ()) for u in ties), key=lambda r: (r["a"], r["b"]))
        started = time.perf_counter()
        for i in range(0, len(rows), batch):
            await graph.write_ties(rows[i : i + batch])
        return len(rows) / (time.perf_counter() - started)
    finally:
        await graph.close()


async def _create_tenant(settings: Settings, tenant: str) -> None:
    """Register the run's tenant, as every real deployment does before importing: the graph writer
    reloads the tenant directory from Neo4j for every batch that holds an unknown tenant, which
    cost the runs before 2026-11-23 09:00 two reads per write batch."""
    graph = connect_graph(settings)
    try:
        await graph.create_tenant(tenant, [])
    finally:
        await graph.close()


def _peak_rss_mb(supervisor: int, role: str = "streams") -> float:
    """Peak RSS (VmHWM) of the `tiegraph worker` supervisor's process of `role` (the stream
    stages, which hold the tables, or the graph writer)."""
    peak = 0.0
    for child in worker_pids(supervisor, role):
        for line in Path(f"/proc/{child}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                peak = max(peak, int(line.split()[1]) / 1024)
    return peak


def _metrics_port(settings: Settings, worker: int) -> int:
    """Worker `worker`'s /metrics port (its stream stages'; its graph writer's is the next one)."""
    return settings.worker_metrics_port + 100 + 2 * worker if settings.worker_metrics_port else 0


def _spawn_workers(
    settings: Settings, count: int, prefix: str, app_id: str, store: str | None = None
) -> list[subprocess.Popen[bytes]]:
    workers = []
    for i in range(count):
        env = {
            **os.environ,
            "TIEGRAPH_TOPIC_PREFIX": prefix,
            "TIEGRAPH_APP_ID": app_id,
            "TIEGRAPH_WORKER_WEB_PORT": str(settings.worker_web_port + 100 + i),
            # its own /metrics port, not a running worker's: the bench reads its graph-write figures
            "TIEGRAPH_WORKER_METRICS_PORT": str(_metrics_port(settings, i)),
            "TIEGRAPH_STORE": store or settings.store,
        }
        argv = [sys.executable, "-m", "tiegraph", "worker"]
        workers.append(subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    return workers


def _stop(workers: list[subprocess.Popen[bytes]]) -> None:
    for worker in workers:
        worker.terminate()
    for worker in workers:
        worker.wait(timeout=90)


@dataclass
class PipelineRun:
    names: t.TopicNames
    app_id: str
    produce_s: float
    pipeline_s: float  # from the first produce to the last graph write: the graph settled
    committed_s: float  # from the first produce to every stage's offsets committed (lag 0)
    rss_mb: float  # the stream stages' process (the largest over the workers)
    writer_rss_mb: float  # the graph writer's
    # over the run: "worker" (all their processes), "stages" and "writer" (the stream stages' and the
    # graph writers' processes), "kafka", "neo4j" (when local); None for a process gone
    cpu_s: dict[str, float | None]
    graph_write_s: float | None  # the workers' time in tie writes to Neo4j (their /metrics)
    tie_updates: int  # records on tie.updates.v1: one per changed tie per aggregate batch


async def _run_pipeline(
    settings: Settings, corpus: list[tuple[bytes, bytes]], workers: int, store: str | None = None
) -> PipelineRun:
    """Time `workers` fresh workers (own topics and group) from the first produce to lag 0."""
    run = uuid.uuid4().hex[:8]
    names, app_id = t.TopicNames(f"bench-{run}."), f"tiegraph-bench-{run}"
    await t.ensure_topics(settings.kafka_bootstrap, names, settings.topic_partitions, settings.topic_replication)
    ports = [_metrics_port(settings, i) for i in range(workers)]
    # A worker whose metrics port is taken runs on without metrics, and another process answers.
    metrics_ours = all(
        port and not any(port_open("127.0.0.1", metrics_port(port, role)) for role in (STREAM_STAGES, GRAPH_WRITER))
        for port in ports
    )
    processes = _spawn_workers(settings, workers, names.prefix, app_id, store)
    try:
        # The workers have joined once the group is stable; an empty topic lags 0 from then on.
        await wait_for_stable_group(settings.kafka_bootstrap, app_id)
        engines = engine_pids(settings)
        stages, writers = (
            [pid for p in processes for pid in worker_pids(p.pid, role)] for role in ("streams", "graph")
        )
        cpu_before = cpu_now(stages, engines)
        writers_before = cpu_now(writers, {})
        started, started_at = time.perf_counter(), time.time()
        produce_s = await _produce(settings.kafka_bootstrap, names[t.MAIL_MESSAGES], corpus)
        await wait_for_zero_lag(settings.kafka_bootstrap, app_id, names.all(), timeout=1800, settle=1)
        committed_s = time.perf_counter() - started
        cpu = cpu_since(cpu_before, stages, engines)
        stages_s, writer_s = cpu.pop("worker"), cpu_since(writers_before, writers, {})["worker"]
        # the worker's CPU is its processes' together (None: one of them was restarted meanwhile)
        both = None if stages_s is None or writer_s is None else round(stages_s + writer_s, 2)
        cpu |= {"stages": stages_s, "writer": writer_s, "worker": both}
        rss = max(_peak_rss_mb(p.pid) for p in processes)
        writer_rss = max(_peak_rss_mb(p.pid, "graph") for p in processes)
        samples = [worker_metrics(metrics_port(port, GRAPH_WRITER)) for port in ports]
        writes = [graph_write_seconds(s) for s in samples]
        last_writes = [last_graph_write(s) for s in samples]
        tie_updates = await _records_in(settings.kafka_bootstrap, names[t.TIE_UPDATES])
    except BaseException:
        _stop(processes)
        await _delete_run(settings, names, app_id)
        raise
    _stop(processes)
    # A restarted worker (its CPU is None) began its write figures anew.
    complete = metrics_ours and cpu["worker"] is not None and None not in writes
    graph_write_s = round(sum(w or 0.0 for w in writes), 2) if complete else None
    pipeline_s = settled_seconds(started_at, committed_s, last_writes if complete else [])
    return PipelineRun(
        names, app_id, produce_s, pipeline_s, committed_s, rss, writer_rss, cpu, graph_write_s, tie_updates
    )


def settled_seconds(started_at: float, committed_s: float, last_writes: list[float | None]) -> float:
    """Seconds from `started_at` (Unix time) to a settled graph: to the run's last graph write (the
    graph writers' `last_graph_write`). Lag 0, every offset committed (`committed_s` after the
    start), comes up to a commit interval and a lag reading later; it stands in when a writer's
    figure is missing, or is from before the start (another process answered on its port)."""
    settled = max((w for w in last_writes if w is not None), default=None)
    if not last_writes or None in last_writes or settled is None or settled <= started_at:
        return committed_s
    return min(settled - started_at, committed_s)


async def _records_in(bootstrap: str, topic: str) -> int:
    """How many records were produced to a topic: the sum of its end offsets (compaction removes
    records, never offsets)."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        return sum((await consumer.end_offsets(list(consumer.assignment()))).values())
    finally:
        await consumer.stop()


def _disk_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1024**2


async def _delete_run(settings: Settings, names: t.TopicNames, app_id: str) -> None:
    """Delete a run's topics and table files, best effort: a failed cleanup is a warning, never the
    bench's result."""
    for directory in (faust_dir(settings, app_id), faust_dir(settings, t.graph_writer_group(app_id))):
        shutil.rmtree(directory, ignore_errors=True)  # the graph writer's holds no tables, only Faust's own
    try:
        await t.delete_pipeline(settings.kafka_bootstrap, names, app_id)
    except StreamUnavailable as exc:
        print(f"warning: {exc}", file=sys.stderr)


async def _delete_tenants(settings: Settings, tenants: list[str]) -> None:
    """Delete a run's tenants from the graph, best effort: runs must not pile ties up in the local
    Neo4j (each left ~11,000 ties per tenant behind, and a growing graph slows the writes measured)."""
    graph = connect_graph(settings)
    try:
        for tenant in tenants:
            await graph.delete_tenant_graph(tenant)
    except GraphUnavailable as exc:
        print(f"warning: bench tenants {tenants} left in Neo4j: {exc}", file=sys.stderr)
    finally:
        await graph.close()


Cleanups = list[Callable[[], Awaitable[None]]]


async def _freshness(
    settings: Settings, people: int, rate: float, seconds: float, cleanups: Cleanups
) -> dict[str, Any]:
    """Freshness at a steady live `rate` through one fresh worker (see freshness.py); its topics and
    tenant are left to `cleanups`."""
    run = uuid.uuid4().hex[:8]
    names, app_id, tenant = t.TopicNames(f"bench-{run}."), f"tiegraph-bench-{run}", f"bench-{run}"
    cleanups += [
        functools.partial(_delete_run, settings, names, app_id),
        functools.partial(_delete_tenants, settings, [tenant]),
    ]
    await t.ensure_topics(settings.kafka_bootstrap, names, settings.topic_partitions, settings.topic_replication)
    background = _corpus(int(rate * (WARMUP_S + seconds)), people, tenant, seed=7)
    await _create_tenant(settings, tenant)
    processes = _spawn_workers(settings, 1, names.prefix, app_id)
    graph = connect_graph(settings)
    try:
        await wait_for_stable_group(settings.kafka_bootstrap, app_id)
        return await measure_freshness(
            settings.kafka_bootstrap, graph, names[t.MAIL_MESSAGES], background, tenant, run, rate
        )
    finally:
        await graph.close()
        _stop(processes)


async def _at_scale(settings: Settings, tenant: str, ties: int, store: str, cleanups: Cleanups) -> dict[str, Any]:
    """Worker peak RSS at `ties` ties: one fresh worker takes scale.py's mail for `tenant` to a
    settled graph; its topics, table files and tenant are left to `cleanups`."""
    corpus = scale_corpus(tenant, ties, time.time())
    cleanups.append(functools.partial(_delete_tenants, settings, [tenant]))
    await _create_tenant(settings, tenant)
    run = await _run_pipeline(settings, corpus, 1, store)
    cleanups.append(functools.partial(_delete_run, settings, run.names, run.app_id))
    graph = connect_graph(settings)
    try:
        stored = await graph.stats(tenant)
    finally:
        await graph.close()
    return {
        "worker_rss_mb": round(run.rss_mb, 1),  # the stream stages' process: it holds the tables
        "worker_rss_writer_mb": round(run.writer_rss_mb, 1),
        "scale_store": store,
        "scale_messages": len(corpus),
        "scale_ties": stored["ties"],
        "scale_pipeline_s": round(run.pipeline_s, 1),
        "scale_tables_disk_mb": round(_disk_mb(faust_dir(settings, run.app_id)), 1),
    }


async def run_bench(
    settings: Settings,
    messages: int = 50_000,
    people: int = 3_000,
    freshness_seconds: float = 20.0,
    query_people: int = 100_000,
    query_ties: int = 1_000_000,
    query_requests: int = 300,
    scale_ties: int = 1_000_000,
    scale_store: str = "rocksdb://",
) -> dict[str, Any]:
    tenant = f"bench-{uuid.uuid4().hex[:8]}"
    corpus = _corpus(messages, people, tenant)
    # Repeated runs must not pile topics up in the local Kafka, nor ties in the local Neo4j; the
    # deletions wait until every figure is measured (Kafka deletes a topic's files a minute later,
    # in the background, and Neo4j writes the deletion's pages out at its next checkpoint).
    # The first run warms up (unmeasured); the last has two workers.
    run_tenants = [f"{tenant}-run-{i}" for i in (WARMUP, *range(PIPELINE_RUNS + 1))]
    limit_tenants = [f"{tenant}-limit-{i}" for i in (WARMUP, *range(PIPELINE_RUNS))]
    cleanups: Cleanups = [functools.partial(_delete_tenants, settings, [*run_tenants, *limit_tenants])]
    try:
        runs: list[PipelineRun] = []
        write_limits: list[float] = []
        ties: list[dict[str, Any]] = []
        for i, run_tenant in enumerate(run_tenants):
            await _create_tenant(settings, run_tenant)
            workers = 2 if i == len(run_tenants) - 1 else 1
            run = await _run_pipeline(settings, _for_tenant(corpus, tenant, run_tenant), workers)
            cleanups.append(functools.partial(_delete_run, settings, run.names, run.app_id))
            runs.append(run)
            if i < len(limit_tenants):
                if not ties:  # every run ends with the same ties (for its own tenant)
                    ties = await _latest_ties(settings.kafka_bootstrap, run.names[t.TIE_UPDATES])
                limit = await _write_limit(settings, ties, limit_tenants[i], settings.graph_batch_size)
                write_limits.append(limit)
        (warmup, *runs), (warmup_limit, *write_limits) = runs, write_limits
        singles, double = runs[:PIPELINE_RUNS], runs[PIPELINE_RUNS]
        single = sorted(singles, key=lambda r: r.pipeline_s)[PIPELINE_RUNS // 2]  # the median run
        consume_limit = await _consume_limit(settings.kafka_bootstrap, single.names[t.MAIL_MESSAGES], len(corpus))
        freshness = await _freshness(settings, min(people, 1_000), 1000.0, freshness_seconds, cleanups)
        # Query latency on a generated graph written straight into Neo4j (a query benchmark, not a
        # pipeline one); a graph of that size loaded by an earlier run is reused.
        queries = await measure_query_latency(settings, query_people, query_ties, query_requests)
        # Last: its graph (1M ties) would share Neo4j's page cache with the query graph.
        scale = await _at_scale(settings, f"{tenant}-scale", scale_ties, scale_store, cleanups)
    finally:
        for cleanup in cleanups:
            await cleanup()
    throughput = len(corpus) / single.pipeline_s
    write_limit = statistics.median(write_limits)

    def in_msgs(ties_per_s: float, run: PipelineRun) -> float:
        """The writer's ceiling in messages: tie writes per second over the run's tie updates per
        message (one per changed tie per aggregate batch: how batches fell varies a little)."""
        return ties_per_s * len(corpus) / max(run.tie_updates, 1)

    def per_message(cpu_s: float | None) -> float | None:
        return None if cpu_s is None else round(cpu_s / len(corpus) * 1e6, 1)

    write_limit_msgs = in_msgs(write_limit, single)
    return {
        "messages": len(corpus),
        "people": people,
        "ties": len(ties),
        "tie_updates": single.tie_updates,
        "produce_s": round(single.produce_s, 2),
        "pipeline_s": round(single.pipeline_s, 2),
        "pipeline_committed_s": round(single.committed_s, 2),
        # How that run's time split: CPU seconds of the worker (its stream stages and its graph
        # writer apart too), Kafka and Neo4j (null where not local), and the writer's time
        # waiting for its tie writes to Neo4j.
        "pipeline_worker_cpu_s": single.cpu_s["worker"],
        "pipeline_stages_cpu_s": single.cpu_s.get("stages"),
        "pipeline_writer_cpu_s": single.cpu_s.get("writer"),
        "pipeline_kafka_cpu_s": single.cpu_s.get("kafka"),
        "pipeline_neo4j_cpu_s": single.cpu_s.get("neo4j"),
        "pipeline_graph_write_s": single.graph_write_s,
        "pipeline_worker_cpu_us_per_msg": per_message(single.cpu_s["worker"]),
        # The stages' process is one Python thread: its CPU per message bounds one worker's throughput.
        "pipeline_stages_cpu_us_per_msg": per_message(single.cpu_s.get("stages")),
        "throughput_msgs_per_s": round(throughput, 1),
        "throughput_runs_msgs_per_s": [round(len(corpus) / r.pipeline_s, 1) for r in singles],
        "throughput_2_workers_msgs_per_s": round(len(corpus) / double.pipeline_s, 1),
        "warmup_run_msgs_per_s": round(len(corpus) / warmup.pipeline_s, 1),
        "warmup_write_limit_ties_per_s": round(warmup_limit, 1),
        "kafka_consume_limit_msgs_per_s": round(consume_limit, 1),
        "neo4j_write_limit_ties_per_s": round(write_limit, 1),
        "neo4j_write_limit_runs_ties_per_s": [round(rate, 1) for rate in write_limits],
        "neo4j_write_limit_msgs_per_s": round(write_limit_msgs, 1),
        "pipeline_vs_limit": round(throughput / min(consume_limit, write_limit_msgs), 3),
        # Each pipeline run against the limit run that followed it: how far the pairs agree.
        "pipeline_vs_limit_runs": [
            round((len(corpus) / r.pipeline_s) / min(consume_limit, in_msgs(limit, r)), 3)
            for r, limit in zip(singles, write_limits, strict=True)
        ],
        **scale,
        "worker_rss_throughput_runs_mb": round(max(r.rss_mb for r in singles), 1),
        **freshness,
        **{k: v for k, v in queries.items() if k.endswith("_ms")},
        "query_cache_warmup_s": queries["query_cache_warmup_s"],
        "query_graph_people": queries["people"],
        "query_graph_ties": queries["ties"],
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
    }


def describe_time_split(result: dict[str, Any]) -> str:
    def seconds(value: float | None) -> str:
        return "n/a" if value is None else f"{value} s"

    per_message = result.get("pipeline_stages_cpu_us_per_msg")
    bound = (
        f"; {per_message:,.0f} µs of the stages' CPU per message: at most {1e6 / per_message:,.0f} msgs/s "
        "on their one core"
        if per_message
        else ""
    )
    return (
        f"{result['pipeline_s']} s: CPU of the worker {seconds(result['pipeline_worker_cpu_s'])} "
        f"(stages {seconds(result.get('pipeline_stages_cpu_s'))}, graph writer "
        f"{seconds(result.get('pipeline_writer_cpu_s'))}), Neo4j {seconds(result['pipeline_neo4j_cpu_s'])}, "
        f"Kafka {seconds(result['pipeline_kafka_cpu_s'])}; the writer waited "
        f"{seconds(result['pipeline_graph_write_s'])} for its tie writes{bound}"
    )


def print_table(result: dict[str, Any]) -> None:
    rows = [
        ("corpus", f"{result['messages']} messages, {result['people']} people -> {result['ties']} ties"),
        (
            "pipeline throughput",
            f"{result['throughput_msgs_per_s']} msgs/s ({result['pipeline_s']} s to a settled graph, "
            f"{result['pipeline_committed_s']} s to every offset committed; median of "
            f"{', '.join(f'{rate:,.0f}' for rate in result['throughput_runs_msgs_per_s'])}; "
            f"after a warm-up run at {result['warmup_run_msgs_per_s']:,.0f})",
        ),
        ("time split (that run)", describe_time_split(result)),
        ("limit: raw Kafka consume", f"{result['kafka_consume_limit_msgs_per_s']} msgs/s"),
        (
            "limit: raw Neo4j batched writes",
            f"{result['neo4j_write_limit_ties_per_s']} ties/s = {result['neo4j_write_limit_msgs_per_s']} msgs/s "
            f"(median of {', '.join(f'{rate:,.0f}' for rate in result['neo4j_write_limit_runs_ties_per_s'])})",
        ),
        (
            "pipeline vs lower limit",
            f"{result['pipeline_vs_limit']:.1%} (goal >= 50%; each run against the limit run after it: "
            f"{', '.join(f'{ratio:.1%}' for ratio in result['pipeline_vs_limit_runs'])})",
        ),
        (
            f"worker peak RSS at {result['scale_ties']:,} ties",
            f"{result['worker_rss_mb']} MB the stream stages' process, {result['worker_rss_writer_mb']} MB its "
            f"graph writer, {result['worker_rss_mb'] + result['worker_rss_writer_mb']:.1f} MB together (goal <= 1024; "
            f"{result['scale_store']} store, tables "
            f"{result['scale_tables_disk_mb']} MB on disk; {result['scale_messages']:,} messages settled in "
            f"{result['scale_pipeline_s']} s)",
        ),
        (
            "worker peak RSS, throughput runs",
            f"{result['worker_rss_throughput_runs_mb']} MB at {result['ties']:,} ties",
        ),
        ("pipeline throughput, 2 workers", f"{result['throughput_2_workers_msgs_per_s']} msgs/s"),
        (
            "freshness at 1,000 msgs/s",
            f"p50 {result['freshness_p50_ms']} ms, p99 {result['freshness_p99_ms']} ms "
            f"({result['freshness_probes']} probes, {result['freshness_probes_not_seen']} not seen; "
            f"the first {result['freshness_warmup_s']:.0f} s warming the worker up: at most "
            f"{result['freshness_warmup_max_ms']} ms)",
        ),
        (
            f"queries at {result['query_graph_ties']:,} ties (p50 / p99)",
            f"contacts {result['contacts_p50_ms']} / {result['contacts_p99_ms']} ms (goal p99 <= 20), "
            f"who-knows {result['who_knows_p50_ms']} / {result['who_knows_p99_ms']} ms (<= 20), "
            f"paths {result['paths_p50_ms']} / {result['paths_p99_ms']} ms (<= 50); the graph read into "
            f"Neo4j's cache first ({result['query_cache_warmup_s']} s)",
        ),
    ]
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
