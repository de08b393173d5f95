"""Who knows, warm paths, coverage and going cold on small graphs with known answers, in the
real Neo4j, with a second tenant holding the same addresses and stronger ties that must not leak."""

from __future__ import annotations

import itertools
import math
from typing import Any

import httpx
import pytest

from tests.api.graphs import AS_OF, DAY, NOW, strength, tie, write
from tests.stack import Stack
from tiegraph.graph.neo4j import GraphStore

pytestmark = pytest.mark.integration

OURS = "ours.example"
ME, ANN, BOB = f"me@{OURS}", f"ann@{OURS}", f"bob@{OURS}"
CARL, DORA = "carl@mid.example", "dora@mid.example"
TARGET, EVE = "target@far.example", "eve@far.example"


def graph_a(tenant: str) -> dict[str, Any]:
    return {
        "me-carl": tie(tenant, ME, CARL, 20, 20),
        "carl-target": tie(tenant, CARL, TARGET, 15, 15),
        "ann-target": tie(tenant, ANN, TARGET, 3, 0),  # one-way: weak
        "bob-dora": tie(tenant, BOB, DORA, 2, 2),  # known, not strong: dora is white space
        "dora-eve": tie(tenant, DORA, EVE, 6, 6),
        "eve-target": tie(tenant, EVE, TARGET, 6, 6),
        "me-eve": tie(tenant, ME, EVE, 2, 2),
        # weekly for three weeks, silent for the last half year: going cold (and only known)
        "me-dora": tie(tenant, ME, DORA, 3, 3, last=NOW - 180 * DAY, every=7 * DAY),
    }


@pytest.fixture(scope="module")
async def tenants(stack: Stack, graph: GraphStore) -> dict[str, Any]:
    key_a = stack.create_tenant("net-a", OURS)
    key_b = stack.create_tenant("net-b", OURS)
    ties = graph_a("net-a")
    await write(graph, list(ties.values()), (OURS,))
    # Tenant b: the same addresses, a very strong direct tie from me to target, and a person only it has.
    await write(graph, [tie("net-b", ME, TARGET, 50, 50), tie("net-b", BOB, "secret@far.example", 30, 30)], (OURS,))
    return {"a": {"Authorization": f"Bearer {key_a}"}, "b": {"Authorization": f"Bearer {key_b}"}, "ties": ties}


async def get(api: httpx.AsyncClient, headers: dict[str, str], path: str, **params: Any) -> Any:
    response = await api.get(path, params={"as_of": AS_OF, **params}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def ranked(ties: dict[str, Any], chains: list[list[str]]) -> list[tuple[list[str], float]]:
    """Chains with the product of their ties' strengths, strongest first."""
    by_pair = {frozenset((t.a, t.b)): t for t in ties.values()}

    def product(chain: list[str]) -> float:
        return math.prod(strength(by_pair[frozenset(pair)]) for pair in itertools.pairwise(chain))

    return sorted(((c, product(c)) for c in chains), key=lambda c: -c[1])


async def test_paths_to_a_person_are_the_strongest_chains_ranked(
    api: httpx.AsyncClient, tenants: dict[str, Any]
) -> None:
    doc = await get(api, tenants["a"], "/v1/paths", to=TARGET, k=3)
    chains = [[p["email"] for p in path["people"]] for path in doc["paths"]]
    every_chain = [
        [ME, CARL, TARGET],
        [ME, EVE, TARGET],
        [ANN, TARGET],
        [BOB, DORA, EVE, TARGET],
        [ME, DORA, EVE, TARGET],
    ]
    expected = ranked(tenants["ties"], every_chain)[:3]
    assert chains == [c for c, _ in expected]
    for path, (_, product) in zip(doc["paths"], expected, strict=True):
        assert math.isclose(path["strength"], product, rel_tol=1e-9)
        assert math.isclose(path["strength"], math.prod(h["strength"] for h in path["hops"]), rel_tol=1e-9)
        assert all(h["evidence"]["sent"]["to"] > 0 for h in path["hops"])  # each hop explained from its `a`
    assert doc["kind"] == "person" and doc["source"] is None
    # tenant b's direct me -> target tie (far stronger) is not visible to tenant a
    assert [ME, TARGET] not in chains


async def test_paths_hop_strength_is_the_tie_strength(api: httpx.AsyncClient, tenants: dict[str, Any]) -> None:
    doc = await get(api, tenants["a"], "/v1/paths", to=TARGET, k=1)
    hop = doc["paths"][0]["hops"][0]
    tie_doc = await get(api, tenants["a"], f"/v1/ties/{hop['a']}/{hop['b']}")
    assert hop["strength"] == tie_doc["strength"] and hop["evidence"] == tie_doc["evidence"]


async def test_paths_from_a_named_person_and_to_an_organization(
    api: httpx.AsyncClient, tenants: dict[str, Any]
) -> None:
    doc = await get(api, tenants["a"], "/v1/paths", to="far.example", **{"from": BOB}, k=5)
    chains = [[p["email"] for p in path["people"]] for path in doc["paths"]]
    # A chain ends at the first member of far.example it reaches; from a named person it may pass
    # through our other people (me), who are not starting points here.
    assert chains == [c for c, _ in ranked(tenants["ties"], [[BOB, DORA, EVE], [BOB, DORA, ME, EVE]])]
    assert doc["kind"] == "organization" and doc["source"] == BOB
    short = await get(api, tenants["a"], "/v1/paths", to=TARGET, **{"from": BOB}, max_hops=2)
    assert short["paths"] == []


async def test_who_knows_a_person_and_a_company(api: httpx.AsyncClient, tenants: dict[str, Any]) -> None:
    person = await get(api, tenants["a"], "/v1/who-knows", target=TARGET)
    assert [p["email"] for p in person["people"]] == [ANN]
    assert person["people"][0]["via"][0]["evidence"]["sent"]["to"] == 3
    company = await get(api, tenants["a"], "/v1/who-knows", target="far.example")
    ties = tenants["ties"]
    assert [(p["email"], p["knows"]) for p in company["people"]] == sorted(
        [(ME, 1), (ANN, 1)], key=lambda e: -strength(ties["me-eve" if e[0] == ME else "ann-target"])
    )
    other = await get(api, tenants["b"], "/v1/who-knows", target="far.example")
    assert {p["email"] for p in other["people"]} == {ME, BOB}  # b's ties, not a's


async def test_coverage_key_connector_and_white_space(api: httpx.AsyncClient, tenants: dict[str, Any]) -> None:
    doc = await get(api, tenants["a"], "/v1/organizations/mid.example/coverage")
    assert doc["members"] == 2
    assert doc["key_connector"]["email"] == ME  # knows both carl (strongly) and dora
    assert {c["email"]: c["members_known"] for c in doc["connectors"]} == {ME: 2, BOB: 1}
    assert doc["covered"] == 1 and [w["email"] for w in doc["white_space"]] == [DORA]
    assert doc["white_space"][0]["best_connector"] in {ME, BOB}


async def test_going_cold_finds_the_silent_tie(api: httpx.AsyncClient, tenants: dict[str, Any]) -> None:
    doc = await get(api, tenants["a"], f"/v1/people/{ME}/going-cold")
    assert [t["email"] for t in doc["ties"]] == [DORA]
    cold = doc["ties"][0]
    assert cold["usual_interval_days"] == pytest.approx(7.0) and cold["silent_days"] == pytest.approx(180.0)


@pytest.mark.parametrize(
    "path",
    [
        "/v1/people/secret@far.example",
        "/v1/people/secret@far.example/going-cold",
        "/v1/ties/bob@ours.example/secret@far.example",
    ],
)
async def test_another_tenants_people_are_404(api: httpx.AsyncClient, tenants: dict[str, Any], path: str) -> None:
    response = await api.get(path, headers=tenants["a"])
    assert response.status_code == 404
    for params in ({"target": "secret@far.example"}, {"to": "secret@far.example"}):
        endpoint = "/v1/who-knows" if "target" in params else "/v1/paths"
        assert (await api.get(endpoint, params=params, headers=tenants["a"])).status_code == 404


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/paths", {"to": "not a domain"}),
        ("/v1/paths", {"to": TARGET, "k": "0"}),
        ("/v1/paths", {"to": TARGET, "max_hops": "9"}),
        ("/v1/paths", {"to": TARGET, "from": "nobody"}),
        ("/v1/who-knows", {"target": "@"}),
        ("/v1/organizations/-bad-/coverage", {}),
    ],
)
async def test_bad_network_input_is_422(
    api: httpx.AsyncClient, tenants: dict[str, Any], path: str, params: dict[str, str]
) -> None:
    response = await api.get(path, params=params, headers=tenants["a"])
    assert response.status_code == 422, response.text
    assert set(response.json()) == {"error", "message"}
