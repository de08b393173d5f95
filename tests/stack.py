"""The real stack for integration tests: Apache Kafka and Neo4j started as local processes on
test ports (jars from Maven Central), a real `tiegraph worker`, and the API over real Neo4j.

Nothing here is mocked. The stack is started once per test session and stopped at the end.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from tiegraph.api.main import create_app
from tiegraph.deployment import connect_graph, ensure_pipeline_topics, topic_names
from tiegraph.graph.neo4j import GraphStore
from tiegraph.services.local import LocalServices
from tiegraph.settings import Settings
from tiegraph.streams.lag import wait_for_stable_group, wait_for_zero_lag

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


@dataclass
class Stack:
    settings: Settings
    env: dict[str, str]

    def cli(
        self, *args: str, check: bool = True, timeout: float = 300, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run the real `tiegraph` command line against the test stack (`env`: extra variables)."""
        result = subprocess.run(
            [sys.executable, "-m", "tiegraph", *args],
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"tiegraph {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
            )
        return result

    def create_tenant(self, name: str, *domains: str) -> str:
        args = ["tenants", "create", name, "--json"]
        for domain in domains:
            args += ["--domain", domain]
        return str(json.loads(self.cli(*args).stdout)["api_key"])

    async def wait_caught_up(self, timeout: float = 180) -> float:
        return await wait_for_zero_lag(
            self.settings.kafka_bootstrap, self.settings.app_id, topic_names(self.settings).all(), timeout=timeout
        )

    async def topic_records(self, name: str) -> list[tuple[bytes | None, bytes | None]]:
        """Every (key, value) ever written to the pipeline topic `name` (e.g. topics.ALIASES), in
        partition order; tombstones are kept (value None)."""
        consumer = AIOKafkaConsumer(
            topic_names(self.settings)[name],
            bootstrap_servers=self.settings.kafka_bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        try:
            found: list[tuple[bytes | None, bytes | None]] = []
            while batch := await consumer.getmany(timeout_ms=2000):
                found += [(r.key, r.value) for records in batch.values() for r in records]
            return found
        finally:
            await consumer.stop()


def test_port(default: int) -> int:
    """A test port, shifted by TIEGRAPH_TEST_PORT_OFFSET so that several checkouts can run their
    suites side by side on one machine."""
    return default + int(os.environ.get("TIEGRAPH_TEST_PORT_OFFSET", "0"))


def stop_process(process: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM, then SIGKILL if it has not exited within `timeout` seconds."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def shared_data(*parts: str) -> Path:
    """A path in ../shared/data, or a skip that says why (a fresh clone has no ../shared)."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} not found: the real-data tests need ../shared/data beside the repository")
    return path


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    offset = os.environ.get("TIEGRAPH_TEST_PORT_OFFSET", "0")
    home = ROOT / ".tiegraph" / ("test" if offset == "0" else f"test-{offset}")  # side-by-side runs stay apart
    shutil.rmtree(home, ignore_errors=True)
    run_id = uuid.uuid4().hex[:8]
    port = test_port
    env = {
        **os.environ,
        "TIEGRAPH_HOME": str(home),
        "TIEGRAPH_LIB_DIR": str(ROOT / ".tiegraph" / "lib"),
        "TIEGRAPH_KAFKA_BOOTSTRAP": f"127.0.0.1:{port(19092)}",
        "TIEGRAPH_KAFKA_CONTROLLER_PORT": str(port(19093)),
        "TIEGRAPH_NEO4J_URI": f"bolt://127.0.0.1:{port(17687)}",
        "TIEGRAPH_APP_ID": f"tiegraph-test-{run_id}",
        "TIEGRAPH_WORKER_WEB_PORT": str(port(16066)),
        "TIEGRAPH_API_PORT": str(port(18000)),
        "TIEGRAPH_NEO4J_HEAP_MB": "768",
        "TIEGRAPH_KAFKA_HEAP_MB": "384",
        "TIEGRAPH_STALL_SECONDS": "20",
        "TIEGRAPH_KAFKA_SESSION_TIMEOUT_S": os.environ.get("TIEGRAPH_TEST_SESSION_TIMEOUT_S", "8"),
        "TIEGRAPH_WORKER_METRICS_PORT": str(port(19464)),
        "TIEGRAPH_OPS_SAMPLE_SECONDS": "2",
        # Ties past 8 interactions keep their ids apart (core/ties.py): the crash, rebalance and
        # erasure tests then cover that storage as well as the one inside a tie's state.
        "TIEGRAPH_TIE_INLINE_IDS": "8",
    }
    saved = {k: os.environ.get(k) for k in env if k.startswith("TIEGRAPH_")}
    os.environ.update({k: v for k, v in env.items() if k.startswith("TIEGRAPH_")})
    settings = Settings()
    services = LocalServices(settings)
    try:
        services.up()
        asyncio.run(ensure_pipeline_topics(settings))
        services.spawn_process("worker", [sys.executable, "-m", "tiegraph", "worker"])
        asyncio.run(wait_for_stable_group(settings.kafka_bootstrap, settings.app_id))
        yield Stack(settings, env)
    finally:
        services.down()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="session")
async def graph(stack: Stack) -> AsyncIterator[GraphStore]:
    store = connect_graph(stack.settings)
    yield store
    await store.close()


@pytest.fixture(scope="session")
async def api(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    """The HTTP API in-process (ASGI) over the real Neo4j and Kafka."""
    app = create_app(stack.settings)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://t.test") as client,
    ):
        yield client
