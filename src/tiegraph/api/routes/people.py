"""People and their ties."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Query

from tiegraph.api.aliases import Identities, folded_contacts, folded_tie
from tiegraph.api.deps import GraphDep, IdentitiesDep, ModelDep, NowDep, TenantDep, as_email
from tiegraph.api.errors import ApiError
from tiegraph.api.schemas import AliasView, Awaiting, AwaitingReply, Contacts, ErrorBody, Person, TieView
from tiegraph.api.views import contact_view, explain, iso, person_view
from tiegraph.graph.neo4j import GraphStore

router = APIRouter(
    prefix="/v1",
    tags=["people"],
    responses={401: {"model": ErrorBody}, 404: {"model": ErrorBody}, 422: {"model": ErrorBody}},
)


async def _known_person(
    graph: GraphStore, tenant: str, email: str, ids: Identities | None = None
) -> tuple[str, dict[str, Any]]:
    """The person's address (an alias's owner, with `ids`) and row; 404 for people this tenant
    does not have."""
    address = as_email(email)
    if ids is not None:
        address = ids.person(address)
    row = await graph.person(tenant, address)
    if row is None:
        raise ApiError(404, "person_not_found", f"no person {email!r} in this tenant")
    return address, row


def _with_aliases(person: Person, ids: Identities) -> Person:
    aliases = [AliasView(email=a.alias, name=a.name, messages=a.messages) for a in ids.aliases_of.get(person.email, ())]
    return person.model_copy(update={"aliases": aliases})


@router.get("/people/{email}", response_model=Person)
async def get_person(
    email: str, tenant: TenantDep, ids: IdentitiesDep, graph: GraphDep, model: ModelDep, now: NowDep
) -> Person:
    """A person of the caller's tenant: organisation, internal or not, number of ties. An alias
    answers its owner, whose `aliases` lists it; `ties` then counts contacts over every address."""
    address, row = await _known_person(graph, tenant.name, email, ids)
    if len(ids.addresses(address)) > 1:
        row = {**row, "ties": len(await folded_contacts(graph, tenant.name, address, ids, model, now))}
    return _with_aliases(person_view(row), ids)


@router.get("/people/{email}/contacts", response_model=Contacts)
async def get_contacts(
    email: str,
    tenant: TenantDep,
    ids: IdentitiesDep,
    graph: GraphDep,
    model: ModelDep,
    now: NowDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> Contacts:
    """A person's contacts, strongest first, each with strength, band and evidence. Aliases fold:
    the person's and each contact's (`aliases` on each lists the addresses summed in)."""
    if not ids.owner_of:
        # Ranked and cut in Neo4j with the same formula (groups left out there too), explained
        # here; the person is read alongside (404 if unknown), one wait for both.
        address = as_email(email)
        (_, row), ranked = await asyncio.gather(
            _known_person(graph, tenant.name, email), graph.strongest_contacts(tenant.name, address, model, now, limit)
        )
        contacts = [contact_view(r, tie, address, now, model) for r, tie in ranked]
    else:  # every tie of every address, folded, then ranked here
        address, row = await _known_person(graph, tenant.name, email, ids)
        folded = await folded_contacts(graph, tenant.name, address, ids, model, now)
        contacts = [
            contact_view(r, tie, address, now, model).model_copy(update={"aliases": seen}) for r, tie, seen in folded
        ]
        row = {**row, "ties": len(folded)} if len(ids.addresses(address)) > 1 else row
    contacts.sort(key=lambda c: (-c.strength, c.email))
    person = _with_aliases(person_view(row), ids)
    return Contacts(person=person, as_of=iso(now) or "", contacts=contacts[:limit])


@router.get("/people/{email}/awaiting-reply", response_model=AwaitingReply)
async def get_awaiting_reply(
    email: str,
    tenant: TenantDep,
    ids: IdentitiesDep,
    graph: GraphDep,
    model: ModelDep,
    now: NowDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> AwaitingReply:
    """Conversations where the last message came to this person and they have not answered, newest first."""
    address, row = await _known_person(graph, tenant.name, email, ids)
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
async def get_tie(
    a: str, b: str, tenant: TenantDep, ids: IdentitiesDep, graph: GraphDep, model: ModelDep, now: NowDep
) -> TieView:
    """One tie, explained from `a`'s side. Between people with aliases it sums the ties of all
    their addresses (`folded` lists the stored ties summed)."""
    first, second = ids.person(as_email(a)), ids.person(as_email(b))
    folded: list[list[str]] = []
    if len(ids.addresses(first)) == 1 and len(ids.addresses(second)) == 1:
        tie = await graph.tie(tenant.name, first, second)
    elif first != second and (found := await folded_tie(graph, tenant.name, first, second, ids, model)):
        tie, folded = found
    else:
        tie = None
    if tie is None:
        raise ApiError(404, "tie_not_found", f"{a!r} and {b!r} have no tie in this tenant")
    score, evidence = explain(tie, first, now, model)
    return TieView(
        a=first,
        b=second,
        as_of=iso(now) or "",
        strength=score.strength,
        band=score.band,
        evidence=evidence,
        folded=folded,
    )
