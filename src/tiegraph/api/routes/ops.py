"""Stats, lag, liveness and readiness."""

from __future__ import annotations

import time

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from tiegraph.api.deps import GraphDep, SettingsDep, TenantDep
from tiegraph.api.schemas import ErrorBody, Health, Lag, Stats
from tiegraph.errors import GraphUnavailable, StreamUnavailable
from tiegraph.operations import graph_freshness, lag_report
from tiegraph.streams.lag import read_lag

router = APIRouter(tags=["ops"])


@router.get("/v1/stats", response_model=Stats, responses={401: {"model": ErrorBody}})
async def get_stats(tenant: TenantDep, graph: GraphDep) -> Stats:
    """Distinct messages and meetings ingested, people, organisations, ties, dead letters."""
    return Stats(tenant=tenant.name, **await graph.stats(tenant.name))


@router.get("/v1/ops/lag", response_model=Lag, responses={401: {"model": ErrorBody}})
async def get_lag(_: TenantDep, settings: SettingsDep, graph: GraphDep) -> Lag:
    """Consumer lag of the pipeline's consumer group on every topic and partition, and freshness."""
    return Lag.model_validate(await lag_report(settings, graph))


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The process is alive."""
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses={503: {"model": Health}})
async def readyz(graph: GraphDep, settings: SettingsDep) -> Health | JSONResponse:
    """Neo4j and Kafka answer and a worker's heartbeat is recent; 503 with the failing check otherwise."""
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
    checks["worker"] = await worker_check(graph, settings)
    ready = all(v == "ok" for v in checks.values())
    body = Health(status="ready" if ready else "unavailable", checks=checks)
    return body if ready else JSONResponse(body.model_dump(), status_code=503)


async def worker_check(graph: GraphDep, settings: SettingsDep) -> str:
    """ "ok" when some worker of the consumer group wrote a heartbeat within heartbeat_max_age_s."""
    try:
        statuses = await graph.worker_statuses(settings.app_id)
    except GraphUnavailable as exc:
        return f"cannot read worker heartbeats: {exc}"
    limit = settings.heartbeat_max_age_s
    age = graph_freshness(statuses, time.time(), limit)["heartbeat_age_s"]
    if age is None:
        return f"no worker heartbeat yet (a worker writes one every 5 s; required within {limit:.0f} s)"
    if age > limit:
        return f"newest worker heartbeat is {age:.0f} s old (required within {limit:.0f} s)"
    return "ok"
