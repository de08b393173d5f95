"""The generated tie graph at scale: deterministic, heavy-tailed, mostly reciprocated, and its
stored decay components score like ties built by the pipeline."""

from __future__ import annotations

from collections import Counter

from tiegraph.core.model import TieModel
from tiegraph.core.ties import score_tie
from tiegraph.graph.neo4j import tie_from_props, tie_props
from tiegraph.synth.network import generate_population, generate_ties

NOW = 1_800_000_000.0


def test_generated_ties_are_distinct_deterministic_and_heavy_tailed() -> None:
    population = generate_population(2000, seed=3)
    ties = list(generate_ties(population, 10_000, "t", NOW, seed=5))
    assert ties == list(generate_ties(population, 10_000, "t", NOW, seed=5))
    assert len({(u["a"], u["b"]) for u in ties}) == 10_000 and all(u["a"] < u["b"] for u in ties)
    degree = Counter(e for u in ties for e in (u["a"], u["b"]))
    assert max(degree.values()) > 20 * (2 * len(ties) / len(degree))  # a few hubs, many with few ties
    ours = set(population.emails[: population.internal])
    assert sum(u["a"] in ours or u["b"] in ours for u in ties) > 0.8 * len(ties)
    # One in five ties is drawn one-way (cold outreach); with heavy-tailed counts most ties hold a
    # single message, which is one-way too: about two thirds end up one-way, as in real mailboxes.
    one_way = sum(1 for u in ties if not (u["fast_ab"] and u["fast_ba"]))
    assert 0.5 * len(ties) < one_way < 0.8 * len(ties)
    busy = [u for u in ties if sum(u["counts"].values()) >= 5]
    assert sum(1 for u in busy if u["fast_ab"] and u["fast_ba"]) > 0.6 * len(busy)
    assert all(0 < u["first_at"] <= u["last_at"] <= NOW for u in ties)


def test_generated_ties_score_through_the_stored_properties() -> None:
    population = generate_population(300, seed=1)
    model = TieModel()
    for update in generate_ties(population, 200, "t", NOW, seed=2):
        tie = tie_from_props("t", str(update["a"]), str(update["b"]), tie_props(update))
        score = score_tie(tie, NOW, model)
        assert 0.0 <= score.strength <= 1.0
        if not (update["fast_ab"] and update["fast_ba"]):
            assert score.strength <= model.one_way_cap
