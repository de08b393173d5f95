"""Where a bench run's time goes: the CPU time of the worker and of the local Kafka and Neo4j over
the run, and how long the worker's graph writer waited for Neo4j (its own Prometheus figures).

The three processes share the machine's cores, so the split says which one a run was waiting for:
a worker near one core's worth of CPU over the run is the bottleneck; a writer waiting most of the
run is waiting for Neo4j."""

from __future__ import annotations

import os
import urllib.request
from pathlib import Path
from urllib.error import URLError

from tiegraph.services.local import LocalServices
from tiegraph.settings import Settings

ENGINES = ("kafka", "neo4j")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used (0.0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def engine_pids(settings: Settings) -> dict[str, int]:
    """The Kafka and Neo4j that `tiegraph services up` runs (none for engines elsewhere: their
    CPU is not this machine's to read)."""
    return {s.name: s.pid for s in LocalServices(settings).status() if s.name in ENGINES and s.running and s.pid}


def worker_pids(supervisor: int) -> list[int]:
    """The Faust worker processes a `tiegraph worker` supervisor runs."""
    try:
        return [int(pid) for pid in Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()]
    except OSError:
        return []


def worker_metrics(port: int) -> dict[str, float]:
    """A worker's Prometheus samples by name and labels ('name{label="v"}'); empty if not served."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            lines = response.read().decode().splitlines()
    except (URLError, OSError):
        return {}
    samples = {}
    for line in lines:
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


def graph_write_seconds(samples: dict[str, float], kind: str = "ties") -> float | None:
    """Seconds the worker spent in its graph writes of `kind` (None: no figures)."""
    return samples.get(f'tiegraph_graph_write_seconds_sum{{kind="{kind}"}}')


def cpu_now(workers: list[int], engines: dict[str, int]) -> dict[str, float]:
    """CPU seconds used so far: "worker" (all of `workers` together), and each engine by name."""
    return {"worker": sum(cpu_seconds(pid) for pid in workers), **{n: cpu_seconds(p) for n, p in engines.items()}}


def cpu_since(before: dict[str, float], workers: list[int], engines: dict[str, int]) -> dict[str, float]:
    """CPU seconds used since `before` (a `cpu_now`); read while the workers still run."""
    now = cpu_now(workers, engines)
    return {name: round(now[name] - before[name], 2) for name in now}
