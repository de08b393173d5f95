"""People and their ties."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from tiegraph.api.deps import GraphDep, ModelDep, NowDep, TenantDep, as_email
from tiegraph.api.errors import ApiError
from tiegraph.api.schemas import Awaiting, AwaitingReply, Contacts, ErrorBody, Person, TieView
from tiegraph.api.views import contact_view, explain, iso, person_view
from tiegraph.graph.neo4j import GraphStore

router = APIRouter(
    prefix="/v1",
    tags=["people"],
    responses={401: {"model": ErrorBody}, 404: {"model": ErrorBody}, 422: {"model": ErrorBody}},
)


async def _known_person(graph: GraphStore, tenant: str, email: str) -> tuple[str, dict[str, Any]]:
    """The normalised address and the person's row; 404 for people this tenant does not have."""
    address = as_email(email)
    row = await graph.person(tenant, address)
    if row is None:
        raise ApiError(404, "person_not_found", f"no person {email!r} in this tenant")
    return address, row


@router.get("/people/{email}", response_model=Person)
async def get_person(email: str, tenant: TenantDep, graph: GraphDep) -> Person:
    """A person of the caller's tenant: organisation, internal or not, number of ties."""
    _, row = await _known_person(graph, tenant.name, email)
    return person_view(row)


@router.get("/people/{email}/contacts", response_model=Contacts)
async def get_contacts(
    email: str,
    tenant: TenantDep,
    graph: GraphDep,
    model: ModelDep,
    now: NowDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> Contacts:
    """A person's contacts, strongest first, each with strength, band and evidence."""
    address, row = await _known_person(graph, tenant.name, email)
    # Ranked and cut in Neo4j with the same formula (groups left out there too), explained here.
    contacts = [
        contact_view(r, tie, address, now, model)
        for r, tie in await graph.strongest_contacts(tenant.name, address, model, now, limit)
    ]
    contacts.sort(key=lambda c: (-c.strength, c.email))
    return Contacts(person=person_view(row), as_of=iso(now) or "", contacts=contacts)


@router.get("/people/{email}/awaiting-reply", response_model=AwaitingReply)
async def get_awaiting_reply(
    email: str,
    tenant: TenantDep,
    graph: GraphDep,
    model: ModelDep,
    now: NowDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> AwaitingReply:
    """Conversations where the last message came to this person and they have not answered, newest first."""
    address, row = await _known_person(graph, tenant.name, email)
    awaiting = []
    for contact, tie in await graph.awaiting_reply(tenant.name, address, limit):
        score, _ = explain(tie, address, now, model)
        awaiting.append(
            Awaiting(
                email=contact["email"],
                name=contact["name"],
                organization=contact["organization"],
                internal=contact["internal"],
                conversations=contact["owed"],
                last_message_at=iso(contact["since"]) or "",
                strength=score.strength,
                band=score.band,
            )
        )
    return AwaitingReply(person=person_view(row), as_of=iso(now) or "", awaiting=awaiting)


@router.get("/ties/{a}/{b}", response_model=TieView)
async def get_tie(a: str, b: str, tenant: TenantDep, graph: GraphDep, model: ModelDep, now: NowDep) -> TieView:
    """One tie, explained from `a`'s side."""
    first, second = as_email(a), as_email(b)
    tie = await graph.tie(tenant.name, first, second)
    if tie is None:
        raise ApiError(404, "tie_not_found", f"{a!r} and {b!r} have no tie in this tenant")
    score, evidence = explain(tie, first, now, model)
    return TieView(a=first, b=second, as_of=iso(now) or "", strength=score.strength, band=score.band, evidence=evidence)
