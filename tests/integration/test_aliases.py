"""A mailbox owner's aliases through the real pipeline: `tiegraph import --owner` learns them from
the sent folder, the worker links them, the API folds them; the delegate and a namesake stay
their own people; erasing an alias forgets it on the compacted aliases.v1 too.
Fixture: tests/data/alias-mailbox (see tests/data/alias-mailbox.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.stack import Stack
from tiegraph.streams.topics import ALIASES, alias_key

pytestmark = pytest.mark.integration

MAILBOX = Path(__file__).resolve().parents[1] / "data" / "alias-mailbox"
JEFF, FAMILY, YAHOO = "jeff.skilling@acme.example", "jeff@skilling-family.example", "jeff.skilling@yahoo.com"
SHERRI, TOM, CARL, DORA = "sherri.sera@acme.example", "skilling@acme.example", "carl@mid.example", "dora@mid.example"
AS_OF = {"as_of": "2025-07-01T00:00:00+00:00"}


async def alias_values(stack: Stack, key: bytes) -> list[bytes | None]:
    """Every value written to aliases.v1 for the key, oldest first."""
    return [value for k, value in await stack.topic_records(ALIASES) if k == key]


async def get(api: httpx.AsyncClient, headers: dict[str, str], path: str) -> Any:
    response = await api.get(path, params=AS_OF, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_owner_aliases_fold_and_the_delegate_stays_apart(stack: Stack, api: httpx.AsyncClient) -> None:
    headers = {"Authorization": f"Bearer {stack.create_tenant('alias-t', 'acme.example')}"}
    result = stack.cli("import", str(MAILBOX), "--tenant", "alias-t", "--owner", JEFF, "--json")
    assert json.loads(result.stdout)["aliases"] == [YAHOO, FAMILY]
    await stack.wait_caught_up()

    person = await get(api, headers, f"/v1/people/{FAMILY}")
    assert person["email"] == JEFF
    assert [a["email"] for a in person["aliases"]] == [YAHOO, FAMILY]
    contacts = {c["email"]: c for c in (await get(api, headers, f"/v1/people/{JEFF}/contacts"))["contacts"]}
    # What he sent from either address, and the answers to his aliases, are his.
    assert contacts[CARL]["evidence"]["sent"]["to"] == 2 and contacts[CARL]["evidence"]["received"]["reply"] == 1
    assert contacts[DORA]["evidence"]["sent"]["to"] == 1 and contacts[DORA]["evidence"]["received"]["reply"] == 1
    assert contacts[CARL]["strength"] > 0.25  # two-way now: above the one-way cap
    assert set(contacts) == {CARL, DORA, TOM}
    tie = await get(api, headers, f"/v1/ties/{YAHOO}/{DORA}")
    assert tie["a"] == JEFF and tie["folded"] == [[YAHOO, DORA]]

    # His assistant sent most of the sent folder: she is her own person; so is his namesake.
    sherri = await get(api, headers, f"/v1/people/{SHERRI}")
    assert sherri["email"] == SHERRI and sherri["aliases"] == []
    assert SHERRI not in contacts
    carl = {c["email"]: c for c in (await get(api, headers, f"/v1/people/{CARL}/contacts"))["contacts"]}
    assert set(carl) == {JEFF, SHERRI} and carl[SHERRI]["evidence"]["received"]["to"] == 4
    assert (await get(api, headers, f"/v1/people/{TOM}"))["email"] == TOM

    # Erasing an alias removes the link, and the compacted topic forgets the record.
    assert (await api.delete(f"/v1/people/{FAMILY}", headers=headers)).status_code == 200
    await stack.wait_caught_up()
    assert [a["email"] for a in (await get(api, headers, f"/v1/people/{JEFF}"))["aliases"]] == [YAHOO]
    values = await alias_values(stack, alias_key("alias-t", FAMILY))
    assert values and values[0] is not None and values[-1] is None
