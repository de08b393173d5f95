"""The tie writer's ordering rule on the real Neo4j: what a stale partition owner sends late
cannot overwrite a newer state of the tie (graph/cypher.py WRITE_TIES)."""

from __future__ import annotations

from typing import Any

import pytest

from tiegraph.core.model import TieModel
from tiegraph.core.records import Interaction
from tiegraph.core.ties import Tie, apply_interaction
from tiegraph.graph.neo4j import GraphStore, tie_row

pytestmark = pytest.mark.integration

TENANT = "write-order"
MODEL = TieModel()


def _tie_after(messages: int) -> Tie:
    """The tie of ann and bob after the first `messages` of one conversation."""
    tie = Tie.for_pair(TENANT, "ann@acme.com", "bob@acme.com")
    for i in range(messages):
        sender, recipient = ("ann@acme.com", "bob@acme.com") if i % 2 == 0 else ("bob@acme.com", "ann@acme.com")
        apply_interaction(tie, Interaction(TENANT, sender, recipient, "to", 1.0, 1_700_000_000.0 + i, f"m{i}"), MODEL)
    return tie


def _row(tie: Tie, offset: int) -> dict[str, Any]:
    return {**tie_row(tie.to_update(), ("acme.com",)), "offset": offset}


async def _stored(graph: GraphStore) -> dict[str, Any]:
    [row] = await graph.tenant_ties(TENANT)
    return dict(row["tie"])


async def test_a_late_update_counting_fewer_interactions_does_not_overwrite_a_newer_state(graph: GraphStore) -> None:
    await graph.write_ties([_row(_tie_after(3), offset=10)])  # the new owner's update
    await graph.write_ties([_row(_tie_after(2), offset=11)])  # the old owner's, landing later
    stored = await _stored(graph)
    assert stored["interactions"] == 3 and stored["update_offset"] == 10
    assert stored["n_to_ab"] + stored["n_to_ba"] == 3

    await graph.write_ties([_row(_tie_after(4), offset=12)])  # the stream moves on
    assert (await _stored(graph))["interactions"] == 4

    await graph.write_ties([_row(_tie_after(4), offset=9)])  # an older offset of an equal state
    assert (await _stored(graph))["update_offset"] == 12
    await graph.write_ties([_row(_tie_after(4), offset=13)])  # a replay of it
    assert (await _stored(graph))["update_offset"] == 13
