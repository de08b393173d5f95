"""Erasure and blocklists: remove people from a tenant's graph and keep them out of it.

Order matters: the address is blocked first (workers then drop new mail with it once their tenant
directory refreshes), the worker state and compacted topic are told to forget each of the person's
ties (streams/erase.py), and the graph goes last, so a failure part-way can simply be retried.
The raw mail topic cannot be rewritten: its retention bounds how long the address stays there
(README "Erasure and blocklists").
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from tiegraph.core.blocklist import block_entry
from tiegraph.graph.neo4j import GraphStore

# Sends the erase commands to the stream (none in tests of the graph alone): (tenant, the blocked
# address or domain, the erased person's pairs).
ForgetTies = Callable[[str, str, list[tuple[str, str]]], Awaitable[object]]
# Sends tombstones for a tenant's alias records (aliases.v1 is compacted: without one, an erased
# address would stay there for good).
ForgetAliases = Callable[[str, list[str]], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class Blocked:
    value: str
    kind: str
    erased_people: int


async def _erase(
    graph: GraphStore, tenant: str, email: str, forget: ForgetTies | None, forget_aliases: ForgetAliases | None
) -> int | None:
    """The number of ties the person had (counted first: the worker may delete them meanwhile).
    Alias records naming the person (as the alias or as its owner) are forgotten too."""
    pairs = [(email, row["email"]) for row, _ in await graph.contacts(tenant, email)]
    if forget is not None:  # also without ties: the list-reply join may know them as an author
        await forget(tenant, email, pairs)
    aliases = [a.alias for a in await graph.aliases(tenant) if email in (a.alias, a.owner)]
    if forget_aliases is not None and aliases:
        await forget_aliases(tenant, aliases)
    return None if await graph.erase_person(tenant, email) is None else len(pairs)


async def erase_person(
    graph: GraphStore,
    tenant: str,
    email: str,
    forget: ForgetTies | None = None,
    forget_aliases: ForgetAliases | None = None,
) -> int | None:
    """Block the address, forget its ties and aliases on the stream, delete the person with their
    ties and alias links; the number of ties deleted, None if the tenant has no such person."""
    await graph.block(tenant, email, "address")
    return await _erase(graph, tenant, email, forget, forget_aliases)


async def block(
    graph: GraphStore,
    tenant: str,
    raw: str,
    forget: ForgetTies | None = None,
    forget_aliases: ForgetAliases | None = None,
) -> Blocked:
    """Add an address or domain to the tenant's blocklist and erase the people it covers."""
    value, kind = block_entry(raw)
    await graph.block(tenant, value, kind)
    people = [value] if kind == "address" else await graph.people_at_domain(tenant, value)
    if forget is not None and kind == "domain":  # list authors there who are in no tie
        await forget(tenant, value, [])
    erased = 0
    for email in people:
        if await _erase(graph, tenant, email, forget, forget_aliases) is not None:
            erased += 1
    return Blocked(value, kind, erased)


async def unblock(graph: GraphStore, tenant: str, raw: str) -> bool:
    """Take an entry off the blocklist (erased data does not come back; new mail counts again)."""
    value, _ = block_entry(raw)
    return await graph.unblock(tenant, value)
