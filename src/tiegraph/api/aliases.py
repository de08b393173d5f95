"""Read-time folding of a mailbox owner's aliases into one person (core/aliases.py has the rule).

Ties stay stored per address; a read resolves an address to its person (the alias's owner) and
sums the ties of all the person's addresses with `merge_ties`. The tenant's aliases are few (a
handful per connected mailbox), so they are loaded whole for each request, with the caller's API
key (api/deps.py); a tenant without any takes the plain single-address reads.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from tiegraph.api.schemas_network import Acquaintance, Knower
from tiegraph.api.views import explain
from tiegraph.core.aliases import Alias, merge_ties
from tiegraph.core.model import TieModel
from tiegraph.core.ties import Tie
from tiegraph.graph.neo4j import GraphStore

_ALL = 1_000_000  # "every contact": folding needs them all before ranking


@dataclass(frozen=True, slots=True)
class Identities:
    """A tenant's aliases: who each alias belongs to, and each owner's aliases."""

    owner_of: dict[str, str] = field(default_factory=dict)
    aliases_of: dict[str, list[Alias]] = field(default_factory=dict)

    @classmethod
    def of(cls, aliases: list[Alias]) -> Identities:
        owner_of = {a.alias: a.owner for a in aliases}
        grouped: dict[str, list[Alias]] = defaultdict(list)
        for alias in aliases:
            grouped[alias.owner].append(alias)
        return cls(owner_of, dict(grouped))

    def person(self, email: str) -> str:
        """The person an address belongs to: its owner for an alias, else the address itself."""
        return self.owner_of.get(email, email)

    def addresses(self, person: str) -> list[str]:
        """The person's address first, then its aliases."""
        return [person, *(a.alias for a in self.aliases_of.get(person, ()))]


async def folded_contacts(
    graph: GraphStore, tenant: str, person: str, ids: Identities, model: TieModel, now: float
) -> list[tuple[dict[str, Any], Tie, list[str]]]:
    """Every contact of the person over all its addresses, with each contact's own aliases folded
    in: (contact row, merged tie oriented from the person, the contact's addresses folded)."""
    mine = ids.addresses(person)
    by_contact: dict[str, list[tuple[dict[str, Any], Tie]]] = defaultdict(list)
    for address in mine:
        for row, tie in await graph.strongest_contacts(tenant, address, model, now, _ALL):
            other = ids.person(row["email"])
            if other != person:  # a tie between two of the person's own addresses is no contact
                by_contact[other].append((row, tie))
    missing = [c for c, found in by_contact.items() if all(row["email"] != c for row, _ in found)]
    rows_of = await graph.people(tenant, missing) if missing else {}
    folded = []
    for contact, found in by_contact.items():
        own = [r for r, _ in found if r["email"] == contact]
        row = own[0] if own else rows_of.get(contact) or found[0][0]
        tie = merge_ties(tenant, person, contact, [t for _, t in found], model, mine)
        seen = sorted({r["email"] for r, _ in found} - {contact})
        folded.append(({**row, "email": contact}, tie, seen))
    return folded


async def folded_tie(
    graph: GraphStore, tenant: str, a: str, b: str, ids: Identities, model: TieModel
) -> tuple[Tie, list[list[str]]] | None:
    """The tie between two people over all their addresses, and the stored pairs it sums."""
    left, right = ids.addresses(a), ids.addresses(b)
    pairs = [(x, y) for x in left for y in right]
    stored = await graph.ties_of_pairs(tenant, pairs)
    if not stored:
        return None
    return merge_ties(tenant, a, b, stored.values(), model, left), sorted([list(p) for p in stored])


async def folded_who_knows(
    graph: GraphStore, tenant: str, person: str, ids: Identities, model: TieModel, now: float
) -> list[Knower]:
    """Our people who know a person over all its addresses, each of ours over all of theirs: one
    summed tie per person of ours, strongest first. "Ours" is decided by the person's main
    address, so an alias at a free-mail domain counts for its internal owner."""
    found: dict[str, list[tuple[dict[str, Any], Tie]]] = defaultdict(list)
    for target in ids.addresses(person):
        for row, tie in await graph.strongest_contacts(tenant, target, model, now, _ALL):
            knower = ids.person(row["email"])
            if knower != person:
                found[knower].append((row, tie))
    people = await graph.people(tenant, [person, *found])
    target_name = people[person]["name"] if person in people else ""
    knowers = []
    for knower, rows in found.items():
        if not people.get(knower, {}).get("internal"):
            continue
        tie = merge_ties(tenant, knower, person, [t for _, t in rows], model, ids.addresses(knower))
        score, evidence = explain(tie, knower, now, model)
        via = Acquaintance(email=person, name=target_name, strength=score.strength, band=score.band, evidence=evidence)
        name = people[knower]["name"]
        knowers.append(Knower(email=knower, name=name, strength=score.strength, band=score.band, knows=1, via=[via]))
    return sorted(knowers, key=lambda k: (-k.strength, k.email))
