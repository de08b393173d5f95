"""Small tie graphs written straight into the real Neo4j, so that the right answers are known."""

from __future__ import annotations

from tiegraph.core.model import DAY, TieModel
from tiegraph.core.records import Interaction
from tiegraph.core.ties import Tie, apply_interaction, score_tie
from tiegraph.graph.neo4j import GraphStore, tie_row

NOW = 1_750_000_000.0  # every test asks `as_of` this moment
AS_OF = "2025-06-15T15:06:40+00:00"
MODEL = TieModel()


def tie(tenant: str, x: str, y: str, there: int, back: int, last: float = NOW - DAY, every: float = DAY) -> Tie:
    """A tie with `there` messages from x to y and `back` from y to x, one per `every`, ending at `last`."""
    built = Tie.for_pair(tenant, x, y)
    for i in range(max(there, back)):
        at = last - i * every
        for n, (a, b) in ((there, (x, y)), (back, (y, x))):
            if i < n:
                interaction = Interaction(tenant, a, b, "to", 1.0, at, f"{a}>{b}#{i}")
                apply_interaction(built, interaction, MODEL)
    return built


def strength(t: Tie) -> float:
    return score_tie(t, NOW, MODEL).strength


async def write(graph: GraphStore, ties: list[Tie], domains: tuple[str, ...]) -> None:
    await graph.write_ties([tie_row(t.to_update(), domains) for t in ties])
