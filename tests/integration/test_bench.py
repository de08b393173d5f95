"""A quick smoke run of the benchmark harness (figures are printed, never asserted as timings)."""

from __future__ import annotations

import json

import pytest

from tests.stack import Stack

pytestmark = pytest.mark.integration


def test_bench_smoke_run_reports_every_figure(stack: Stack) -> None:
    result = stack.cli("bench", "--messages", "1500", "--people", "80", "--json", timeout=600)
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["messages"] == 1500 and figures["ties"] > 50
    for name in (
        "throughput_msgs_per_s",
        "kafka_consume_limit_msgs_per_s",
        "neo4j_write_limit_ties_per_s",
        "worker_rss_mb",
    ):
        assert figures[name] > 0, name
    assert figures["pipeline_vs_limit"] > 0
    assert "pipeline vs lower limit" in result.stdout
