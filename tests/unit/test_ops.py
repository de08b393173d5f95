"""Operations, the pure parts: freshness bookkeeping, the worker processes' heartbeats and
readiness, lag and dead-letter summaries, the page's escaping, the bounded history, and JSON logs
that carry tenant and mailbox."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import socket
import urllib.request
from collections.abc import Awaitable, Callable
from typing import Any, cast

import pytest
from prometheus_client import REGISTRY

from tiegraph.api.monitoring import OpsHistory, sample_of, set_report_gauges
from tiegraph.api.opspage import render_page
from tiegraph.core.model import TieModel
from tiegraph.core.records import Interaction
from tiegraph.core.ties import Tie, apply_interaction
from tiegraph.logs import log_context, setup_logging
from tiegraph.operations import (
    dead_letter_summary,
    format_lag_report,
    graph_freshness,
    stage_freshness,
    worker_readiness,
)
from tiegraph.settings import Settings
from tiegraph.streams import metrics
from tiegraph.streams.faust_app import write_heartbeats
from tiegraph.streams.lag import PartitionLag
from tiegraph.streams.metrics import GRAPH_WRITER, STREAM_STAGES, Freshness, percentile, serve_metrics

NOW = 1_800_000_000.0


def contact(source: str, origin_ms: int) -> Interaction:
    return Interaction(tenant="t", a="ann", b="bob", kind="to", weight=1.0, at=NOW, source=source, origin_ms=origin_ms)


def test_tie_update_carries_the_newest_origin_of_the_interactions_applied() -> None:
    tie = Tie.for_pair("t", "ann", "bob")
    apply_interaction(tie, contact("m2", 2_000), TieModel())
    apply_interaction(tie, contact("m1", 1_000), TieModel())  # arrived late: older origin
    assert tie.to_update()["origin_ms"] == 2_000
    assert Tie.from_state(tie.to_state()).origin_ms == 2_000


def test_a_replayed_interaction_does_not_move_the_origin() -> None:
    tie = Tie.for_pair("t", "ann", "bob")
    apply_interaction(tie, contact("m1", 1_000), TieModel())
    assert not apply_interaction(tie, contact("m1", 9_000), TieModel())
    assert tie.origin_ms == 1_000


def test_interaction_wire_form_keeps_origin_and_reads_records_without_it() -> None:
    interaction = contact("m1", 1_234)
    assert Interaction.from_dict(interaction.to_dict()).origin_ms == 1_234
    legacy = {k: v for k, v in interaction.to_dict().items() if k != "origin_ms"}
    assert Interaction.from_dict(legacy).origin_ms == 0


def test_freshness_measures_event_to_graph_delay_per_written_tie() -> None:
    freshness = Freshness()
    updates = [{"origin_ms": int((NOW - 4) * 1000)}, {"origin_ms": int((NOW - 2) * 1000)}, {"origin_ms": 0}]
    freshness.ties_written(updates, NOW)
    status = freshness.status()
    assert status["last_origin_ms"] == int((NOW - 2) * 1000)
    assert status["ties_written"] == 3  # the tie with no origin is written, just not timed
    assert status["delay_p50_s"] in (2.0, 4.0) and status["delay_p99_s"] == 4.0
    assert status["last_written_at"] == NOW


def test_percentile_by_nearest_rank() -> None:
    assert percentile([], 0.5) is None
    assert percentile([5.0], 0.99) == 5.0
    assert percentile([float(i) for i in range(101)], 0.99) == 99.0


def rows() -> list[PartitionLag]:
    return [
        PartitionLag("g", "p.mail.messages.v1", 0, 10, 15, 5),
        PartitionLag("g", "p.mail.messages.v1", 1, 7, 7, 0),
        PartitionLag("g", "p.interactions.v1", 0, 3, 3, 0),
    ]


def test_stage_freshness_is_the_wait_of_the_oldest_unprocessed_record() -> None:
    stages = stage_freshness(rows(), {("p.mail.messages.v1", 0): int((NOW - 30) * 1000)}, "p.", NOW)
    assert list(stages) == ["derive", "aggregate"]  # pipeline order
    assert stages["derive"] == {"topic": "p.mail.messages.v1", "lag": 5, "oldest_waiting_s": 30.0}
    assert stages["aggregate"] == {"topic": "p.interactions.v1", "lag": 0, "oldest_waiting_s": 0.0}


def test_graph_freshness_from_heartbeats() -> None:
    statuses = [
        {"heartbeat_at": NOW - 3, "last_origin_ms": int((NOW - 60) * 1000), "delay_p50_s": 1.0, "delay_p99_s": 2.0},
        {"heartbeat_at": NOW - 500, "last_origin_ms": int((NOW - 10) * 1000), "delay_p99_s": 99.0},
    ]
    graph = graph_freshness(statuses, NOW, max_age_s=30)
    assert graph["newest_origin_age_s"] == 10.0  # a stopped worker's writes are still in the graph
    assert graph["delay_p99_s"] == 2.0  # delays from the live worker
    assert graph["heartbeat_age_s"] == 3.0 and graph["workers_alive"] == 1
    assert graph["stage_workers_alive"] == 0  # heartbeats without a role are graph writers'
    assert graph_freshness([], NOW, 30) == {
        "newest_origin_ms": None,
        "newest_origin_age_s": None,
        "delay_p50_s": None,
        "delay_p99_s": None,
        "heartbeat_age_s": None,
        "workers_alive": 0,
        "stage_workers_alive": 0,
    }


def beat(role: str | None, age_s: float, **fields: object) -> dict[str, object]:
    """A (:WorkerStatus) as read back, `age_s` old; role None = a worker from before roles."""
    status: dict[str, object] = {"id": f"host:{role}", "app_id": "app", "heartbeat_at": NOW - age_s, **fields}
    return status if role is None else {**status, "role": role}


def test_graph_freshness_counts_each_process_and_times_only_the_graph_writers() -> None:
    statuses = [
        beat("streams", 1),  # newest first, as Neo4j returns them
        beat("graph", 2, last_origin_ms=int((NOW - 20) * 1000), delay_p99_s=3.0),
        beat("streams", 4),
        beat("streams", 400),
    ]
    graph = graph_freshness(statuses, NOW, max_age_s=30)
    assert graph["workers_alive"] == 1 and graph["stage_workers_alive"] == 2
    assert graph["heartbeat_age_s"] == 2.0  # the graph writer's, not the newer stage heartbeat
    assert graph["delay_p99_s"] == 3.0 and graph["newest_origin_age_s"] == 20.0


def test_the_worker_is_ready_when_both_processes_beat() -> None:
    assert worker_readiness([beat("streams", 5), beat("graph", 3)], NOW, 30, write_stuck_s=30) == "ok"
    # a worker from before roles wrote its graph writer's heartbeat without one
    assert worker_readiness([beat(None, 3), beat("streams", 5)], NOW, 30, write_stuck_s=30) == "ok"


@pytest.mark.parametrize(
    ("statuses", "says"),
    [
        ([beat(None, 3)], "no stream-stage heartbeat yet"),  # workers from before roles: no stage heartbeat
        ([beat("graph", 3)], "no stream-stage heartbeat yet"),
        ([beat("streams", 3)], "no graph-writer heartbeat yet"),
        ([beat("graph", 3), beat("streams", 41)], "newest stream-stage heartbeat is 41 s old (required within 30 s)"),
        ([beat("streams", 3), beat("graph", 41)], "newest graph-writer heartbeat is 41 s old (required within 30 s)"),
    ],
)
def test_the_worker_is_not_ready_and_says_which_process_is_missing_or_stale(
    statuses: list[dict[str, object]], says: str
) -> None:
    message = worker_readiness(statuses, NOW, 30, write_stuck_s=30)
    assert says in message and "heartbeat" in message


def test_a_stopped_worker_is_reported_for_both_processes() -> None:
    message = worker_readiness([beat("graph", 50), beat("streams", 45)], NOW, 30, write_stuck_s=30)
    assert message == (
        "newest graph-writer heartbeat is 50 s old (required within 30 s); "
        "newest stream-stage heartbeat is 45 s old (required within 30 s)"
    )
    assert worker_readiness([], NOW, 30, write_stuck_s=30).count("heartbeat yet") == 2


def test_a_live_graph_writer_waiting_on_neo4j_makes_the_worker_unready() -> None:
    stuck = beat("graph", 3, write_waiting_s=37.0, write_error="Neo4j busy")
    assert worker_readiness([stuck, beat("streams", 2)], NOW, 30, write_stuck_s=30) == (
        "worker host:graph: a graph write has waited 37 s for Neo4j (Neo4j busy)"
    )
    gone = beat("graph", 90, write_waiting_s=37.0)  # a dead writer's last word does not count
    assert worker_readiness([beat("graph", 3), gone, beat("streams", 2)], NOW, 30, write_stuck_s=30) == "ok"


async def test_each_worker_process_writes_its_own_heartbeat_with_its_role() -> None:
    """The stream stages and the graph writer start the same heartbeat loop; only the graph
    writer's carries its freshness figures."""
    written: list[dict[str, Any]] = []
    loops: list[Callable[[], Awaitable[None]]] = []

    class Graph:
        async def write_worker_status(self, status: dict[str, Any]) -> None:
            written.append(status)

    class App:
        def task(self, loop: Callable[[], Awaitable[None]]) -> None:
            loops.append(loop)

    settings = Settings(app_id="app")
    write_heartbeats(cast(Any, App()), settings, cast(Any, Graph()), STREAM_STAGES)
    write_heartbeats(cast(Any, App()), settings, cast(Any, Graph()), GRAPH_WRITER, lambda: {"ties_written": 7})
    running = [asyncio.ensure_future(loop()) for loop in loops]
    try:
        for _ in range(100):
            if len(written) >= 2:  # the first beat is at start-up
                break
            await asyncio.sleep(0.01)
    finally:
        for task in running:
            task.cancel()
    stages, writer = sorted(written, key=lambda status: status["role"] == GRAPH_WRITER)
    assert stages.keys() == {"id", "app_id", "role", "heartbeat_at"} and stages["role"] == STREAM_STAGES
    assert writer["role"] == GRAPH_WRITER and writer["ties_written"] == 7
    assert stages["app_id"] == writer["app_id"] == "app"


def test_the_stage_processes_alive_gauge_follows_the_report() -> None:
    set_report_gauges({**lag_doc(), "graph": {"workers_alive": 1, "stage_workers_alive": 2}})
    assert REGISTRY.get_sample_value("tiegraph_stage_workers_alive") == 2
    assert REGISTRY.get_sample_value("tiegraph_workers_alive") == 1


def test_dead_letter_summary_counts_reasons_and_keeps_the_newest() -> None:
    letters = [{"stage": "import", "reason": "no headers"}] * 3 + [{"stage": "derive", "reason": "undecodable"}]
    summary = dead_letter_summary(letters, latest=2)
    assert summary["read"] == 4
    assert summary["reasons"][0] == {"stage": "import", "reason": "no headers", "count": 3}
    assert len(summary["latest"]) == 2


def lag_doc() -> dict[str, object]:
    return {
        "at": NOW,
        "total_lag": 5,
        "topics": {},
        "partitions": [],
        "stages": {"derive": {"topic": "mail.messages.v1", "lag": 5, "oldest_waiting_s": 30.0}},
        "graph": graph_freshness([], NOW, 30),
    }


def test_history_is_bounded_and_samples_are_compact() -> None:
    history = OpsHistory(max_samples=3)
    for i in range(5):
        history.add({**sample_of(lag_doc()), "at": NOW + i})
    samples = history.samples()
    assert [s["at"] for s in samples] == [NOW + 2, NOW + 3, NOW + 4]
    assert samples[0]["lag"] == {"derive": 5} and samples[0]["oldest_waiting_s"] == 30.0


def test_lag_report_in_words_names_every_stage() -> None:
    text = format_lag_report(lag_doc())
    assert text.startswith("total lag: 5")
    assert "derive" in text and "oldest waiting 30.0s" in text
    assert "graph writers alive 0" in text and "stream-stage processes alive 0" in text


def test_ops_page_escapes_what_mailboxes_and_dead_letters_say() -> None:
    mailbox = {"tenant": "t", "id": "m1", "owner": "<b>x</b>", "provider": "imap", "state": "error"}
    mailbox |= {"last_error": "<script>alert(1)</script>", "messages": 3, "events": 0}
    letters = dead_letter_summary([{"stage": "import", "reason": "<img src=x>", "at_ms": NOW * 1000}])
    page = render_page(lag_doc(), None, [mailbox], letters, None, NOW)
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    assert "<img src=x>" not in page
    assert 'id="lag-chart"' in page and "state-error" in page
    assert "stream-stage processes alive 0" in page


def test_json_logs_carry_tenant_and_mailbox() -> None:
    out = io.StringIO()
    setup_logging(logging.INFO, stream=out, json_lines=True)
    try:
        with log_context(tenant="acme", mailbox="ann@acme.com"):
            logging.getLogger("tiegraph.test").info("synced %d messages", 3, extra={"provider": "imap"})
        logging.getLogger("tiegraph.test").warning("outside")
    finally:
        logging.getLogger().handlers.clear()
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["message"] == "synced 3 messages" and first["level"] == "info"
    assert (first["tenant"], first["mailbox"], first["provider"]) == ("acme", "ann@acme.com", "imap")
    assert (second["tenant"], second["mailbox"]) == ("", "")


def test_a_taken_metrics_port_does_not_stop_the_worker(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        serve_metrics(taken.getsockname()[1], STREAM_STAGES)
    assert "worker metrics not served" in caplog.text


def _scrape(port: int, query: str = "") -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics{query}", timeout=5) as response:
        return str(response.read().decode())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_each_worker_process_exports_only_the_metrics_it_moves() -> None:
    metrics.count_processed("derive", 3)
    with metrics.timed_graph_write("ties", 7):
        pass
    stages, writer = _free_port(), _free_port()
    serve_metrics(stages, STREAM_STAGES)
    serve_metrics(writer, GRAPH_WRITER)
    seen_by_stages, seen_by_writer = _scrape(stages), _scrape(writer)
    # both count records and lag; the graph writes (and their zero copies) only on the writer's port
    for text in (seen_by_stages, seen_by_writer):
        assert 'tiegraph_records_processed_total{stage="derive"}' in text and "process_cpu_seconds" in text
    for name in (
        "tiegraph_graph_rows_written_total",
        "tiegraph_graph_write_seconds",
        "tiegraph_event_to_graph_seconds",
    ):
        assert name not in seen_by_stages and name in seen_by_writer
    assert "tiegraph_graph_last_write_timestamp_seconds" in seen_by_writer
    # a scrape asking for some series gets those the process exports, and no more
    asked = "?name[]=tiegraph_graph_rows_written_total&name[]=tiegraph_records_processed_total"
    assert "tiegraph_graph_rows_written_total" not in _scrape(stages, asked)
    assert "tiegraph_records_processed_total" in _scrape(stages, asked)
    assert 'tiegraph_graph_rows_written_total{kind="ties"}' in _scrape(writer, asked)
