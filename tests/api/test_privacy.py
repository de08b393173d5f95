"""Erasure, blocklists and API keys against the real Neo4j (and the real CLI for keys)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.api.graphs import AS_OF, tie, write
from tests.stack import Stack
from tiegraph.graph.neo4j import GraphStore

pytestmark = pytest.mark.integration

OURS = "priv.example"
ME, ANN = f"me@{OURS}", f"ann@{OURS}"
CARL, DORA, ERIN = "carl@mid.example", "dora@mid.example", "erin@sub.other.example"


@pytest.fixture(scope="module")
async def tenants(stack: Stack, graph: GraphStore) -> dict[str, Any]:
    key_a, key_b = stack.create_tenant("priv-a", OURS), stack.create_tenant("priv-b", OURS)
    for name in ("priv-a", "priv-b"):
        ties = [
            tie(name, ME, CARL, 5, 5),
            tie(name, CARL, ANN, 5, 5),
            tie(name, ME, DORA, 3, 3),
            tie(name, ANN, ERIN, 2, 2),
        ]
        await write(graph, ties, (OURS,))
    return {"a": {"Authorization": f"Bearer {key_a}"}, "b": {"Authorization": f"Bearer {key_b}"}}


async def test_erasure_removes_the_person_and_blocks_the_address(
    api: httpx.AsyncClient, tenants: dict[str, Any]
) -> None:
    a, b = tenants["a"], tenants["b"]
    erased = await api.delete(f"/v1/people/{CARL}", headers=a)
    assert erased.status_code == 200, erased.text
    assert erased.json() == {"email": CARL, "erased": True, "ties": 2, "blocked": True}
    assert (await api.get(f"/v1/people/{CARL}", headers=a)).status_code == 404
    assert (await api.get(f"/v1/ties/{ME}/{CARL}", headers=a)).status_code == 404
    contacts = (await api.get(f"/v1/people/{ME}/contacts", params={"as_of": AS_OF}, headers=a)).json()
    assert [c["email"] for c in contacts["contacts"]] == [DORA]
    paths = (await api.get("/v1/paths", params={"to": ANN, "from": ME, "as_of": AS_OF}, headers=a)).json()
    assert paths["paths"] == []  # the only chain went through carl
    blocklist = (await api.get("/v1/blocklist", headers=a)).json()
    assert [(e["value"], e["kind"]) for e in blocklist["entries"]] == [(CARL, "address")]
    # the other tenant's carl is untouched, and erasing again is a 404
    assert (await api.get(f"/v1/people/{CARL}", headers=b)).status_code == 200
    assert (await api.delete(f"/v1/people/{CARL}", headers=a)).status_code == 404


async def test_blocking_a_domain_purges_its_people_and_subdomains(
    api: httpx.AsyncClient, tenants: dict[str, Any]
) -> None:
    a = tenants["a"]
    put = await api.put("/v1/blocklist/other.example", headers=a)
    assert put.status_code == 200 and put.json() == {"value": "other.example", "kind": "domain", "erased_people": 1}
    assert (await api.get(f"/v1/people/{ERIN}", headers=a)).status_code == 404
    assert (await api.get(f"/v1/people/{ERIN}", headers=tenants["b"])).status_code == 200
    assert (await api.put("/v1/blocklist/other.example", headers=a)).json()["erased_people"] == 0  # idempotent
    removed = await api.delete("/v1/blocklist/other.example", headers=a)
    assert removed.status_code == 200 and removed.json()["kind"] == "domain"
    assert (await api.delete("/v1/blocklist/other.example", headers=a)).status_code == 404
    values = [e["value"] for e in (await api.get("/v1/blocklist", headers=a)).json()["entries"]]
    assert "other.example" not in values


async def test_a_tie_update_in_flight_cannot_bring_an_erased_person_back(
    api: httpx.AsyncClient, graph: GraphStore, tenants: dict[str, Any]
) -> None:
    a = tenants["a"]
    late = "late@gone.example"
    await write(graph, [tie("priv-a", ME, late, 2, 2)], (OURS,))
    assert (await api.delete(f"/v1/people/{late}", headers=a)).status_code == 200
    assert (await api.put("/v1/blocklist/fully-gone.example", headers=a)).status_code == 200
    # Updates produced before the erase reach the writer after it: the blocklist in the graph stops them.
    await write(graph, [tie("priv-a", ME, late, 3, 3), tie("priv-a", ME, "x@sub.fully-gone.example", 1, 1)], (OURS,))
    assert (await api.get(f"/v1/people/{late}", headers=a)).status_code == 404
    assert (await api.get("/v1/people/x@sub.fully-gone.example", headers=a)).status_code == 404
    # ...and the same pair in a tenant that did not block it is written as usual.
    await write(graph, [tie("priv-b", ME, late, 1, 1)], (OURS,))
    assert (await api.get(f"/v1/people/{late}", headers=tenants["b"])).status_code == 200


async def test_a_rewritten_tie_keeps_nothing_of_its_old_properties(graph: GraphStore) -> None:
    old = tie("priv-c", ME, DORA, 4, 4)
    old.counts["meeting"] = 3  # a kind the new state does not have
    await write(graph, [old], (OURS,))
    new = tie("priv-c", ME, DORA, 1, 0)
    await write(graph, [new], (OURS,))
    rewritten = await graph.tie("priv-c", ME, DORA)
    assert rewritten is not None and rewritten.counts == new.counts  # no "meeting", one message each way no more


@pytest.mark.parametrize("entry", ["not a thing", "a@", "-x-"])
async def test_bad_blocklist_entries_are_422(api: httpx.AsyncClient, tenants: dict[str, Any], entry: str) -> None:
    response = await api.put(f"/v1/blocklist/{entry}", headers=tenants["a"])
    assert response.status_code == 422 and response.json()["error"] == "invalid_block_entry"


async def test_blocklist_needs_a_key(api: httpx.AsyncClient) -> None:
    assert (await api.get("/v1/blocklist")).status_code == 401
    assert (await api.delete(f"/v1/people/{ME}")).status_code == 401


async def test_several_keys_per_tenant_and_revocation(stack: Stack, api: httpx.AsyncClient) -> None:
    first = stack.create_tenant("keys-t", "keys.example")
    added = json.loads(stack.cli("tenants", "keys", "add", "--tenant", "keys-t", "--json").stdout)
    second = added["api_key"]
    listed = json.loads(stack.cli("tenants", "keys", "list", "--tenant", "keys-t", "--json").stdout)
    assert len(listed) == 2 and added["id"] in {k["id"] for k in listed}
    assert all(second not in json.dumps(k) and first not in json.dumps(k) for k in listed)  # never the key itself
    for key in (first, second):
        assert (await api.get("/v1/stats", headers={"Authorization": f"Bearer {key}"})).status_code == 200
    stack.cli("tenants", "keys", "revoke", added["id"], "--tenant", "keys-t")
    assert (await api.get("/v1/stats", headers={"Authorization": f"Bearer {second}"})).status_code == 401
    assert (await api.get("/v1/stats", headers={"Authorization": f"Bearer {first}"})).status_code == 200
    assert stack.cli("tenants", "keys", "revoke", added["id"], "--tenant", "keys-t", check=False).returncode == 1
    # another tenant cannot revoke this tenant's keys
    stack.create_tenant("keys-u")
    first_id = next(k["id"] for k in listed if k["id"] != added["id"])
    assert stack.cli("tenants", "keys", "revoke", first_id, "--tenant", "keys-u", check=False).returncode == 1


async def test_blocklist_cli(stack: Stack, tenants: dict[str, Any]) -> None:
    stack.cli("blocklist", "add", "spam.example", "x@y.example", "--tenant", "priv-b")
    listed = json.loads(stack.cli("blocklist", "list", "--tenant", "priv-b", "--json").stdout)
    assert {(e["value"], e["kind"]) for e in listed} == {("spam.example", "domain"), ("x@y.example", "address")}
    stack.cli("blocklist", "remove", "spam.example", "--tenant", "priv-b")
    assert [e["value"] for e in json.loads(stack.cli("blocklist", "list", "--tenant", "priv-b", "--json").stdout)] == [
        "x@y.example"
    ]
    assert stack.cli("blocklist", "add", "???", "--tenant", "priv-b", check=False).returncode == 1
