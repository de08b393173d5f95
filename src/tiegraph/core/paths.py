"""Warm paths: the k strongest simple chains of introductions, pure and bounded.

A chain's strength is the product of its ties' strengths, so the strongest chain is the shortest
path on -ln s. Edges come from a bounded neighbourhood the graph adapter fetched; this module
never sees a database. Best-first search over partial paths pops them in cost order (costs are
non-negative), so the first k complete paths popped are the k best.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

Adjacency = Mapping[str, Mapping[str, float]]  # person -> neighbour -> strength in (0, 1]


@dataclass(frozen=True, slots=True)
class Path:
    people: tuple[str, ...]  # source first, target last
    hops: tuple[float, ...]  # strength of each consecutive tie

    @property
    def strength(self) -> float:
        return math.prod(self.hops)


def undirected(edges: Iterable[tuple[str, str, float]]) -> dict[str, dict[str, float]]:
    """Adjacency from (a, b, strength) ties; non-positive strengths are not a way through."""
    adjacency: dict[str, dict[str, float]] = {}
    for a, b, strength in edges:
        if strength > 0 and a != b:
            adjacency.setdefault(a, {})[b] = min(strength, 1.0)
            adjacency.setdefault(b, {})[a] = min(strength, 1.0)
    return adjacency


def strongest_paths(
    adjacency: Adjacency,
    sources: Iterable[str],
    targets: Iterable[str],
    k: int = 3,
    max_hops: int = 3,
) -> list[Path]:
    """The k strongest simple paths from any source to any target, at most `max_hops` ties long.

    A path ends at the first target it reaches and never passes through another source: a chain
    that starts at one of our people and goes through another is beaten by starting at the second.
    A source that is itself a target is not a path (nobody needs an introduction to themselves).
    """
    target_set = set(targets)
    source_set = set(sources) - target_set
    heap: list[tuple[float, tuple[str, ...], tuple[float, ...]]] = [(0.0, (s,), ()) for s in sorted(source_set)]
    heapq.heapify(heap)
    found: list[Path] = []
    while heap and len(found) < k:
        cost, people, hops = heapq.heappop(heap)
        last = people[-1]
        if last in target_set:
            found.append(Path(people, hops))
            continue
        if len(hops) >= max_hops:
            continue
        for neighbour, strength in adjacency.get(last, {}).items():
            if neighbour in people or (neighbour in source_set) or strength <= 0:
                continue
            if len(hops) + 1 < max_hops or neighbour in target_set:  # the last hop must land on a target
                heapq.heappush(heap, (cost - math.log(strength), (*people, neighbour), (*hops, strength)))
    return found
