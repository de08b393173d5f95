"""A slow (not stopped) Neo4j: first a transaction holds the locks of the people the worker
writes, then the server process is frozen (SIGSTOP) and thawed (SIGCONT) again and again while
the backlog drains. The writer must wait, commit nothing it has not written, say so in /readyz,
and end with exactly the graph of a clean run."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from neo4j import AsyncGraphDatabase

from tests.stack import Stack
from tiegraph.api.main import create_app
from tiegraph.graph.neo4j import GraphStore
from tiegraph.services.local import LocalServices
from tiegraph.settings import Settings
from tiegraph.soak.snapshot import graph_differences, snapshot_graph
from tiegraph.synth.organization import generate_mail, generate_organization, write_mbox

pytestmark = pytest.mark.integration

FREEZES = 5


@asynccontextmanager
async def _api(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The API in-process with strict readiness: stuck after 3 s, checks answered within 1 s."""
    app = create_app(settings.model_copy(update={"write_stuck_s": 3.0, "ready_check_timeout_s": 1.0}))
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://t.test") as client,
    ):
        yield client


async def _readiness_until(api: httpx.AsyncClient, check: str, says: str, timeout: float = 90) -> dict[str, Any]:
    """Poll /readyz until `check` reports `says`; that answer."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        response = await api.get("/readyz")
        body: dict[str, Any] = response.json()
        if response.status_code == 503 and says in body["checks"][check]:
            return body
        assert asyncio.get_running_loop().time() < deadline, f"/readyz never said {says!r}: {body}"
        await asyncio.sleep(0.5)


async def test_slow_neo4j_holds_the_writer_back_says_so_and_loses_nothing(
    stack: Stack, graph: GraphStore, tmp_path: Path
) -> None:
    org = generate_organization(people=40, seed=23)
    mbox = tmp_path / "mail.mbox"
    write_mbox(mbox, generate_mail(org, messages=3000, seed=23))
    stack.create_tenant("slow-clean", org.home_domain)
    stack.cli("import", str(mbox), "--tenant", "slow-clean")
    await stack.wait_caught_up()
    clean = await snapshot_graph(graph, "slow-clean")

    stack.create_tenant("slow-neo4j", org.home_domain)
    emails = [person.email for person in [*org.internal, *org.external]]
    driver = AsyncGraphDatabase.driver(stack.settings.neo4j_uri)
    services = LocalServices(stack.settings)
    try:
        async with _api(stack.settings) as api:
            async with driver.session() as session:
                # Uncommitted MERGEs of the tenant's people hold their unique-index locks: every
                # tie write touching one of them waits until this transaction ends.
                lock = await session.begin_transaction()
                await lock.run("UNWIND $emails AS e MERGE (:Person {tenant: 'slow-neo4j', email: e})", emails=emails)
                stack.cli("import", str(mbox), "--tenant", "slow-neo4j")
                body = await _readiness_until(api, "worker", "a graph write has waited")
                with pytest.raises(TimeoutError):  # the writer holds its offsets back meanwhile
                    await stack.wait_caught_up(timeout=5)
                await lock.rollback()
            assert body["status"] == "unavailable"

            for _ in range(FREEZES):  # a stuttering server while the backlog drains
                services.send_signal("neo4j", signal.SIGSTOP)
                try:
                    await _readiness_until(api, "neo4j", "did not answer", timeout=10)
                finally:
                    services.send_signal("neo4j", signal.SIGCONT)
                await asyncio.sleep(1.5)
    finally:
        services.send_signal("neo4j", signal.SIGCONT)
        await driver.close()
    await stack.wait_caught_up(timeout=240)

    assert graph_differences(await snapshot_graph(graph, "slow-neo4j"), clean) == {}
