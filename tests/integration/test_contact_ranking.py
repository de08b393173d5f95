"""A person's strongest contacts ranked over the ties with the highest strength bounds only
(graph/network.py) equal the ranking over all their ties, on the real Neo4j."""

from __future__ import annotations

from typing import Any

import pytest

from tiegraph.core.model import DAY, TieModel
from tiegraph.graph import cypher_network as q
from tiegraph.graph import network
from tiegraph.graph.neo4j import GraphStore, tie_row
from tiegraph.graph.network import strength_params
from tiegraph.synth.network import generate_population, generate_ties

pytestmark = pytest.mark.integration

TENANT = "contact-ranking"
HOME = "ranking-home.com"
WRITTEN_AT = 1_800_000_000.0
MODEL = TieModel()


async def _write_graph(graph: GraphStore) -> list[str]:
    """A generated graph; the busiest people (hundreds of ties each), busiest first."""
    population = generate_population(600, seed=3, home_domain=HOME)
    if (await graph.stats(TENANT))["ties"] == 0:
        rows = [tie_row(update, (HOME,)) for update in generate_ties(population, 6000, TENANT, WRITTEN_AT)]
        for start in range(0, len(rows), 2000):
            await graph.write_ties(rows[start : start + 2000])
    people = await graph.people(TENANT, population.emails[:60])
    return sorted(people, key=lambda e: -people[e]["ties"])[:4]


async def _exact(graph: GraphStore, email: str, now: float, limit: int) -> list[tuple[str, float]]:
    rows = await graph._read_rows(
        q.STRONGEST_CONTACTS,
        tenant=TENANT,
        email=email,
        limit=limit,
        group_min=MODEL.group_min_correspondents,
        **strength_params(MODEL, now),
    )
    return [(r["email"], r["tie"]["interactions"]) for r in rows]


@pytest.mark.parametrize("later_days", [0, 30, 400, -200])  # -200: asked about a moment before the ties' reference
async def test_ranking_among_the_best_bounds_equals_ranking_all_ties(
    graph: GraphStore, monkeypatch: pytest.MonkeyPatch, later_days: int
) -> None:
    busiest = await _write_graph(graph)
    monkeypatch.setattr(network, "CONTACT_CANDIDATES", 30)  # few candidates: the bound must do the work
    queries: list[str] = []
    read = graph._read

    async def spy(query: Any, **params: Any) -> list[dict[str, Any]]:
        queries.append(query)
        return await read(query, **params)

    monkeypatch.setattr(graph, "_read", spy)
    now = WRITTEN_AT + later_days * DAY
    for email in busiest:
        for limit in (1, 5):
            found = await graph.strongest_contacts(TENANT, email, MODEL, now, limit)
            assert [(r["email"], r["tie"]["interactions"]) for r, _ in found] == await _exact(graph, email, now, limit)
    bounded = queries.count(q.STRONGEST_CONTACTS_BOUNDED)
    assert bounded == 8
    assert queries.count(q.STRONGEST_CONTACTS) - 8 < bounded  # most answers needed no full ranking


@pytest.mark.parametrize(("internal_only", "min_strength"), [(False, 0.0), (False, 0.5), (True, 0.0)])
async def test_path_search_neighbourhoods_among_the_best_bounds_equal_those_over_all_ties(
    graph: GraphStore, monkeypatch: pytest.MonkeyPatch, internal_only: bool, min_strength: float
) -> None:
    busiest = await _write_graph(graph)
    population = generate_population(600, seed=3, home_domain=HOME)
    people = [*busiest, *population.emails[100:110]]  # hubs and ordinary people in one ask
    monkeypatch.setattr(network, "CONTACT_CANDIDATES", 30)
    monkeypatch.setattr(network, "NEIGHBOURS_PER_QUERY", 4)  # the 14 people in 4 concurrent asks
    now = WRITTEN_AT + 30 * DAY
    found = await graph.strongest_neighbours(TENANT, people, MODEL, now, 5, internal_only, min_strength)
    exact = await graph._read_rows(
        q.NEIGHBOURS,
        tenant=TENANT,
        emails=people,
        fanout=5,
        internal_only=internal_only,
        min_strength=min_strength,
        **strength_params(MODEL, now),
    )
    assert [(x, y, s) for x, y, _, s in found] == [(r["email"], r["other"], r["s"]) for r in exact]
    assert found  # the ask found something to compare
