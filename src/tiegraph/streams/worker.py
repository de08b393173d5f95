"""`tiegraph worker`: a small supervisor around the Faust worker process.

The supervisor restarts the worker whenever it exits without having been asked to stop: after a
crash, or when the worker's stall watchdog (streams/watchdog.py) finds a partition that stopped
moving. A restart resumes from the committed offsets, and every stage is idempotent, so a restart
loses and double-counts nothing.
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
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from faust import Worker

from tiegraph.deployment import connect_graph, prepare
from tiegraph.errors import TopicMismatch
from tiegraph.logs import setup_logging
from tiegraph.settings import Settings
from tiegraph.streams.app import create_app
from tiegraph.streams.metrics import serve_metrics
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


def run_worker(settings: Settings, loglevel: str = "warn") -> int:
    """Supervise a worker process (or, inside the supervisor's child, be the worker)."""
    if os.environ.get(_CHILD_ENV):
        try:
            run_faust_worker(settings, loglevel)
        except TopicMismatch as exc:
            log.error("%s", exc)
            return CONFIGURATION_ERROR
        return 0
    return supervise([sys.executable, "-m", "tiegraph", "worker", "--loglevel", loglevel])


def supervise(argv: list[str]) -> int:
    """Run `argv` and restart it with bounded backoff until SIGTERM or SIGINT; its exit code."""
    setup_logging(logging.INFO)
    stopping = False
    child: subprocess.Popen[bytes] | None = None

    def stop(signum: int, _: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    delay = 1.0
    while True:
        started = time.monotonic()
        child = subprocess.Popen(argv, env={**os.environ, _CHILD_ENV: "1"})
        code = _wait(child, lambda: stopping)
        if stopping:
            return code
        if code == CONFIGURATION_ERROR:
            log.error("the worker cannot run with this configuration (see above); not restarting it")
            return code
        if time.monotonic() - started > 120:
            delay = 1.0  # it ran well for a while: this is a fresh failure, not a crash loop
        log.warning("worker exited with code %s; restarting in %.0fs", code, delay)
        time.sleep(delay)
        delay = min(delay * 2, MAX_RESTART_DELAY_S)


def _wait(child: subprocess.Popen[bytes], stopping: Callable[[], bool]) -> int:
    """The child's exit code; once a stop was asked for, it gets STOP_GRACE_S before SIGKILL."""
    deadline: float | None = None
    while True:
        try:
            return child.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            if stopping():
                deadline = deadline or time.monotonic() + STOP_GRACE_S
                if time.monotonic() > deadline:
                    log.warning("worker did not stop within %.0fs; killing it", STOP_GRACE_S)
                    child.kill()


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


def run_faust_worker(settings: Settings, loglevel: str) -> None:
    """Create topics and schema if needed, then run every agent until stopped (SIGTERM/SIGINT)."""
    asyncio.run(prepare(settings))
    asyncio.run(
        ensure_changelog_topics(
            settings.kafka_bootstrap, settings.app_id, settings.topic_partitions, settings.topic_replication
        )
    )
    tenants = asyncio.run(load_tenant_directory(settings))
    serve_metrics(settings.worker_metrics_port, settings.worker_metrics_host)
    # A fresh driver: the async driver belongs to the event loop that used it; Faust runs its own loop.
    app = create_app(settings, connect_graph(settings), tenants)
    setup_logging(loglevel.upper() if loglevel.upper() != "WARN" else "WARNING")
    if settings.store.startswith("rocksdb"):  # before Faust opens the files (streams/table_files.py)
        tabledir = Path(app.conf.tabledir)
        asyncio.run(discard_stale_table_files(settings.kafka_bootstrap, tabledir, settings.app_id))
    tune_collector()
    # Our JSON/text setup (tiegraph/logs.py) instead of mode's own handlers.
    Worker(app, loglevel=loglevel, quiet=True, override_logging=False).execute_from_commandline()
