"""The stall watchdog: only owned partitions with lag and no progress for long enough."""

from __future__ import annotations

from tiegraph.streams.lag import PartitionLag, compute_lag, summarize
from tiegraph.streams.watchdog import StallWatch


def row(partition: int, committed: int, end: int) -> PartitionLag:
    return PartitionLag("g", "mail.messages.v1", partition, committed, end, end - committed)


def test_a_partition_that_stops_moving_with_lag_is_stalled() -> None:
    watch, owned = StallWatch(stall_after_s=30), {("mail.messages.v1", 0), ("mail.messages.v1", 1)}
    assert watch.stalled([row(0, 10, 50), row(1, 5, 5)], owned, now=0) == []
    assert watch.stalled([row(0, 10, 50), row(1, 5, 5)], owned, now=29) == []
    assert watch.stalled([row(0, 10, 50), row(1, 5, 9)], owned, now=31) == [row(0, 10, 50)]


def test_progress_unowned_partitions_and_reset_are_not_stalls() -> None:
    watch = StallWatch(stall_after_s=30)
    owned = {("mail.messages.v1", 0)}
    watch.stalled([row(0, 10, 50), row(2, 1, 50)], owned, now=0)
    assert watch.stalled([row(0, 11, 50), row(2, 1, 50)], owned, now=40) == []  # it moved; 2 is not ours
    watch.reset()
    assert watch.stalled([row(0, 11, 50)], owned, now=60) == []


def test_lag_counts_everything_retained_where_nothing_was_committed() -> None:
    from aiokafka import TopicPartition

    tp0, tp1 = TopicPartition("t", 0), TopicPartition("t", 1)
    rows = compute_lag("g", {tp0: 7}, {tp0: 0, tp1: 3}, {tp0: 10, tp1: 8})
    assert [(r.partition, r.committed, r.lag) for r in rows] == [(0, 7, 3), (1, 3, 5)]
    assert summarize(rows)["total_lag"] == 8
