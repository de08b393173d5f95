"""Stats, lag, liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from tiegraph.api.deps import GraphDep, SettingsDep, TenantDep
from tiegraph.api.schemas import ErrorBody, Health, Lag, Stats
from tiegraph.deployment import topic_names
from tiegraph.errors import GraphUnavailable, StreamUnavailable
from tiegraph.streams.lag import read_lag, summarize

router = APIRouter(tags=["ops"])


@router.get("/v1/stats", response_model=Stats, responses={401: {"model": ErrorBody}})
async def get_stats(tenant: TenantDep, graph: GraphDep) -> Stats:
    """Distinct messages and meetings ingested, people, organisations, ties, dead letters."""
    return Stats(tenant=tenant.name, **await graph.stats(tenant.name))


@router.get("/v1/ops/lag", response_model=Lag, responses={401: {"model": ErrorBody}})
async def get_lag(_: TenantDep, settings: SettingsDep) -> Lag:
    """Consumer lag of the pipeline's consumer group on every topic and partition."""
    rows = await read_lag(settings.kafka_bootstrap, settings.app_id, topic_names(settings).all())
    return Lag.model_validate(summarize(rows))


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The process is alive."""
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses={503: {"model": Health}})
async def readyz(graph: GraphDep, settings: SettingsDep) -> Health | JSONResponse:
    """Neo4j and Kafka answer; 503 with the failing check otherwise."""
    checks: dict[str, str] = {}
    try:
        await graph.ping()
        checks["neo4j"] = "ok"
    except GraphUnavailable as exc:
        checks["neo4j"] = str(exc)
    try:
        await read_lag(settings.kafka_bootstrap, settings.app_id, [])
        checks["kafka"] = "ok"
    except StreamUnavailable as exc:
        checks["kafka"] = str(exc)
    ready = all(v == "ok" for v in checks.values())
    body = Health(status="ready" if ready else "unavailable", checks=checks)
    return body if ready else JSONResponse(body.model_dump(), status_code=503)
