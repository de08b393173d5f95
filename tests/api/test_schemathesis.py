"""Schemathesis against the OpenAPI document: generated requests to every operation, with a valid
key, over the real Neo4j of the test stack; no request may end in a 5xx.

The API runs in this process (uvicorn on a thread with its own event loop, where the app's Neo4j
driver lives), and Schemathesis calls it over loopback.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import AsyncIterator

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, settings

from tests import stack as test_stack
from tests.api.graphs import tie, write
from tests.stack import Stack
from tiegraph.api.main import create_app
from tiegraph.graph.neo4j import GraphStore
from tiegraph.settings import Settings

pytestmark = pytest.mark.integration

# The document as the app publishes it (building it needs no database).
schema = schemathesis.openapi.from_dict(create_app(Settings()).openapi())


@pytest.fixture(scope="module")
async def fuzzed_api(stack: Stack, graph: GraphStore) -> AsyncIterator[tuple[str, str]]:
    """(base URL of the running API, a valid key of a tenant with a few ties)."""
    key = stack.create_tenant("fuzz", "fuzz.example")
    people = ["a@fuzz.example", "b@fuzz.example", "c@other.example", "d@other.example"]
    await write(graph, [tie("fuzz", x, y, 3, 2) for x, y in itertools.pairwise(people)], ("fuzz.example",))
    port = test_stack.test_port(18001)  # beside the test API port, shifted like it
    server = uvicorn.Server(uvicorn.Config(create_app(stack.settings), host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the API did not start"
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    assert httpx.get(f"{base}/healthz").status_code == 200
    assert httpx.get(f"{base}/openapi.json").json() == schema.raw_schema
    yield base, key
    server.should_exit = True
    thread.join(timeout=10)


@schema.parametrize()
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_request_ends_in_a_server_error(fuzzed_api: tuple[str, str], case: schemathesis.Case) -> None:
    base, key = fuzzed_api
    response = case.call(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30)
    assert response.status_code < 500, f"{case.method} {case.formatted_path} {case.query}: {response.text[:500]}"
