"""Who knows a target, warm paths to it and account coverage: graph reads + pure core + views.

Path search fetches a bounded neighbourhood: a beam grown from the target side, at most `fanout`
strongest ties per person and `beam` people per level, ranked by the exact strength at `as_of`
computed in Cypher; then closing ties to our people. core/paths.py searches it exactly, and each
chosen hop is re-scored in Python from the stored tie (the same formula) with its evidence.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterable
from dataclasses import dataclass

from tiegraph.api.schemas_network import Acquaintance, Connector, Hop, Knower, WarmPath, WhiteSpace
from tiegraph.api.views import explain, person_view
from tiegraph.core.model import TieModel
from tiegraph.core.paths import Adjacency, Path, strongest_paths, undirected
from tiegraph.graph.neo4j import GraphStore
from tiegraph.graph.network import Edge

FANOUT = 25  # strongest ties followed per person
BEAM = 100  # people kept per level, by the strength of their best chain to the target
LEVEL_BUDGET = 1000  # ties kept per level: many targets (an organisation) each keep fewer
CLOSING_FANOUT = 5  # ties to our own people looked up per person at the edge of the beam


@dataclass(frozen=True, slots=True)
class Ask:
    graph: GraphStore
    tenant: str
    model: TieModel
    now: float


async def _beam(
    ask: Ask, targets: list[str], depth: int, ours: set[str], through_ours: bool
) -> tuple[list[Edge], list[str]]:
    """Ties around the targets out to `depth`, keeping the most promising people at each level.
    Unless `through_ours` (a named starting person), our own people are starting points and are
    not expanded: a path never passes through one (core/paths.py). Returns the ties and the
    outermost level reached."""
    best = dict.fromkeys(targets, 1.0)
    frontier, edges = list(targets), []
    for _ in range(depth):
        fanout = max(2, min(FANOUT, LEVEL_BUDGET // max(len(frontier), 1)))
        level = await ask.graph.strongest_neighbours(ask.tenant, frontier, ask.model, ask.now, fanout)
        edges += level
        reached: dict[str, float] = {}
        for x, y, internal, s in level:
            if internal:
                ours.add(y)
            if y not in best:
                reached[y] = max(reached.get(y, 0.0), best[x] * s)
        best.update(reached)
        candidates = [p for p in reached if through_ours or p not in ours]
        if not candidates:
            break
        frontier = sorted(candidates, key=lambda p: -reached[p])[:BEAM]
    return edges, frontier


def _best_chains(adjacency: Adjacency, targets: list[str], hops: int, ours: set[str]) -> dict[str, float]:
    """Each person's strongest chain to a target, at most `hops` ties long and never through one
    of ours (as core/paths.py searches): relaxed out from the targets one tie at a time. A walk
    that repeats someone is never stronger than the path without the loop."""
    starts = set(targets)
    best = dict.fromkeys(targets, 1.0)
    current = dict(best)
    for _ in range(hops):
        improved: dict[str, float] = {}
        for person, chain in current.items():
            if person in ours and person not in starts:
                continue
            for other, strength in adjacency.get(person, {}).items():
                if chain * strength > best.get(other, 0.0):
                    best[other] = improved[other] = chain * strength
        current = improved
    return best


def _worth_closing(
    edges: list[Edge], last: list[str], ours: set[str], targets: list[str], k: int, max_hops: int
) -> list[str]:
    """The outermost level's people that need their ties to our people fetched: not ours, and with
    a chain to a target at least as strong as the k-th strongest chain already found. Exact: a
    closing tie (strength at most 1) leads to one of ours, where a chain starts, so the chains on
    from these people use only the ties fetched so far."""
    outside = sorted(p for p in last if p not in ours)
    if not outside:
        return []
    adjacency, sources = undirected((a, b, s) for a, b, _, s in edges), ours | {e[1] for e in edges if e[2]}
    found = strongest_paths(adjacency, sources, targets, k=k, max_hops=max_hops)
    if len(found) < k:
        return outside
    floor = found[-1].strength * (1 - 1e-9)  # rounding margin: an equal chain may come first by address
    best = _best_chains(adjacency, targets, max_hops - 1, sources)
    return [p for p in outside if best.get(p, 0.0) >= floor]


async def find_paths(ask: Ask, targets: list[str], source: str | None, k: int, max_hops: int) -> list[Path]:
    """The k strongest chains from our people (or `source`) to any of `targets`."""
    ours: set[str] = set()
    edges, last = await _beam(ask, targets, max_hops - 1, ours, through_ours=source is not None)
    if source is not None:
        reached = {e[0] for e in edges} | {e[1] for e in edges} | set(targets)
        edges += await ask.graph.ties_between_sets(ask.tenant, [source], sorted(reached), ask.model, ask.now)
        sources = {source}
    else:
        # Earlier levels already brought each person's strongest ties, ours among them; only the
        # outermost level still needs its ties to our people, and only where a chain through
        # them could still be among the k strongest.
        outside = _worth_closing(edges, last, ours, targets, k, max_hops)
        edges += await ask.graph.strongest_neighbours(
            ask.tenant, outside, ask.model, ask.now, CLOSING_FANOUT, internal_only=True
        )
        sources = ours | {e[1] for e in edges if e[2]}
    adjacency = undirected((a, b, s) for a, b, _, s in edges)
    return strongest_paths(adjacency, sources, targets, k=k, max_hops=max_hops)


async def explain_paths(ask: Ask, paths: list[Path]) -> list[WarmPath]:
    """Each path with its people and each hop re-scored and explained from the stored tie."""
    if not paths:
        return []
    pairs = {(a, b) for p in paths for a, b in itertools.pairwise(p.people)}
    ties, people = await asyncio.gather(  # two independent reads: one wait instead of two
        ask.graph.ties_of_pairs(ask.tenant, pairs), ask.graph.people(ask.tenant, {e for p in paths for e in p.people})
    )
    views = []
    for path in paths:
        hops = []
        for a, b in itertools.pairwise(path.people):
            score, evidence = explain(ties[(a, b)], a, ask.now, ask.model)
            hops.append(Hop(a=a, b=b, strength=score.strength, band=score.band, evidence=evidence))
        strength = 1.0
        for hop in hops:
            strength *= hop.strength
        views.append(WarmPath(people=[person_view(people[e]) for e in path.people], strength=strength, hops=hops))
    views.sort(key=lambda v: -v.strength)  # re-scored values equal the searched ones; keep the order honest
    return views


async def who_knows(ask: Ask, target: str, is_domain: bool, limit: int) -> list[Knower]:
    """Our people with a tie to the target (a person or anyone at a domain), strongest first."""
    knowers: dict[str, Knower] = {}
    for row, tie in await ask.graph.who_knows(ask.tenant, target, is_domain, ask.model, ask.now, limit):
        score, evidence = explain(tie, row["email"], ask.now, ask.model)
        via = Acquaintance(
            email=row["target"], name=row["target_name"], strength=score.strength, band=score.band, evidence=evidence
        )
        knower = knowers.setdefault(
            row["email"],
            Knower(email=row["email"], name=row["name"], strength=0.0, band="weak", knows=row["knows"], via=[]),
        )
        knower.via.append(via)
        if via.strength >= knower.strength:
            knower.strength, knower.band = via.strength, via.band
    for knower in knowers.values():
        knower.via.sort(key=lambda a: (-a.strength, a.email))
    return sorted(knowers.values(), key=lambda kn: (-kn.strength, -kn.knows, kn.email))


def coverage_of(
    members: Iterable[str], names: dict[str, str], ties: list[tuple[str, str, float]], model: TieModel
) -> tuple[list[Connector], list[WhiteSpace], int]:
    """(connectors by how much of the account they cover, white space, members strongly covered)
    from (our person, member, strength) ties."""
    by_connector: dict[str, list[float]] = {}
    best: dict[str, tuple[float, str | None]] = {m: (0.0, None) for m in members}
    for ours, member, strength in ties:
        by_connector.setdefault(ours, []).append(strength)
        if strength > best.get(member, (0.0, None))[0]:
            best[member] = (strength, ours)
    connectors = [
        Connector(
            email=email,
            name=names.get(email, ""),
            members_known=len(strengths),
            strong=sum(s >= model.strong_at for s in strengths),
            known=sum(model.known_at <= s < model.strong_at for s in strengths),
            best_strength=max(strengths),
            total_strength=sum(strengths),
        )
        for email, strengths in by_connector.items()
    ]
    connectors.sort(key=lambda c: (-c.total_strength, c.email))
    white = [
        WhiteSpace(email=m, name=names.get(m, ""), best_strength=s, best_connector=c)
        for m, (s, c) in best.items()
        if s < model.strong_at
    ]
    white.sort(key=lambda w: (-w.best_strength, w.email))
    covered = sum(s >= model.strong_at for s, _ in best.values())
    return connectors, white, covered
