"""Erasure and blocklists: remove people from a tenant's graph and keep them out of it.

The graph part is immediate. Future ingestion drops blocked addresses once the workers' tenant
directory has refreshed (streams/tenants.py, core/blocklist.py). The raw mail topic cannot be
rewritten: its retention bounds how long a blocked address remains there (README "Privacy").
"""

from __future__ import annotations

from dataclasses import dataclass

from tiegraph.core.blocklist import block_entry
from tiegraph.graph.neo4j import GraphStore


@dataclass(frozen=True, slots=True)
class Blocked:
    value: str
    kind: str
    erased_people: int


async def erase_person(graph: GraphStore, tenant: str, email: str) -> int | None:
    """Block the address, then delete the person with their ties; the number of ties, None if unknown.
    Blocking first means mail arriving meanwhile cannot re-create them once workers refresh."""
    await graph.block(tenant, email, "address")
    return await graph.erase_person(tenant, email)


async def block(graph: GraphStore, tenant: str, raw: str) -> Blocked:
    """Add an address or domain to the tenant's blocklist and purge the people it covers."""
    value, kind = block_entry(raw)
    await graph.block(tenant, value, kind)
    people = [value] if kind == "address" else await graph.people_at_domain(tenant, value)
    erased = 0
    for email in people:
        if await graph.erase_person(tenant, email) is not None:
            erased += 1
    return Blocked(value, kind, erased)


async def unblock(graph: GraphStore, tenant: str, raw: str) -> bool:
    """Take an entry off the blocklist (erased data does not come back; new mail counts again)."""
    value, _ = block_entry(raw)
    return await graph.unblock(tenant, value)
