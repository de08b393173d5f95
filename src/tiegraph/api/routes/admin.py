"""Erasure and per-tenant blocklists."""

from __future__ import annotations

from fastapi import APIRouter

from tiegraph import erasure
from tiegraph.api.deps import GraphDep, SettingsDep, TenantDep, as_email
from tiegraph.api.errors import ApiError
from tiegraph.api.schemas import ErrorBody
from tiegraph.api.schemas_network import BlockEntry, Blocklist, BlockResult, Erasure
from tiegraph.core.blocklist import InvalidBlockEntry, block_entry
from tiegraph.streams.erase import alias_forgetter, stream_forgetter

router = APIRouter(
    prefix="/v1",
    tags=["privacy"],
    responses={401: {"model": ErrorBody}, 404: {"model": ErrorBody}, 422: {"model": ErrorBody}},
)


def _entry(raw: str) -> str:
    try:
        return block_entry(raw)[0]
    except InvalidBlockEntry as exc:
        raise ApiError(422, "invalid_block_entry", str(exc)) from exc


@router.delete("/people/{email}", response_model=Erasure)
async def delete_person(email: str, tenant: TenantDep, graph: GraphDep, settings: SettingsDep) -> Erasure:
    """Erase a person: their node, ties and affiliations go, and the address is blocked so
    future mail with it is dropped. 404 if this tenant has no such person."""
    address = as_email(email)
    if await graph.person(tenant.name, address) is None:
        raise ApiError(404, "person_not_found", f"no person {email!r} in this tenant")
    ties = await erasure.erase_person(
        graph, tenant.name, address, stream_forgetter(settings), alias_forgetter(settings)
    )
    return Erasure(email=address, erased=ties is not None, ties=ties or 0, blocked=True)


@router.get("/blocklist", response_model=Blocklist)
async def get_blocklist(tenant: TenantDep, graph: GraphDep) -> Blocklist:
    """The tenant's blocked addresses and domains."""
    entries = [BlockEntry(**row) for row in await graph.blocklist(tenant.name)]
    return Blocklist(tenant=tenant.name, entries=entries)


@router.put("/blocklist/{entry}", response_model=BlockResult)
async def put_blocklist_entry(entry: str, tenant: TenantDep, graph: GraphDep, settings: SettingsDep) -> BlockResult:
    """Block an address or a domain (and its subdomains): the people it covers are erased now,
    and future mail with them is dropped. Idempotent."""
    _entry(entry)
    blocked = await erasure.block(graph, tenant.name, entry, stream_forgetter(settings), alias_forgetter(settings))
    return BlockResult(value=blocked.value, kind=blocked.kind, erased_people=blocked.erased_people)


@router.delete("/blocklist/{entry}", response_model=BlockEntry)
async def delete_blocklist_entry(entry: str, tenant: TenantDep, graph: GraphDep) -> BlockEntry:
    """Unblock: new mail counts again; erased data does not come back. 404 if it was not blocked."""
    value, kind = block_entry(_entry(entry))
    if not await erasure.unblock(graph, tenant.name, value):
        raise ApiError(404, "not_blocked", f"{entry!r} is not on this tenant's blocklist")
    return BlockEntry(value=value, kind=kind)
