"""DistinctCounts: the per-partition counts the stats are built from, counted from their table
once per consumer generation, then kept up to date by the stage."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest
from faust.types import TableT

from tiegraph.streams.state import SCAN_CHUNK, DistinctCounts, rescanned


def _counts(table: dict[str, Any]) -> DistinctCounts:
    return DistinctCounts(cast(TableT[str, Any], table), lambda v: int(v["partition"]))


def test_new_keys_are_counted_when_noted_and_not_again_once_stored() -> None:
    table: dict[str, Any] = {"t|old": {"partition": 0}, "u|other": {"partition": 0}}
    counts = _counts(table)
    found = [counts.current("t", 0, "gen-1", new_key=True) for _ in ("t|a", "t|b")]
    table.update({"t|a": {"partition": 0}, "t|b": {"partition": 0}})  # the batch settles
    assert found == [2, 3]
    assert counts.current("t", 0, "gen-1", new_key=False) == 3  # an update of a known key
    assert counts.current("t", 1, "gen-1", new_key=True) == 1
    assert counts.current("u", 0, "gen-1", new_key=False) == 1


def test_a_new_consumer_generation_recounts_from_the_table() -> None:
    table: dict[str, Any] = {"t|a": {"partition": 0}}
    counts = _counts(table)
    assert counts.current("t", 0, "gen-1", new_key=True) == 2  # t|b, not stored yet
    table["t|b"] = {"partition": 0}
    assert counts.current("t", 0, "gen-2", new_key=False) == 2  # restored from the changelog


def test_one_scan_of_the_table_counts_every_slot() -> None:
    reads = 0

    class CountingTable(dict[str, Any]):
        def items(self) -> Any:
            nonlocal reads
            reads += 1
            return super().items()

    table = CountingTable({"t|a": {"partition": 0}, "t|b": {"partition": 1}, "u|a": {"partition": 1}})
    counts = _counts(table)
    found = [counts.current(tenant, partition, "gen-1", new_key=False) for tenant in "tuv" for partition in (0, 1)]
    assert found == [1, 1, 0, 1, 0, 0]
    assert reads == 1  # a rebalance costs one scan, not one per tenant and partition (RocksDB reads it from disk)


async def test_priming_lets_the_event_loop_run_during_a_long_scan() -> None:
    table = {f"t|{i}": {"partition": i % 2} for i in range(3 * SCAN_CHUNK)}
    counts, beats = _counts(table), 0

    async def heartbeat() -> None:
        nonlocal beats
        while True:
            beats += 1
            await asyncio.sleep(0)

    beating = asyncio.create_task(heartbeat())
    await asyncio.sleep(0)
    await counts.prime("gen-1")
    beating.cancel()
    assert beats >= 3  # the loop ran between chunks: a consumer's heartbeats go out
    assert counts.current("t", 0, "gen-1", new_key=False) == 3 * SCAN_CHUNK // 2
    table["t|x"] = {"partition": 0}
    await counts.prime("gen-1")  # counted in this generation: no second scan
    assert counts.current("t", 0, "gen-1", new_key=False) == 3 * SCAN_CHUNK // 2


class ReopenedOnce(dict[str, Any]):
    """A table whose first scan fails as a RocksDB iteration does when a rebalance opens a
    partition's database meanwhile."""

    scans = 0

    def items(self) -> Any:
        self.scans += 1
        if self.scans == 1:
            raise RuntimeError("dictionary changed size during iteration")
        return super().items()


async def test_a_scan_cut_by_a_rebalance_is_made_again_and_other_errors_are_not_swallowed() -> None:
    table = ReopenedOnce({"t|a": {"partition": 0}, "t|b": {"partition": 1}})
    counts = _counts(table)
    await counts.prime("gen-1")
    assert table.scans == 2 and counts.current("t", 0, "gen-1", new_key=False) == 1

    async def broken() -> None:
        raise RuntimeError("something else")

    with pytest.raises(RuntimeError, match="something else"):
        await rescanned(broken)
