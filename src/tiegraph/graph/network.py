"""Network reads (who knows, paths, coverage), erasure, blocklists and API keys on Neo4j.

A mixin of GraphStore kept in its own module: it only adds methods, through GraphStore's
`_read` / `_write`, so the store's driver handling and error translation stay in one place.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Iterable, Sequence
from typing import Any, LiteralString

from tiegraph.core.model import TieModel
from tiegraph.core.ties import Tie, bounds_apply, strength_bound
from tiegraph.graph import cypher_network as q

Edge = tuple[str, str, bool, float]  # from, to, `to` is one of ours, strength at `now`


def _tie(tenant: str, first: str, second: str, first_is_a: bool, props: dict[str, Any]) -> Tie:
    from tiegraph.graph.neo4j import tie_from_props  # the store module imports this mixin

    a, b = (first, second) if first_is_a else (second, first)
    return tie_from_props(tenant, a, b, props)


def strength_params(model: TieModel, now: float) -> dict[str, float]:
    """The tenant's read-time model as query parameters for the Cypher strength formula."""
    return {
        "now": now,
        "fs": model.fast_share,
        "hf": model.fast_half_life,
        "hs": model.slow_half_life,
        "sat": model.saturation,
        "cap": model.one_way_cap,
    }


# Ties ranked first by their strength bounds (at least 8 per contact asked for): for the busiest
# person of the 1M-tie benchmark graph (5,395 ties), the 50 strongest were among the 232 ties with
# the highest bounds.
CONTACT_CANDIDATES = 400
MAX_BOUNDED_LIMIT = 1000
# People per neighbourhood query: a path search level of 100 people (api/network.py BEAM) is asked
# as two concurrent queries; on 2 cores the level took 26 % less time (median; its ~5,000 ties are
# scored in Cypher, which is most of its time).
NEIGHBOURS_PER_QUERY = 50


def _complete(rows: list[dict[str, Any]], limit: int, candidates: int, now: float, model: TieModel) -> bool:
    """Whether the ranking over the candidates is the ranking over all ties: every tie was a
    candidate, or `limit` contacts were found and the weakest of them beats the most any tie left
    out could score."""
    if rows[0]["candidates"] < candidates:
        return True
    return _beats_left_out([r["s"] for r in rows], limit, 0.0, strength_bound(rows[0]["cutoff"], now, model))


def _beats_left_out(found: list[float], limit: int, min_strength: float, bound: float) -> bool:
    """Whether no tie that scores at most `bound` can belong among `found` (strengths, strongest
    first; at most `limit`, none below `min_strength`). Strictly, with a margin for rounding in
    Cypher and here: an equal one might come first by address."""
    weakest = found[-1] if len(found) == limit else min_strength
    return bound + 1e-9 < weakest


class NetworkStore:
    async def _read(self, query: LiteralString, **params: Any) -> list[dict[str, Any]]:
        raise NotImplementedError

    async def _write(self, query: LiteralString, **params: Any) -> list[dict[str, Any]]:
        raise NotImplementedError

    async def _read_rows(self, query: LiteralString, **params: Any) -> list[dict[str, Any]]:
        """The rows of a read that returns them collected into one list, `rows`. The driver
        handles each record as a message of its own, at ~0.1 ms each: a person's 50 contacts as
        one record took a third of the time of 50 records (README, "Query latency at 1M ties")."""
        records = await self._read(query, **params)
        return list(records[0]["rows"]) if records else []

    # -- neighbourhoods for path search ----------------------------------------------------------

    async def strongest_neighbours(
        self,
        tenant: str,
        emails: Sequence[str],
        model: TieModel,
        now: float,
        fanout: int,
        internal_only: bool = False,
        min_strength: float = 0.0,
    ) -> list[Edge]:
        """Each person's `fanout` strongest ties at `now` (optionally only to our own people):
        first among each one's ties with the highest strength bounds, then over all ties of those
        for whom a tie left out could have ranked. A long list is asked in concurrent parts, which
        Neo4j runs on separate cores."""
        params = {
            "tenant": tenant,
            "fanout": fanout,
            "internal_only": internal_only,
            "min_strength": min_strength,
            **strength_params(model, now),
        }
        parts = [emails[i : i + NEIGHBOURS_PER_QUERY] for i in range(0, len(emails), NEIGHBOURS_PER_QUERY)]
        found = await asyncio.gather(*(self._neighbours_of(part, model, now, params) for part in parts))
        return [edge for part in found for edge in part]

    async def _neighbours_of(
        self, emails: Sequence[str], model: TieModel, now: float, params: dict[str, Any]
    ) -> list[Edge]:
        fanout, min_strength = params["fanout"], params["min_strength"]
        edges: dict[str, list[Edge]] = {email: [] for email in emails}  # in the order asked
        unsure = list(emails)  # the people to rank over all their ties
        if bounds_apply(model):
            candidates = max(CONTACT_CANDIDATES, 8 * fanout)
            unsure = []
            bounded = await self._read_rows(q.NEIGHBOURS_BOUNDED, emails=list(emails), candidates=candidates, **params)
            for row in bounded:
                found = row["found"]
                if row["candidates"] < candidates or _beats_left_out(
                    [f["s"] for f in found], fanout, min_strength, strength_bound(row["cutoff"], now, model)
                ):
                    edges[row["email"]] = [(row["email"], f["other"], f["internal"], f["s"]) for f in found]
                else:
                    unsure.append(row["email"])
        if unsure:
            for r in await self._read_rows(q.NEIGHBOURS, emails=unsure, **params):
                edges[r["email"]].append((r["email"], r["other"], r["internal"], r["s"]))
        return [edge for person in edges.values() for edge in person]

    async def ties_between_sets(
        self, tenant: str, left: Sequence[str], right: Sequence[str], model: TieModel, now: float
    ) -> list[Edge]:
        if not left or not right:
            return []
        rows = await self._read_rows(
            q.TIES_BETWEEN_SETS, tenant=tenant, left=list(left), right=list(right), **strength_params(model, now)
        )
        return [(r["email"], r["other"], r["internal"], r["s"]) for r in rows]

    async def ties_of_pairs(self, tenant: str, pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Tie]:
        """The stored ties of the given pairs, keyed by the pair as asked."""
        rows = await self._read_rows(q.TIES, tenant=tenant, pairs=[list(p) for p in pairs])
        return {(r["a"], r["b"]): _tie(tenant, r["a"], r["b"], r["first_is_a"], r["tie"]) for r in rows}

    # -- people, organisations, who knows --------------------------------------------------------

    async def people(self, tenant: str, emails: Iterable[str]) -> dict[str, dict[str, Any]]:
        rows = await self._read_rows(q.PEOPLE, tenant=tenant, emails=sorted(set(emails)))
        return {r["email"]: r for r in rows}

    async def organization(self, tenant: str, domain: str) -> dict[str, Any] | None:
        rows = await self._read(q.ORGANIZATION, tenant=tenant, domain=domain)
        return rows[0] if rows else None

    async def organization_members(self, tenant: str, domain: str) -> dict[str, str]:
        """The organisation's people: address -> name."""
        rows = await self._read_rows(q.ORGANIZATION_MEMBERS, tenant=tenant, domain=domain)
        return {r["email"]: r["name"] for r in rows}

    async def strongest_contacts(
        self, tenant: str, email: str, model: TieModel, now: float, limit: int
    ) -> list[tuple[dict[str, Any], Tie]]:
        """A person's `limit` strongest contacts at `now`, groups left out, ties oriented from them.

        First among the ties with the highest strength bounds only; if a tie left out could still
        have ranked (its bound is not below the last one taken), over all of them."""
        params = {
            "tenant": tenant,
            "email": email,
            "limit": limit,
            "group_min": model.group_min_correspondents,
            **strength_params(model, now),
        }
        candidates = max(CONTACT_CANDIDATES, 8 * limit)
        if limit <= MAX_BOUNDED_LIMIT and bounds_apply(model):  # not for every contact (alias folding)
            rows = await self._read_rows(q.STRONGEST_CONTACTS_BOUNDED, candidates=candidates, **params)
            if rows and _complete(rows, limit, candidates, now, model):
                return [(r, _tie(tenant, email, r["email"], r["person_is_a"], r["tie"])) for r in rows]
        rows = await self._read_rows(q.STRONGEST_CONTACTS, **params)
        return [(r, _tie(tenant, email, r["email"], r["person_is_a"], r["tie"])) for r in rows]

    async def who_knows(
        self, tenant: str, target: str, is_domain: bool, model: TieModel, now: float, limit: int
    ) -> list[tuple[dict[str, Any], Tie]]:
        """Our `limit` people with the strongest ties to a person or an organisation's members:
        rows of (our person, how many they know there, one of their three strongest ties)."""
        query, key = (q.WHO_KNOWS_ORGANIZATION, "domain") if is_domain else (q.WHO_KNOWS_PERSON, "email")
        rows = await self._read_rows(query, tenant=tenant, limit=limit, **{key: target}, **strength_params(model, now))
        return [(r, _tie(tenant, r["email"], r["target"], r["person_is_a"], r["tie"])) for r in rows]

    async def coverage_ties(
        self, tenant: str, domain: str, model: TieModel, now: float
    ) -> list[tuple[str, str, str, float]]:
        """(our person, their name, member, strength at `now`) for every tie into the organisation."""
        rows = await self._read_rows(q.COVERAGE_TIES, tenant=tenant, domain=domain, **strength_params(model, now))
        return [(r["email"], r["name"], r["member"], r["s"]) for r in rows]

    async def connected_members(self, tenant: str, domain: str, limit: int) -> list[str]:
        rows = await self._read(q.CONNECTED_MEMBERS, tenant=tenant, domain=domain, limit=limit)
        return list(rows[0]["emails"]) if rows else []

    # -- erasure and blocklists ------------------------------------------------------------------

    async def erase_person(self, tenant: str, email: str) -> int | None:
        """Delete a person with their ties and affiliations; the number of ties, None if unknown."""
        rows = await self._write(q.ERASE_PERSON, tenant=tenant, email=email)
        if not rows:
            return None
        await self._write(q.DELETE_EMPTY_ORGANIZATIONS, tenant=tenant, domains=rows[0]["domains"])
        return int(rows[0]["ties"])

    async def delete_ties(self, rows: Sequence[dict[str, Any]]) -> None:
        """Delete the ties of (tenant, a, b) rows, if they are still there."""
        if rows:
            await self._write(q.DELETE_TIES, rows=list(rows))

    async def people_at_domain(self, tenant: str, domain: str) -> list[str]:
        return [r["email"] for r in await self._read(q.PEOPLE_AT_DOMAIN, tenant=tenant, domain=domain)]

    async def block(self, tenant: str, value: str, kind: str) -> dict[str, Any]:
        rows = await self._write(q.BLOCK, tenant=tenant, value=value, kind=kind, now=time.time())
        return rows[0]

    async def unblock(self, tenant: str, value: str) -> bool:
        rows = await self._write(q.UNBLOCK, tenant=tenant, value=value)
        return bool(rows and rows[0]["removed"])

    async def blocklist(self, tenant: str) -> list[dict[str, Any]]:
        return await self._read(q.BLOCKLIST, tenant=tenant)

    async def all_blocklists(self) -> dict[str, frozenset[str]]:
        """Every tenant's blocked addresses and domains, for the stream workers."""
        found: dict[str, set[str]] = {}
        for row in await self._read(q.ALL_BLOCKLISTS):
            found.setdefault(row["tenant"], set()).add(row["value"])
        return {tenant: frozenset(values) for tenant, values in found.items()}

    # -- API keys --------------------------------------------------------------------------------

    async def add_api_key(self, tenant: str) -> tuple[str, str] | None:
        """A new key for an existing tenant: (key id, key); None if there is no such tenant."""
        from tiegraph.graph.neo4j import hash_api_key

        key = "tg_" + secrets.token_urlsafe(32)
        rows = await self._write(q.ADD_KEY, name=tenant, key_hash=hash_api_key(key), now=time.time())
        return (rows[0]["id"], key) if rows else None

    async def api_keys(self, tenant: str) -> list[dict[str, Any]]:
        """The tenant's keys by id (a prefix of the stored hash: not secret), newest last."""
        return await self._read(q.KEYS, name=tenant)

    async def revoke_api_key(self, tenant: str, key_id: str) -> bool:
        if len(key_id) < 8:  # a short prefix could match several keys
            return False
        rows = await self._write(q.REVOKE_KEY, name=tenant, id=key_id, now=time.time())
        return bool(rows and rows[0]["revoked"])
