"""The network around the tenant: who knows a target, warm paths, account coverage, going cold."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Query

from tiegraph.api.aliases import folded_who_knows
from tiegraph.api.deps import GraphDep, IdentitiesDep, ModelDep, NowDep, TenantDep, as_email
from tiegraph.api.errors import ApiError
from tiegraph.api.network import Ask, coverage_of, explain_paths, find_paths, who_knows
from tiegraph.api.routes.people import _known_person
from tiegraph.api.schemas import ErrorBody
from tiegraph.api.schemas_network import ColdTie, Coverage, GoingCold, Paths, WhoKnows
from tiegraph.api.views import explain, iso, person_view
from tiegraph.core.cold import cooling
from tiegraph.core.model import DAY

router = APIRouter(
    prefix="/v1",
    tags=["network"],
    responses={401: {"model": ErrorBody}, 404: {"model": ErrorBody}, 422: {"model": ErrorBody}},
)

_DOMAIN = re.compile(r"^(?=.{3,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$")
Target = Annotated[str, Query(min_length=1, max_length=320, description="an email address or an organisation's domain")]


def as_domain(raw: str) -> str:
    domain = raw.strip().lower().rstrip(".")
    if not _DOMAIN.match(domain):
        raise ApiError(422, "invalid_domain", f"{raw!r} is not a domain")
    return domain


# Paths to a large organisation start from its best-connected members (see bench/HISTORY.md, "Query latency
# at 1M ties").
PATH_TARGETS_PER_ORGANIZATION = 50


def _parse_target(raw: str) -> tuple[str, bool]:
    """(normalised address or domain, whether it is a domain); 422 if it is neither."""
    return (as_email(raw), False) if "@" in raw else (as_domain(raw), True)


async def _require(ask: Ask, name: str, is_domain: bool) -> None:
    """404 unless the tenant has this person or organisation. Asked only when an answer came back
    empty, so a found answer costs no extra round trip."""
    if is_domain:
        if await ask.graph.organization(ask.tenant, name) is None:
            raise ApiError(404, "organization_not_found", f"no organization {name!r} in this tenant")
    elif not await ask.graph.people(ask.tenant, [name]):
        raise ApiError(404, "person_not_found", f"no person {name!r} in this tenant")


@router.get("/who-knows", response_model=WhoKnows)
async def get_who_knows(
    target: Target,
    tenant: TenantDep,
    ids: IdentitiesDep,
    graph: GraphDep,
    model: ModelDep,
    now: NowDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> WhoKnows:
    """Our people who know the target (a person, or anyone at an organisation), strongest first.
    A person's aliases fold: the answer is for the person, over all their addresses and ours."""
    ask = Ask(graph, tenant.name, model, now)
    name, is_domain = _parse_target(target)
    if not is_domain and ids.owner_of:
        name = ids.person(name)
        people = (await folded_who_knows(graph, tenant.name, name, ids, model, now))[:limit]
    else:
        people = await who_knows(ask, name, is_domain, limit)
    if not people:
        await _require(ask, name, is_domain)
    kind = "organization" if is_domain else "person"
    return WhoKnows(target=name, kind=kind, as_of=iso(now) or "", people=people)


@router.get("/paths", response_model=Paths)
async def get_paths(
    to: Target,
    tenant: TenantDep,
    ids: IdentitiesDep,
    graph: GraphDep,
    model: ModelDep,
    now: NowDep,
    source: Annotated[str | None, Query(alias="from", description="start from this person only")] = None,
    k: Annotated[int, Query(ge=1, le=10)] = 3,
    max_hops: Annotated[int, Query(ge=1, le=4)] = 3,
) -> Paths:
    """The k strongest chains of introductions to a person or anyone at an organisation.

    A chain's strength is the product of its hops' strengths; it starts at one of our people
    (or at `from`), never passes through another of ours, and ends at the first target it reaches.
    """
    ask = Ask(graph, tenant.name, model, now)
    name, is_domain = _parse_target(to)
    start = as_email(source) if source is not None else None
    if is_domain:
        people = await graph.connected_members(tenant.name, name, PATH_TARGETS_PER_ORGANIZATION)
    else:  # reaching any of a person's addresses reaches the person
        name = ids.person(name)
        people = ids.addresses(name)
    if not people:
        await _require(ask, name, is_domain)
    found = await find_paths(ask, people, start, k, max_hops) if people else []
    if not found:  # nothing found: say so with a 404 if the target or the start is unknown
        await _require(ask, name, is_domain)
        if start is not None:
            await _require(ask, start, False)
    kind = "organization" if is_domain else "person"
    return Paths(to=name, source=start, kind=kind, as_of=iso(now) or "", paths=await explain_paths(ask, found))


@router.get("/organizations/{domain}/coverage", response_model=Coverage)
async def get_coverage(
    domain: str,
    tenant: TenantDep,
    graph: GraphDep,
    model: ModelDep,
    now: NowDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> Coverage:
    """Who covers an account and how strongly, its key connector, and its white space."""
    ask = Ask(graph, tenant.name, model, now)
    name = as_domain(domain)
    members = await graph.organization_members(tenant.name, name)
    if not members:
        raise ApiError(404, "organization_not_found", f"no organization {domain!r} in this tenant")
    ties, names = [], dict(members)
    # Strengths computed in Cypher with the same formula as core/ties.py: no evidence is shown here.
    for ours, name_of_ours, member, strength in await graph.coverage_ties(tenant.name, name, model, now):
        names[ours] = name_of_ours
        ties.append((ours, member, strength))
    connectors, white, covered = coverage_of(members, names, ties, ask.model)
    return Coverage(
        organization=name,
        as_of=iso(now) or "",
        members=len(members),
        covered=covered,
        key_connector=connectors[0] if connectors else None,
        connectors=connectors[:limit],
        white_space=white[:limit],
    )


@router.get("/people/{email}/going-cold", response_model=GoingCold)
async def get_going_cold(
    email: str,
    tenant: TenantDep,
    graph: GraphDep,
    model: ModelDep,
    now: NowDep,
    factor: Annotated[float, Query(ge=1, le=100, description="silence this many usual intervals long")] = 3.0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> GoingCold:
    """Ties whose silence is far beyond their usual interval between contacts, most overdue first."""
    address, row = await _known_person(graph, tenant.name, email)
    cold = []
    for contact, tie in await graph.contacts(tenant.name, address):
        quiet = cooling(tie, now, factor)
        if quiet is None:
            continue
        score, _ = explain(tie, address, now, model)
        cold.append(
            ColdTie(
                email=contact["email"],
                name=contact["name"],
                organization=contact["organization"],
                strength=score.strength,
                band=score.band,
                last_contact=iso(tie.last_at) or "",
                usual_interval_days=quiet.usual_interval / DAY,
                silent_days=quiet.silence / DAY,
                ratio=quiet.ratio,
            )
        )
    cold.sort(key=lambda c: (-c.ratio, c.email))
    return GoingCold(person=person_view(row), as_of=iso(now) or "", factor=factor, ties=cold[:limit])
