"""Request dependencies: the graph, the settings, and the caller's tenant from its API key.

All are `async def`, even those that never wait: FastAPI runs a plain `def` dependency in a
worker thread, a hand-off that cost more than the rest of a dependency's work (~20 per request).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Header, Query, Request

from tiegraph.api.aliases import Identities
from tiegraph.api.errors import ApiError
from tiegraph.core.identity import InvalidAddress, normalize_email
from tiegraph.core.model import TieModel
from tiegraph.graph.neo4j import Caller, GraphStore, TenantInfo
from tiegraph.logs import bind_log_context
from tiegraph.settings import Settings


async def get_graph(request: Request) -> GraphStore:
    graph: GraphStore = request.app.state.graph
    return graph


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


GraphDep = Annotated[GraphStore, Depends(get_graph)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


async def get_caller(graph: GraphDep, authorization: Annotated[str | None, Header()] = None) -> Caller:
    """Who the bearer key belongs to; 401 for a missing, malformed or unknown key."""
    scheme, _, key = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise ApiError(401, "unauthorized", "send an API key as 'Authorization: Bearer <key>'")
    caller = await graph.caller(key.strip())
    if caller is None:
        raise ApiError(401, "unauthorized", "the API key is not valid")
    bind_log_context(tenant=caller.tenant.name)  # every log line of this request names its tenant
    return caller


CallerDep = Annotated[Caller, Depends(get_caller)]


async def get_tenant(caller: CallerDep) -> TenantInfo:
    """The caller's tenant (the key is looked up once per request: FastAPI caches dependencies)."""
    return caller.tenant


TenantDep = Annotated[TenantInfo, Depends(get_tenant)]


async def get_identities(caller: CallerDep) -> Identities:
    """The caller's tenant's aliases, read with the key."""
    return Identities.of(caller.aliases)


IdentitiesDep = Annotated[Identities, Depends(get_identities)]


async def get_model(tenant: TenantDep) -> TieModel:
    """The tenant's tie model: the default with the tenant's parameters applied."""
    return TieModel().with_overrides(tenant.model_overrides)


ModelDep = Annotated[TieModel, Depends(get_model)]


def as_email(raw: str) -> str:
    """A path or query address, normalised; 422 if it is not one."""
    try:
        return normalize_email(raw)
    except InvalidAddress as exc:
        raise ApiError(422, "invalid_email", str(exc)) from exc


async def get_now(
    as_of: Annotated[datetime | None, Query(description="score ties as of this time (ISO 8601); default now")] = None,
) -> float:
    """The moment to score at: decay is computed at read time, so any moment can be asked."""
    if as_of is None:
        return time.time()
    if as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=UTC)
    return as_of.timestamp()


NowDep = Annotated[float, Depends(get_now)]
