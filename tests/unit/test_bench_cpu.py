"""The bench's time split (bench/cpu.py): process CPU from /proc and a worker's own write figures
read back from its Prometheus endpoint."""

from __future__ import annotations

import os
import socket
import time

from prometheus_client import start_http_server

from tiegraph.bench.cpu import cpu_now, cpu_seconds, cpu_since, graph_write_seconds, worker_metrics
from tiegraph.streams import metrics


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _burn(seconds: float) -> None:
    until = time.process_time() + seconds
    while time.process_time() < until:
        pass


def test_cpu_used_over_a_span_is_counted_for_the_worker_and_each_engine() -> None:
    me = os.getpid()
    before = cpu_now([me], {"neo4j": me})
    _burn(0.2)
    used = cpu_since(before, [me], {"neo4j": me})
    assert set(used) == {"worker", "neo4j"}
    assert used["worker"] >= 0.1 and used["neo4j"] >= 0.1


def test_a_process_that_is_gone_has_used_nothing_more() -> None:
    assert cpu_seconds(2**22 + 12345) == 0.0  # above the kernel's pid limit: never a live process


def test_a_workers_graph_write_time_is_read_from_its_metrics() -> None:
    port = _free_port()
    start_http_server(port, addr="127.0.0.1")
    before = graph_write_seconds(worker_metrics(port)) or 0.0
    with metrics.timed_graph_write("ties", 10):
        time.sleep(0.05)
    samples = worker_metrics(port)
    assert (graph_write_seconds(samples) or 0.0) - before >= 0.05
    assert samples['tiegraph_graph_rows_written_total{kind="ties"}'] >= 10


def test_a_worker_without_metrics_has_no_figures() -> None:
    samples = worker_metrics(_free_port())  # nothing listens there
    assert samples == {} and graph_write_seconds(samples) is None
