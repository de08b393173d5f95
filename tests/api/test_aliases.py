"""Aliases fold at read time: a person's and a contact's addresses count as one person, in the
real Neo4j, with known answers; a delegate stays her own person."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.graphs import AS_OF, MODEL, NOW, strength, tie, write
from tests.stack import Stack
from tiegraph.core.aliases import merge_ties
from tiegraph.core.ties import score_tie
from tiegraph.graph.neo4j import GraphStore, alias_row

pytestmark = pytest.mark.integration

OURS = "acme.example"
JEFF, JEFF_HOME = f"jeff.skilling@{OURS}", "jeff.skilling@home.example"
SHERRI, CARL, DORA = f"sherri.sera@{OURS}", "carl@mid.example", "dora@mid.example"
DORA_HOME = "dora.moss@gmail.com"


def alias(tenant: str, address: str, owner: str, name: str, offset: int) -> dict[str, Any]:
    record = {"tenant": tenant, "alias": address, "owner": owner, "name": name, "messages": 2, "offset": offset}
    return alias_row(record, (OURS,))


@pytest.fixture(scope="module")
async def folded(stack: Stack, graph: GraphStore) -> dict[str, Any]:
    key = stack.create_tenant("alias-a", OURS)
    other = stack.create_tenant("alias-b", OURS)
    ties = {
        "jeff-carl": tie("alias-a", JEFF, CARL, 3, 2),
        "home-carl": tie("alias-a", JEFF_HOME, CARL, 4, 4, last=NOW - 3 * 86400.0),
        "home-dora": tie("alias-a", JEFF_HOME, DORA, 2, 2),
        "jeff-dorahome": tie("alias-a", JEFF, DORA_HOME, 1, 1),
        "jeff-home": tie("alias-a", JEFF, JEFF_HOME, 5, 0),  # mail to himself: no contact
        "sherri-carl": tie("alias-a", SHERRI, CARL, 9, 9),  # his assistant, her own person
    }
    await write(graph, list(ties.values()), (OURS,))
    await write(graph, [tie("alias-b", JEFF_HOME, CARL, 40, 40)], (OURS,))  # another tenant: no alias there
    await graph.write_aliases(
        [
            alias("alias-a", JEFF_HOME, JEFF, "Jeff Skilling", 1),
            alias("alias-a", DORA_HOME, DORA, "Dora Moss", 2),
        ]
    )
    return {"a": {"Authorization": f"Bearer {key}"}, "b": {"Authorization": f"Bearer {other}"}, "ties": ties}


async def get(api: httpx.AsyncClient, headers: dict[str, str], path: str, **params: Any) -> Any:
    response = await api.get(path, params={"as_of": AS_OF, **params}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_contacts_sum_the_ties_of_every_address_of_both_people(
    api: httpx.AsyncClient, folded: dict[str, Any]
) -> None:
    ties = folded["ties"]
    doc = await get(api, folded["a"], f"/v1/people/{JEFF_HOME}/contacts")  # an alias answers its owner
    assert doc["person"]["email"] == JEFF
    assert doc["person"]["aliases"] == [{"email": JEFF_HOME, "name": "Jeff Skilling", "messages": 2}]
    contacts = {c["email"]: c for c in doc["contacts"]}
    assert set(contacts) == {CARL, DORA}  # not himself, not dora's second address on its own
    carl = merge_ties("alias-a", JEFF, CARL, [ties["jeff-carl"], ties["home-carl"]], MODEL, [JEFF, JEFF_HOME])
    assert contacts[CARL]["strength"] == pytest.approx(score_tie(carl, NOW, MODEL).strength)
    assert contacts[CARL]["strength"] > max(strength(ties["jeff-carl"]), strength(ties["home-carl"]))
    assert contacts[CARL]["evidence"]["sent"]["to"] == 3 + 4 and contacts[CARL]["evidence"]["received"]["to"] == 2 + 4
    assert contacts[DORA]["aliases"] == [DORA_HOME]
    assert contacts[DORA]["evidence"]["sent"]["to"] == 2 + 1
    assert doc["person"]["ties"] == 2


async def test_tie_between_people_with_aliases_lists_the_ties_it_sums(
    api: httpx.AsyncClient, folded: dict[str, Any]
) -> None:
    doc = await get(api, folded["a"], f"/v1/ties/{CARL}/{JEFF_HOME}")
    assert (doc["a"], doc["b"]) == (CARL, JEFF)
    assert sorted(map(sorted, doc["folded"])) == sorted([sorted([JEFF, CARL]), sorted([JEFF_HOME, CARL])])
    assert doc["evidence"]["received"]["to"] == 3 + 4  # from carl's side: what jeff sent from both addresses
    response = await api.get(f"/v1/ties/{JEFF}/{JEFF_HOME}", params={"as_of": AS_OF}, headers=folded["a"])
    assert response.status_code == 404  # one person has no tie with himself


async def test_a_delegate_stays_her_own_person(api: httpx.AsyncClient, folded: dict[str, Any]) -> None:
    sherri = await get(api, folded["a"], f"/v1/people/{SHERRI}")
    assert sherri["email"] == SHERRI and sherri["aliases"] == [] and sherri["ties"] == 1
    jeff = await get(api, folded["a"], f"/v1/people/{JEFF}/contacts")
    assert SHERRI not in {c["email"] for c in jeff["contacts"]}
    carl = await get(api, folded["a"], f"/v1/people/{CARL}/contacts")
    assert {c["email"] for c in carl["contacts"]} == {JEFF, SHERRI}


async def test_who_knows_sums_the_ties_to_every_address_of_the_target(
    api: httpx.AsyncClient, folded: dict[str, Any]
) -> None:
    ties = folded["ties"]
    doc = await get(api, folded["a"], "/v1/who-knows", target=CARL)
    knowers = {k["email"]: k for k in doc["people"]}
    assert set(knowers) == {JEFF, SHERRI}  # his home address counts for him, not as another person
    carl = merge_ties("alias-a", JEFF, CARL, [ties["jeff-carl"], ties["home-carl"]], MODEL, [JEFF, JEFF_HOME])
    assert knowers[JEFF]["strength"] == pytest.approx(score_tie(carl, NOW, MODEL).strength)
    assert knowers[JEFF]["via"][0]["email"] == CARL
    by_alias = await get(api, folded["a"], "/v1/who-knows", target=DORA_HOME)  # dora, over both her addresses
    assert by_alias["target"] == DORA and [k["email"] for k in by_alias["people"]] == [JEFF]
    assert by_alias["people"][0]["via"][0]["evidence"]["sent"]["to"] == 2 + 1


async def test_a_path_to_an_alias_reaches_its_person(api: httpx.AsyncClient, folded: dict[str, Any]) -> None:
    doc = await get(api, folded["a"], "/v1/paths", to=DORA_HOME, **{"from": SHERRI})
    assert doc["to"] == DORA
    assert doc["paths"] and doc["paths"][0]["people"][-1]["email"] in (DORA, DORA_HOME)


async def test_aliases_are_per_tenant(api: httpx.AsyncClient, folded: dict[str, Any]) -> None:
    doc = await get(api, folded["b"], f"/v1/people/{JEFF_HOME}")
    assert doc["email"] == JEFF_HOME and doc["aliases"] == []


async def test_a_later_record_moves_an_alias_and_an_older_one_cannot(graph: GraphStore, folded: dict[str, Any]) -> None:
    await graph.write_aliases([alias("alias-a", DORA_HOME, CARL, "Dora Moss", 10)])
    await graph.write_aliases([alias("alias-a", DORA_HOME, DORA, "Dora Moss", 5)])  # stale: ignored
    assert {a.alias: a.owner for a in await graph.aliases("alias-a")}[DORA_HOME] == CARL
    await graph.write_aliases([alias("alias-a", DORA_HOME, DORA, "Dora Moss", 11)])
    await graph.delete_aliases([{"tenant": "alias-a", "alias": DORA_HOME, "offset": 9}])  # older than the edge
    assert {a.alias: a.owner for a in await graph.aliases("alias-a")}[DORA_HOME] == DORA
