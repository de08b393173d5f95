"""Stall detection: a partition with lag whose committed offset has not moved for too long.

faust-streaming 0.15.3 mishandles records fetched before a rebalance and delivered after it: the
stream skips them (generation mismatch) and *acks* them (faust/streams.py, `_py_aiter`, "ack the
filtered out message"). Seen here as a partition that stops moving under load after a worker
joins or restarts; restarting the worker re-seeks every partition to its committed offset, which
heals the stall (the supervisor in streams/worker.py does the restart). Where the acked records
were committed past, they are lost: that is the known gap recorded in the reliability issue.
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
