"""DistinctCounts: the per-partition counts the stats are built from, whatever order a stage
writes its table and notes its keys in."""

from __future__ import annotations

from typing import Any, cast

from faust.types import TableT

from tiegraph.streams.state import DistinctCounts


def _counts(table: dict[str, Any]) -> DistinctCounts:
    return DistinctCounts(cast(TableT[str, Any], table), lambda v: int(v["partition"]))


def test_keys_noted_one_by_one_after_each_write_are_counted_once() -> None:
    table: dict[str, Any] = {"t|old": {"partition": 0}}
    counts = _counts(table)
    found = []
    for key in ("t|a", "t|b", "t|c"):
        table[key] = {"partition": 0}
        found.append(counts.current("t", 0, "gen-1", new_key=True))
    assert found == [2, 3, 4]


def test_a_batch_written_before_it_is_noted_is_counted_once_when_primed_first() -> None:
    table: dict[str, Any] = {"t|old": {"partition": 0}, "u|other": {"partition": 0}}
    counts = _counts(table)
    assert counts.prime("gen-1") is False  # counted from the table as it was: 1
    table.update({"t|a": {"partition": 0}, "t|b": {"partition": 0}, "t|c": {"partition": 1}})
    assert [counts.current("t", 0, "gen-1", new_key=True) for _ in range(2)] == [2, 3]
    assert counts.current("t", 0, "gen-1", new_key=False) == 3  # an update of a known key
    assert counts.current("t", 1, "gen-1", new_key=True) == 1  # t|c: written after the count
    assert counts.current("u", 0, "gen-1", new_key=False) == 1


def test_a_new_consumer_generation_recounts_from_the_table() -> None:
    table: dict[str, Any] = {"t|a": {"partition": 0}}
    counts = _counts(table)
    assert counts.current("t", 0, "gen-1", new_key=True) == 1
    table["t|b"] = {"partition": 0}
    assert counts.current("t", 0, "gen-2", new_key=True) == 2


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
