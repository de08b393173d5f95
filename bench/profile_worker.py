"""Profile one `tiegraph worker` on the bench corpus: wall time, the CPU time of the worker's stream
stages and graph writer, Kafka and Neo4j over each run, the writer's own graph-write figures,
optionally each stage's lag every second and a py-spy recording of the stages' process in the
last run (`.venv/bin/pip install py-spy` first).

    .venv/bin/python bench/profile_worker.py [--messages 50000] [--runs 3] [--timeline] [--py-spy out.txt]
    .venv/bin/python bench/profile_worker.py --scale-ties 200000 --runs 1  # the bench's memory-at-scale mail

Uses the local services (`tiegraph services up`) and the bench's own helpers, with a fresh tenant
per run; deletes its topics and tenants afterwards. Not part of `tiegraph bench`: a tool for
finding where the worker's time goes between two bench runs (bench/HISTORY.md says
what it found).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from tiegraph.bench import pipeline as p
from tiegraph.bench.cpu import cpu_now, cpu_since, engine_pids, last_graph_write, worker_metrics, worker_pids
from tiegraph.bench.scale import scale_corpus
from tiegraph.settings import Settings
from tiegraph.streams import topics as t
from tiegraph.streams.lag import LagReader, summarize, wait_for_stable_group, wait_for_zero_lag
from tiegraph.streams.metrics import GRAPH_WRITER, metrics_port


async def _print_lag_timeline(settings: Settings, app_id: str, names: t.TopicNames) -> None:
    """Each stage's lag every second: which one is behind, and when each catches up."""
    started = time.perf_counter()
    async with LagReader(settings.kafka_bootstrap) as reader:
        while True:
            topics = summarize(await reader.read(app_id, names.all()))["topics"]
            lagging = {name.removeprefix(names.prefix): lag for name, lag in topics.items() if lag}
            print(f"  {time.perf_counter() - started:5.1f} s  {lagging}")
            await asyncio.sleep(1.0)


def _print_graph_writes(samples: dict[str, float]) -> None:
    """The graph writer's own account of its Neo4j writes (its /metrics `samples`): batches, rows, time."""
    for kind in ("ties", "counters"):
        wanted = (
            f'tiegraph_graph_write_seconds_sum{{kind="{kind}"}}',
            f'tiegraph_graph_write_seconds_count{{kind="{kind}"}}',
            f'tiegraph_graph_rows_written_total{{kind="{kind}"}}',
        )
        if all(name in samples for name in wanted):
            seconds, batches, rows = (samples[name] for name in wanted)
            print(f"  graph writes of {kind}: {batches:.0f} batches, {rows:.0f} rows, {seconds:.2f} s waiting")


async def _print_records(settings: Settings, names: t.TopicNames, app_id: str) -> None:
    """Records produced per topic over the run, the tables' changelogs included: each is fetched,
    decoded, written and acked once or more, by the worker and by Kafka."""
    topics = [*names.all(), *t.changelog_topics(app_id)]
    counts = {name: await p._records_in(settings.kafka_bootstrap, name) for name in topics}
    shown = {name.removeprefix(names.prefix).removeprefix(f"{app_id}-"): n for name, n in counts.items() if n}
    print("  records: " + ", ".join(f"{name} {n:,}" for name, n in shown.items()))


def _worker_pid(supervisor: int, role: str) -> int:
    """The worker's process of `role` ("streams": the stages, "graph": the graph writer)."""
    for _ in range(100):
        children = worker_pids(supervisor, role)
        if children:
            return children[0]
        time.sleep(0.1)
    raise RuntimeError(f"the supervisor started no {role} process")


async def _one_run(
    settings: Settings, corpus: list[tuple[bytes, bytes]], py_spy: str | None, timeline: bool, store: str | None
) -> None:
    run = uuid.uuid4().hex[:8]
    names, app_id = t.TopicNames(f"bench-{run}."), f"tiegraph-bench-{run}"
    await t.ensure_topics(settings.kafka_bootstrap, names, settings.topic_partitions, settings.topic_replication)
    (supervisor,) = p._spawn_workers(settings, 1, names.prefix, app_id, store)
    spy = None
    try:
        await wait_for_stable_group(settings.kafka_bootstrap, app_id)
        worker, writer = _worker_pid(supervisor.pid, "streams"), _worker_pid(supervisor.pid, "graph")
        engines = engine_pids(settings)
        cpu_before, writer_before = cpu_now([worker], engines), cpu_now([writer], {})
        if py_spy:
            # installed into the venv, which need not be on PATH
            installed = Path(sys.executable).with_name("py-spy")
            argv = [
                str(installed) if installed.exists() else "py-spy",
                "record",
                "--pid",
                str(worker),
                "-r",
                "200",
                "-f",
                "raw",
                "-o",
                py_spy,
            ]
            spy = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started, started_at = time.perf_counter(), time.time()
        watching = asyncio.create_task(_print_lag_timeline(settings, app_id, names)) if timeline else None
        await p._produce(settings.kafka_bootstrap, names[t.MAIL_MESSAGES], corpus)
        await wait_for_zero_lag(settings.kafka_bootstrap, app_id, names.all(), timeout=600, settle=1)
        committed = time.perf_counter() - started
        # as the bench times a run: to its last graph write (lag 0 comes a commit interval later)
        writer_samples = worker_metrics(metrics_port(p._metrics_port(settings, 0), GRAPH_WRITER))
        wall = p.settled_seconds(started_at, committed, [last_graph_write(writer_samples)])
        if watching is not None:
            watching.cancel()
        used = {
            **cpu_since(cpu_before, [worker], engines),
            "graph writer": cpu_since(writer_before, [writer], {})["worker"],
        }
        cpu = ", ".join(f"{name} {seconds} s" for name, seconds in used.items())
        _print_graph_writes(writer_samples)
        await _print_records(settings, names, app_id)
        rate = len(corpus) / wall
        print(f"{len(corpus)} msgs in {wall:.2f} s = {rate:,.0f} msgs/s (lag 0 at {committed:.2f} s); CPU: {cpu}")
        print(f"worker peak RSS {p._peak_rss_mb(supervisor.pid):.1f} MB ({store or settings.store} store)")
    finally:
        if spy is not None:
            spy.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT, not on SIGTERM
            spy.wait()
        p._stop([supervisor])
        await p._delete_run(settings, names, app_id)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--people", type=int, default=3_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--py-spy", help="py-spy raw output file (the last run is recorded)")
    parser.add_argument("--timeline", action="store_true", help="print each stage's lag every second")
    parser.add_argument("--scale-ties", type=int, help="instead: the bench's memory-at-scale mail for this many ties")
    args = parser.parse_args()
    settings = Settings()
    template = "bench-00000000"
    if args.scale_ties:
        corpus = scale_corpus(template, args.scale_ties, time.time())
    else:
        corpus = p._corpus(args.messages, args.people, template)
    for i in range(args.runs):
        # A fresh tenant per run, as in `tiegraph bench`: Neo4j creates every tie, where a run
        # into an earlier run's tenant mostly finds them there (a third of the CPU in Neo4j).
        tenant = f"bench-{uuid.uuid4().hex[:8]}"
        await p._create_tenant(settings, tenant)
        renamed = [
            (k.replace(template.encode(), tenant.encode()), v.replace(template.encode(), tenant.encode()))
            for k, v in corpus
        ]
        try:
            # at scale, the bench's store (the memory store holds every table in the heap)
            store = "rocksdb://" if args.scale_ties else None
            await _one_run(settings, renamed, args.py_spy if i == args.runs - 1 else None, args.timeline, store)
        finally:
            await p._delete_tenants(settings, [tenant])


if __name__ == "__main__":
    asyncio.run(main())
