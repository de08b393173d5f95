"""A quick smoke run of the query-latency harness (figures are printed, never asserted as timings)."""

from __future__ import annotations

import json

import pytest

from tests.stack import Stack

pytestmark = pytest.mark.integration

FIGURES = ("contacts", "who_knows", "paths")


def test_bench_queries_smoke_run_reports_every_figure(stack: Stack) -> None:
    args = ("bench-queries", "--people", "400", "--ties", "2000", "--requests", "20", "--json")
    figures = json.loads(stack.cli(*args, timeout=600).stdout.strip().splitlines()[-1])
    assert figures["ties"] == 2000 and 0 < figures["people"] <= 400
    assert figures["query_cache_warmup_s"] >= 0  # the graph is read into Neo4j's cache before the requests
    for name in FIGURES:
        assert 0 < figures[f"{name}_p50_ms"] <= figures[f"{name}_p99_ms"], name
    again = json.loads(stack.cli(*args, timeout=600).stdout.strip().splitlines()[-1])
    assert again["ties"] == 2000 and again["people"] == figures["people"]  # the graph is reused, not doubled
