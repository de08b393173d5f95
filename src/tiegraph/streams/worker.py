"""`tiegraph worker`: a small supervisor around the worker's processes.

A worker is two processes, each a Faust app with its own consumer group (streams/faust_app.py
says why): the stream stages ("streams", streams/app.py) and the graph writer ("graph",
streams/graph_writer.py). `--role` runs one of them alone, to scale them apart across machines.

The supervisor restarts a process whenever it exits without having been asked to stop: after a
crash, or when its stall watchdog (streams/watchdog.py) finds a partition that stopped moving. A
restart resumes from the committed offsets, and every stage is idempotent, so a restart loses
and double-counts nothing.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

from faust import Worker

from tiegraph.deployment import connect_graph, prepare
from tiegraph.errors import TopicMismatch
from tiegraph.logs import setup_logging
from tiegraph.settings import Settings
from tiegraph.streams.app import create_app
from tiegraph.streams.graph_writer import create_graph_writer
from tiegraph.streams.metrics import GRAPH_WRITER, STREAM_STAGES, metrics_port, serve_metrics
from tiegraph.streams.table_files import discard_stale_table_files
from tiegraph.streams.tenants import TenantDirectory
from tiegraph.streams.topics import ensure_changelog_topics

log = logging.getLogger(__name__)

_CHILD_ENV = "TIEGRAPH_WORKER_SUPERVISED"
MAX_RESTART_DELAY_S = 30.0
CONFIGURATION_ERROR = 78  # EX_CONFIG: a restart cannot help, so the supervisor exits with it
STOP_GRACE_S = 30.0  # a graceful stop commits what was processed; a hung one is killed after this
# The collector's thresholds in the worker (gen 0: tracked objects allocated net; gen 1 and 2:
# collections of the generation below). See `tune_collector`.
COLLECTOR_THRESHOLDS = (20_000, 20, 100)
ROLES = (STREAM_STAGES, GRAPH_WRITER)  # the stream stages (streams/app.py), the graph writer (streams/graph_writer.py)


def run_worker(settings: Settings, loglevel: str = "warn", role: str = "all") -> int:
    """Supervise the worker's processes (or, inside the supervisor's child, be one of them)."""
    if role not in (*ROLES, "all"):
        raise ValueError(f"unknown worker role {role!r}: one of {', '.join(ROLES)} or all")
    if os.environ.get(_CHILD_ENV):
        if role not in ROLES:
            raise ValueError("a supervised worker process runs one role")
        try:
            run_faust_worker(settings, loglevel, role)
        except TopicMismatch as exc:
            log.error("%s", exc)
            return CONFIGURATION_ERROR
        return 0
    roles = ROLES if role == "all" else (role,)
    command = [sys.executable, "-m", "tiegraph", "worker", "--loglevel", loglevel, "--role"]
    return supervise({r: [*command, r] for r in roles})


class _Supervised:
    """One supervised process: its command, the running child and when to restart it."""

    def __init__(self, name: str, argv: list[str]) -> None:
        self.name, self.argv = name, argv
        self.child: subprocess.Popen[bytes] | None = None
        self.started = self.restart_at = 0.0
        self.delay = 1.0
        self.told_to_stop = False  # whether the running child was sent the stop signal

    def start(self) -> None:
        self.started = time.monotonic()
        self.child, self.told_to_stop = subprocess.Popen(self.argv, env={**os.environ, _CHILD_ENV: "1"}), False

    def exited(self, now: float) -> int | None:
        """The child's exit code if it exited since the last look (it is then scheduled for a restart)."""
        if self.child is None or (code := self.child.poll()) is None:
            return None
        self.child = None
        if now - self.started > 120:
            self.delay = 1.0  # it ran well for a while: this is a fresh failure, not a crash loop
        self.restart_at = now + self.delay
        if code != CONFIGURATION_ERROR:
            log.warning("worker process %s exited with code %s; restarting in %.0fs", self.name, code, self.delay)
        self.delay = min(self.delay * 2, MAX_RESTART_DELAY_S)
        return code


def supervise(commands: dict[str, list[str]]) -> int:
    """Run each command and restart each with bounded backoff until SIGTERM or SIGINT; the exit
    code (the first non-zero one of the last children)."""
    setup_logging(logging.INFO)
    stopping = False
    processes = [_Supervised(name, argv) for name, argv in commands.items()]

    def stop(signum: int, _: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for process in processes:
            if process.child is not None and process.child.poll() is None:
                process.child.send_signal(signum)
                process.told_to_stop = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for process in processes:
        process.start()
    while not stopping:
        now = time.monotonic()
        for process in processes:
            if process.child is None and now >= process.restart_at and not stopping:
                process.start()
            elif process.exited(now) == CONFIGURATION_ERROR:
                name = process.name
                log.error("worker process %s cannot run with this configuration (see above); not restarting", name)
                stop(signal.SIGTERM, None)
                return _wait_all(processes, CONFIGURATION_ERROR)
        time.sleep(0.5)
    return _wait_all(processes, 0)


def _wait_all(processes: list[_Supervised], code: int) -> int:
    """Wait for the children asked to stop, each given STOP_GRACE_S before SIGKILL; `code`, or
    the first non-zero exit code among them."""
    for process in processes:  # one started while the stop signal was being handled was not told yet
        if process.child is not None and not process.told_to_stop:
            process.child.terminate()
    deadline = time.monotonic() + STOP_GRACE_S
    for process in processes:
        if process.child is None:
            continue
        try:
            exit_code = process.child.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            log.warning("worker process %s did not stop within %.0fs; killing it", process.name, STOP_GRACE_S)
            process.child.kill()
            exit_code = process.child.wait()
        code = code or exit_code
    return code


async def load_tenant_directory(settings: Settings) -> TenantDirectory:
    """Every tenant's model and blocklist before the first batch (the app refreshes them every 10 s):
    a worker that started with an empty directory would let blocked addresses through until then.
    Loaded before Faust starts rather than awaited inside an agent, which must start its stream."""
    tenants = TenantDirectory()
    graph = connect_graph(settings)
    try:
        await tenants.load(graph)
    finally:
        await graph.close()
    return tenants


def tune_collector() -> None:
    """Collect cyclic garbage rarely: the worker holds its tables (every tie's state, every message
    key seen) as Python objects, and with the default thresholds the collector walked them all 18
    times in a 50,000-message run, ~240 ms each: a quarter of the worker's CPU, and pauses that
    show in freshness. The worker makes little cyclic garbage (~24,000 objects in such a run), so
    collecting it rarely costs little memory; what exists at start-up (modules, the app) is frozen
    out of the collector's walks for good."""
    gc.freeze()
    gc.set_threshold(*COLLECTOR_THRESHOLDS)


def run_faust_worker(settings: Settings, loglevel: str, role: str) -> None:
    """Create topics and schema if needed, then run the role's agents until stopped (SIGTERM/SIGINT)."""
    asyncio.run(prepare(settings))
    streams = role == STREAM_STAGES
    if streams:
        asyncio.run(
            ensure_changelog_topics(
                settings.kafka_bootstrap, settings.app_id, settings.topic_partitions, settings.topic_replication
            )
        )
    tenants = asyncio.run(load_tenant_directory(settings))
    serve_metrics(metrics_port(settings.worker_metrics_port, role), role, settings.worker_metrics_host)
    # A fresh driver: the async driver belongs to the event loop that used it; Faust runs its own loop.
    graph = connect_graph(settings)
    app = create_app(settings, graph, tenants) if streams else create_graph_writer(settings, graph, tenants)
    setup_logging(loglevel.upper() if loglevel.upper() != "WARN" else "WARNING")
    if streams and settings.store.startswith("rocksdb"):  # before Faust opens the files (streams/table_files.py)
        tabledir = Path(app.conf.tabledir)
        asyncio.run(discard_stale_table_files(settings.kafka_bootstrap, tabledir, settings.app_id))
    tune_collector()
    # Our JSON/text setup (tiegraph/logs.py) instead of mode's own handlers.
    Worker(app, loglevel=loglevel, quiet=True, override_logging=False).execute_from_commandline()
