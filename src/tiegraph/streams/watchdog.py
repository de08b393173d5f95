"""Stall detection: a partition with lag whose committed offset has not moved for too long.

A safety net: restarting the worker re-seeks every partition to its committed offset (the
supervisor in streams/worker.py does the restart). It was the only remedy for faust-streaming
0.15.3 acking records skipped across a rebalance, which streams/delivery.py now prevents.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from tiegraph.streams.lag import PartitionLag


@dataclass
class StallWatch:
    """Remembers when each partition's committed offset last moved."""

    stall_after_s: float
    _since: dict[tuple[str, int], tuple[int, float]] = field(default_factory=dict)

    def stalled(self, rows: Iterable[PartitionLag], owned: set[tuple[str, int]], now: float) -> list[PartitionLag]:
        """The owned partitions that have lag and made no progress for `stall_after_s`."""
        found = []
        for row in rows:
            key = (row.topic, row.partition)
            if key not in owned or row.lag == 0:
                self._since.pop(key, None)
                continue
            committed, since = self._since.get(key, (-1, now))
            if committed != row.committed:
                self._since[key] = (row.committed, now)
            elif now - since >= self.stall_after_s:
                found.append(row)
        return found

    def reset(self) -> None:
        """Forget progress (while a stage waits on purpose, e.g. for Neo4j to come back)."""
        self._since.clear()
