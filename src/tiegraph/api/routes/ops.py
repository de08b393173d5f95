"""Stats, lag, liveness and readiness."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from tiegraph.api.deps import GraphDep, SettingsDep, TenantDep
from tiegraph.api.schemas import ErrorBody, Health, Lag, Stats
from tiegraph.errors import GraphUnavailable, StreamUnavailable
from tiegraph.operations import lag_report, worker_readiness
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
    """Neo4j and Kafka answer, both worker processes' heartbeats are recent and no graph writer is stuck;
    503 with the failing check otherwise. Every check answers within `ready_check_timeout_s`: a
    frozen Neo4j must make the probe fail, not hang."""
    checks = {
        "neo4j": await _bounded(_neo4j_check(graph), settings, "Neo4j"),
        "kafka": await _bounded(_kafka_check(settings), settings, "Kafka"),
        "worker": await _bounded(worker_check(graph, settings), settings, "Neo4j (worker heartbeats)"),
    }
    ready = all(v == "ok" for v in checks.values())
    body = Health(status="ready" if ready else "unavailable", checks=checks)
    return body if ready else JSONResponse(body.model_dump(), status_code=503)


async def _bounded(check: Coroutine[Any, Any, str], settings: SettingsDep, what: str) -> str:
    try:
        return await asyncio.wait_for(check, settings.ready_check_timeout_s)
    except TimeoutError:
        return f"{what} did not answer within {settings.ready_check_timeout_s:.0f} s"


async def _neo4j_check(graph: GraphDep) -> str:
    try:
        await graph.ping()
    except GraphUnavailable as exc:
        return str(exc)
    return "ok"


async def _kafka_check(settings: SettingsDep) -> str:
    try:
        await read_lag(settings.kafka_bootstrap, settings.app_id, [])
    except StreamUnavailable as exc:
        return str(exc)
    return "ok"


async def worker_check(graph: GraphDep, settings: SettingsDep) -> str:
    """ "ok" when some graph writer and some stream-stage process of the deployment each wrote a
    heartbeat within heartbeat_max_age_s and no live worker reports a graph write waiting
    longer than write_stuck_s (operations.worker_readiness)."""
    try:
        statuses = await graph.worker_statuses(settings.app_id)
    except GraphUnavailable as exc:
        return f"cannot read worker heartbeats: {exc}"
    return worker_readiness(statuses, time.time(), settings.heartbeat_max_age_s, settings.write_stuck_s)
