"""Warm paths: best-first search agrees with brute force on random small graphs."""

from __future__ import annotations

import itertools
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from tiegraph.core.paths import Path, strongest_paths, undirected

NODES = [f"n{i}" for i in range(7)]


def brute_force(
    adjacency: dict[str, dict[str, float]], sources: set[str], targets: set[str], max_hops: int
) -> list[float]:
    """Every allowed simple path, enumerated; their strengths, strongest first."""
    found = []
    starts = sources - targets
    for length in range(1, max_hops + 1):
        for middle in itertools.permutations(NODES, length - 1):
            for s in starts:
                for t in targets:
                    people = (s, *middle, t)
                    if len(set(people)) != len(people):
                        continue
                    if any(p in starts or p in targets for p in middle):
                        continue
                    pairs = list(itertools.pairwise(people))
                    if all(b in adjacency.get(a, {}) for a, b in pairs):
                        found.append(math.prod(adjacency[a][b] for a, b in pairs))
    return sorted(found, reverse=True)


edges = st.lists(st.tuples(st.sampled_from(NODES), st.sampled_from(NODES), st.floats(0.01, 1.0)), max_size=18)


@settings(max_examples=300, deadline=None)
@given(
    edges=edges,
    sources=st.sets(st.sampled_from(NODES), min_size=1, max_size=3),
    targets=st.sets(st.sampled_from(NODES), min_size=1, max_size=3),
    k=st.integers(1, 5),
    max_hops=st.integers(1, 4),
)
def test_k_strongest_paths_match_brute_force(
    edges: list[tuple[str, str, float]], sources: set[str], targets: set[str], k: int, max_hops: int
) -> None:
    adjacency = undirected(edges)
    paths = strongest_paths(adjacency, sources, targets, k=k, max_hops=max_hops)
    expected = brute_force(adjacency, sources, targets, max_hops)[:k]
    assert len(paths) == len(expected)
    assert all(math.isclose(p.strength, s, rel_tol=1e-9) for p, s in zip(paths, expected, strict=True))
    for path in paths:
        assert path.people[0] in sources and path.people[-1] in targets
        assert len(set(path.people)) == len(path.people) and 1 <= len(path.hops) <= max_hops
        assert path.hops == tuple(adjacency[a][b] for a, b in itertools.pairwise(path.people))
    assert len({p.people for p in paths}) == len(paths)


def test_the_strongest_chain_wins_over_the_shortest() -> None:
    # me -> ann -> target is 0.9 * 0.9 = 0.81; the direct tie is only 0.5.
    adjacency = undirected([("me", "target", 0.5), ("me", "ann", 0.9), ("ann", "target", 0.9)])
    paths = strongest_paths(adjacency, {"me"}, {"target"}, k=3)
    assert paths == [Path(("me", "ann", "target"), (0.9, 0.9)), Path(("me", "target"), (0.5,))]


def test_max_hops_bounds_the_chain() -> None:
    adjacency = undirected([("me", "a", 1.0), ("a", "b", 1.0), ("b", "c", 1.0), ("c", "t", 1.0)])
    assert strongest_paths(adjacency, {"me"}, {"t"}, max_hops=3) == []
    assert [p.people for p in strongest_paths(adjacency, {"me"}, {"t"}, max_hops=4)] == [("me", "a", "b", "c", "t")]
