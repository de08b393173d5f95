"""The bench's time split (bench/cpu.py): process CPU from /proc and a worker's own write figures
read back from its Prometheus endpoint."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

from prometheus_client import start_http_server

from tiegraph.bench.cpu import (
    cpu_now,
    cpu_seconds,
    cpu_since,
    engine_pids,
    graph_write_seconds,
    last_graph_write,
    worker_metrics,
)
from tiegraph.bench.pipeline import describe_time_split, settled_seconds
from tiegraph.services.local import port_open
from tiegraph.settings import Settings
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


GONE = 2**22 + 12345  # above the kernel's pid limit: never a live process


def test_a_process_gone_during_the_span_has_no_figure_rather_than_a_wrong_one() -> None:
    assert cpu_seconds(GONE) is None
    me = os.getpid()
    before = cpu_now([me], {"neo4j": me})
    used = cpu_since(before, [me, GONE], {"neo4j": GONE})  # a restarted worker, a restarted engine
    assert used == {"worker": None, "neo4j": None}


def test_engines_count_only_where_the_settings_point_at_this_machine(tmp_path: Path) -> None:
    remote = Settings(home=tmp_path, kafka_bootstrap="kafka.example.net:9092", neo4j_uri="bolt://db.example.net:7687")
    assert engine_pids(remote) == {}  # nothing runs from this home either; and it would not count


def test_the_time_split_reads_n_a_for_figures_it_could_not_take() -> None:
    result = {
        "pipeline_s": 12.5,
        "pipeline_worker_cpu_s": 9.5,
        "pipeline_neo4j_cpu_s": None,
        "pipeline_kafka_cpu_s": None,
        "pipeline_graph_write_s": 7.25,
    }
    split = describe_time_split(result)
    assert "worker 9.5 s" in split and "Neo4j n/a" in split and "waited 7.25 s" in split
    assert "stages n/a, graph writer n/a" in split  # the processes' figures apart: not given either
    assert "per message" not in split  # no figure given


def test_the_time_split_says_what_the_stages_cpu_per_message_allows() -> None:
    result = {
        "pipeline_s": 12.5,
        "pipeline_worker_cpu_s": 12.5,
        "pipeline_stages_cpu_s": 10.0,
        "pipeline_writer_cpu_s": 2.5,
        "pipeline_neo4j_cpu_s": 6.0,
        "pipeline_kafka_cpu_s": 1.0,
        "pipeline_graph_write_s": 7.25,
        "pipeline_worker_cpu_us_per_msg": 250.0,
        "pipeline_stages_cpu_us_per_msg": 200.0,
    }
    split = describe_time_split(result)
    assert "worker 12.5 s (stages 10.0 s, graph writer 2.5 s)" in split
    assert split.endswith("200 µs of the stages' CPU per message: at most 5,000 msgs/s on their one core")


def test_a_workers_graph_write_time_is_read_from_its_metrics() -> None:
    port = _free_port()
    start_http_server(port, addr="127.0.0.1")
    before = graph_write_seconds(worker_metrics(port)) or 0.0
    with metrics.timed_graph_write("ties", 10):
        time.sleep(0.05)
    samples = worker_metrics(port)
    assert (graph_write_seconds(samples) or 0.0) - before >= 0.05
    assert samples['tiegraph_graph_rows_written_total{kind="ties"}'] >= 10


def test_a_workers_last_graph_write_is_when_the_write_landed() -> None:
    port = _free_port()
    start_http_server(port, addr="127.0.0.1")
    before = time.time()
    with metrics.timed_graph_write("counters", 1):
        time.sleep(0.05)
    landed = last_graph_write(worker_metrics(port))
    assert landed is not None and before + 0.05 <= landed <= time.time()


def test_a_run_is_timed_to_its_last_graph_write_not_to_its_last_commit() -> None:
    # two writers; the later write settles the graph, 9.5 s after the start (lag 0 came at 10.4 s)
    assert settled_seconds(1000.0, 10.4, [1008.0, 1009.5]) == 9.5
    # a writer without figures (metrics off, or restarted): lag 0 stands in
    assert settled_seconds(1000.0, 10.4, [1009.5, None]) == 10.4
    assert settled_seconds(1000.0, 10.4, []) == 10.4
    # never past lag 0 (a clock stepped meanwhile)
    assert settled_seconds(1000.0, 10.4, [1020.0]) == 10.4
    # a write from before the start is not this run's (another worker answered on the port)
    assert settled_seconds(1000.0, 10.4, [990.0]) == 10.4


def test_a_worker_without_metrics_has_no_figures() -> None:
    port = _free_port()
    assert not port_open("127.0.0.1", port)
    samples = worker_metrics(port)  # nothing listens there
    assert samples == {} and graph_write_seconds(samples) is None and last_graph_write(samples) is None
    assert worker_metrics(0) == {}  # metrics switched off


def test_a_taken_port_is_not_free() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        assert port_open("127.0.0.1", sock.getsockname()[1])
