"""Where a bench run's time goes: the CPU time of the worker and of the local Kafka and Neo4j over
the run, and how long the worker's graph writer waited for Neo4j (its own Prometheus figures).

The three processes share the machine's cores, so the split says which one a run was waiting for:
a worker near one core's worth of CPU over the run is the bottleneck; a writer waiting most of the
run is waiting for Neo4j."""

from __future__ import annotations

import contextlib
import itertools
import os
import urllib.request
from pathlib import Path

from tiegraph.services.local import LocalServices
from tiegraph.settings import Settings

ENGINES = ("kafka", "neo4j")


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds a process has used; None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _on_this_machine(address: str) -> bool:
    host = address.split("://")[-1].rsplit(":", 1)[0].strip("[]")
    return host in ("127.0.0.1", "localhost", "::1")


def engine_pids(settings: Settings) -> dict[str, int]:
    """The Kafka and Neo4j that `tiegraph services up` runs, if the settings point at them (an
    engine elsewhere: its CPU is not this machine's to read)."""
    used = {"kafka": settings.kafka_bootstrap, "neo4j": settings.neo4j_uri}
    return {
        s.name: s.pid
        for s in LocalServices(settings).status()
        if s.name in ENGINES and s.running and s.pid and _on_this_machine(used[s.name])
    }


def worker_pids(supervisor: int, role: str | None = None) -> list[int]:
    """The Faust worker processes a `tiegraph worker` supervisor runs: all, or those of `role`
    ("streams" or "graph", streams/worker.py)."""
    try:
        pids = [int(pid) for pid in Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()]
    except OSError:
        return []
    return [pid for pid in pids if role is None or _runs_role(pid, role)]


def _runs_role(pid: int, role: str) -> bool:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return any(a == b"--role" and b == role.encode() for a, b in itertools.pairwise(argv))


def worker_metrics(port: int) -> dict[str, float]:
    """A worker's Prometheus samples by name and labels ('name{label="v"}'); empty if not served."""
    if not port:
        return {}
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            lines = response.read().decode().splitlines()
    except OSError:  # URLError included
        return {}
    samples = {}
    for line in lines:
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            with contextlib.suppress(ValueError):  # not a sample line: not ours to judge
                samples[name] = float(value)
    return samples


def graph_write_seconds(samples: dict[str, float], kind: str = "ties") -> float | None:
    """Seconds the worker spent in its graph writes of `kind` (None: no figures)."""
    return samples.get(f'tiegraph_graph_write_seconds_sum{{kind="{kind}"}}')


def last_graph_write(samples: dict[str, float]) -> float | None:
    """When (Unix time) the worker's latest graph write of data landed (None: no figures)."""
    return samples.get("tiegraph_graph_last_write_timestamp_seconds")


def cpu_now(workers: list[int], engines: dict[str, int]) -> dict[str, float | None]:
    """CPU seconds used so far: "worker" (all of `workers` together), and each engine by name;
    None for any that is gone."""
    used = [cpu_seconds(pid) for pid in workers]
    total = None if not used or None in used else sum(u or 0.0 for u in used)
    return {"worker": total, **{name: cpu_seconds(pid) for name, pid in engines.items()}}


def cpu_since(before: dict[str, float | None], workers: list[int], engines: dict[str, int]) -> dict[str, float | None]:
    """CPU seconds used since `before` (a `cpu_now`), read while the workers still run; None for a
    process that is gone meanwhile (a worker restarted by its supervisor: its CPU is lost)."""
    now = cpu_now(workers, engines)
    return {name: _difference(now[name], before.get(name)) for name in now}


def _difference(now: float | None, before: float | None) -> float | None:
    return None if now is None or before is None else round(now - before, 2)
