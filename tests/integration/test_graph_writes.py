"""The tie writer's ordering rule on the real Neo4j: what a stale partition owner sends late
cannot overwrite a newer state of the tie (graph/cypher.py WRITE_TIES)."""

from __future__ import annotations

from typing import Any

import pytest

from tiegraph.core.model import TieModel
from tiegraph.core.records import Interaction
from tiegraph.core.ties import Tie, apply_interaction
from tiegraph.graph import cypher
from tiegraph.graph.neo4j import GraphStore, alias_row, people_and_ties, tie_row

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


async def _fill(graph: GraphStore, tenant: str) -> None:
    """A tenant with a tie, an alias, a counter, a mailbox, a blocklist entry and an API key."""
    await graph.create_tenant(tenant, ["acme.com"])
    tie = _tie_after(3)
    await graph.write_ties([{**tie_row({**tie.to_update(), "tenant": tenant}, ("acme.com",)), "offset": 1}])
    alias = {"tenant": tenant, "alias": "ann@old.example", "owner": "ann@acme.com", "name": "Ann", "messages": 2}
    await graph.write_aliases([alias_row({**alias, "offset": 1}, ("acme.com",))])
    await graph.write_counters([{"tenant": tenant, "name": "messages", "partition": 0, "value": 3}])
    await graph.put_mailbox({"tenant": tenant, "id": "imap:ann", "owner": "ann@acme.com", "state": "idle"})
    await graph.block(tenant, "spam.example", "domain")


async def test_deleting_a_tenants_graph_leaves_nothing_of_it_and_every_other_tenant_whole(graph: GraphStore) -> None:
    await _fill(graph, "leaving")
    await _fill(graph, "staying")
    before = await graph.stats("staying")
    assert before["ties"] == 1 and before["people"] == 3 and before["messages"] == 3

    await graph.delete_tenant_graph("leaving")

    assert await graph.stats("leaving") == dict.fromkeys(before, 0)
    names = {t.name for t in await graph.tenants()}
    assert "leaving" not in names and "staying" in names
    assert await graph.aliases("leaving") == [] and await graph.blocklist("leaving") == []
    assert not [m for m in await graph.mailboxes() if m["tenant"] == "leaving"]
    assert await graph.stats("staying") == before
    assert len(await graph.aliases("staying")) == 1 and len(await graph.blocklist("staying")) == 1
    await graph.delete_tenant_graph("leaving")  # again: nothing left to delete, no error


def _pair_row(tenant: str, a: str, b: str, a_name: str = "", b_name: str = "") -> dict[str, Any]:
    tie = Tie.for_pair(tenant, a, b)
    apply_interaction(tie, Interaction(tenant, tie.a, tie.b, "to", 1.0, 1_700_000_000.0, f"{a}>{b}"), MODEL)
    update = {**tie.to_update(), "a_name": a_name if tie.a == a else b_name, "b_name": b_name if tie.a == a else a_name}
    return {**tie_row(update, ("acme.com",)), "offset": 1}


async def test_a_batch_leaves_its_people_as_row_by_row_and_nothing_of_a_blocked_one(graph: GraphStore) -> None:
    """One batch: a hub's ties, its name given by some rows and not others, and ties to a blocked
    address and to an address under a blocked domain. The blocked people's ties are not written,
    and a person whose only tie in the batch is with a blocked one is not created either."""
    tenant = "write-people"
    await graph.create_tenant(tenant, ["acme.com"])
    await graph.block(tenant, "spam.example", "domain")
    await graph.block(tenant, "eve@acme.com", "address")
    hub = "hub@acme.com"
    rows = [_pair_row(tenant, hub, f"p{i}@partner.example", a_name="Hub" if i == 3 else "") for i in range(8)]
    rows += [
        _pair_row(tenant, hub, "eve@acme.com"),
        _pair_row(tenant, "lonely@acme.com", "eve@acme.com"),
        _pair_row(tenant, "x@mail.spam.example", "p0@partner.example"),
    ]
    await graph.write_ties(rows)

    stored = {(r["a"], r["b"]) for r in await graph.tenant_ties(tenant)}
    assert stored == {tuple(sorted((hub, f"p{i}@partner.example"))) for i in range(8)}
    hub_person = await graph.person(tenant, hub)
    assert hub_person is not None
    assert hub_person["name"] == "Hub" and hub_person["internal"] and hub_person["organization"] == "acme.com"
    assert hub_person["ties"] == 8
    partner = await graph.person(tenant, "p5@partner.example")
    assert partner is not None and not partner["internal"] and partner["organization"] == "partner.example"
    for absent in ("eve@acme.com", "lonely@acme.com", "x@mail.spam.example"):
        assert await graph.person(tenant, absent) is None
    assert (await graph.stats(tenant))["people"] == 9

    await graph.write_ties([_pair_row(tenant, hub, "p9@partner.example")])  # no name: the known one stays
    hub_person = await graph.person(tenant, hub)
    assert hub_person is not None and hub_person["name"] == "Hub" and hub_person["ties"] == 9
    await graph.delete_tenant_graph(tenant)


async def test_a_batch_of_two_tenants_keeps_each_ties_ordering_rule(graph: GraphStore) -> None:
    """One batch with rows of two tenants for the same addresses, a stale row (fewer
    interactions than the stored state) and a rewrite without an offset."""
    first, second = "write-mixed-1", "write-mixed-2"
    for tenant in (first, second):
        await graph.create_tenant(tenant, ["acme.com"])
    newer = {**tie_row({**_tie_after(4).to_update(), "tenant": first}, ("acme.com",)), "offset": 20}
    await graph.write_ties([newer])
    stale = {**tie_row({**_tie_after(2).to_update(), "tenant": first}, ("acme.com",)), "offset": 30}
    rewrite = tie_row({**_tie_after(1).to_update(), "tenant": second}, ("acme.com",))  # no offset: applies
    await graph.write_ties([stale, rewrite])

    [kept] = await graph.tenant_ties(first)
    assert kept["tie"]["interactions"] == 4 and kept["tie"]["update_offset"] == 20
    [written] = await graph.tenant_ties(second)
    assert written["tie"]["interactions"] == 1 and "update_offset" not in written["tie"]
    for tenant in (first, second):
        assert (await graph.stats(tenant))["people"] == 2
        await graph.delete_tenant_graph(tenant)


async def test_a_person_blocked_after_the_batchs_blocklist_read_is_not_merged(graph: GraphStore) -> None:
    """WRITE_TIES checks each person again: an erasure that blocked and deleted a person after
    the writer read the blocklist (here: WRITE_TIES run with the rows that read let through)
    finds neither the person nor their ties recreated."""
    tenant = "write-late-block"
    await graph.create_tenant(tenant, ["acme.com"])
    rows = [_pair_row(tenant, "ann@acme.com", "eve@partner.example"), _pair_row(tenant, "ann@acme.com", "bob@acme.com")]
    await graph.block(tenant, "eve@partner.example", "address")
    people, ties = people_and_ties(rows)
    await graph._write(cypher.WRITE_TIES, people=people, rows=ties)

    assert {(r["a"], r["b"]) for r in await graph.tenant_ties(tenant)} == {("ann@acme.com", "bob@acme.com")}
    assert await graph.person(tenant, "eve@partner.example") is None
    await graph.delete_tenant_graph(tenant)
