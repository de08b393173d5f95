"""The Kafka broker restarted under load: SIGKILLed while `tiegraph import` produces (the import
rides it out), then killed again while the worker drains the backlog and a replay is
produced, and kept down for longer than the importer waits (the import fails clearly and is run again). The
worker must come through by itself, and the graph must equal a clean run of the same input."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.stack import Stack
from tiegraph.deployment import topic_names
from tiegraph.graph.neo4j import GraphStore
from tiegraph.services.local import LocalServices
from tiegraph.soak.snapshot import graph_differences, snapshot_graph
from tiegraph.streams import topics as t
from tiegraph.streams.lag import read_lag
from tiegraph.synth.organization import generate_mail, generate_organization, write_mbox

pytestmark = pytest.mark.integration


async def _mail_records(stack: Stack) -> int:
    """Records in mail.messages.v1 so far (every tenant's)."""
    topic = topic_names(stack.settings)[t.MAIL_MESSAGES]
    return sum(row.end for row in await read_lag(stack.settings.kafka_bootstrap, stack.settings.app_id, [topic]))


def _import(stack: Stack, mbox: Path, tenant: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tiegraph", "import", str(mbox), "--tenant", tenant],
        env={**stack.env, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def _import_under_way(stack: Stack, mbox: Path, tenant: str, **env: str) -> subprocess.Popen[str]:
    """`tiegraph import` started, once it has produced 300 records."""
    before = await _mail_records(stack)
    importer = _import(stack, mbox, tenant, **env)
    while await _mail_records(stack) < before + 300:
        assert importer.poll() is None, importer.communicate()
        await asyncio.sleep(0.05)
    assert importer.poll() is None, "the import ended before the broker could be stopped"
    return importer


async def test_kafka_restarts_under_load_leave_the_same_graph_as_a_clean_run(
    stack: Stack, graph: GraphStore, tmp_path: Path
) -> None:
    org = generate_organization(people=40, seed=21)
    mbox = tmp_path / "mail.mbox"
    write_mbox(mbox, generate_mail(org, messages=2000, seed=21))
    stack.create_tenant("kafka-clean", org.home_domain)
    stack.cli("import", str(mbox), "--tenant", "kafka-clean")
    await stack.wait_caught_up()
    clean = await snapshot_graph(graph, "kafka-clean")
    assert clean.stats["messages"] == 2000

    stack.create_tenant("kafka-restart", org.home_domain)
    services = LocalServices(stack.settings)
    try:
        importer = await _import_under_way(stack, mbox, "kafka-restart")
        services.send_signal("kafka", signal.SIGKILL)  # no controlled shutdown, no flushed segments
        await asyncio.sleep(3)
        await asyncio.to_thread(services.start_kafka)  # same data directory: the broker recovers its log
        out, err = importer.communicate(timeout=300)
        assert importer.returncode == 0, f"the import did not come through the broker restart:\n{out}\n{err}"
        assert "produced 2000" in out

        # Killed again while the worker still drains that import, and a replay is imported while the
        # broker is down for longer than the importer waits (5 s here): the importer fails, says so,
        # and is simply run again; nothing counts twice. (Killed before the replay starts: on an idle
        # machine a 2,000-message import finishes before any kill lands mid-way.)
        services.send_signal("kafka", signal.SIGKILL)
        importer = _import(stack, mbox, "kafka-restart", TIEGRAPH_PRODUCE_TIMEOUT_S="5")
        out, err = importer.communicate(timeout=120)
        assert importer.returncode == 1, f"the import did not fail with the broker down:\n{out}\n{err}"
        clear_errors = ("Kafka unreachable", "did not acknowledge", "producing to Kafka failed")
        assert any(clear in err for clear in clear_errors), err
        await asyncio.to_thread(services.start_kafka)
        stack.cli("import", str(mbox), "--tenant", "kafka-restart")
        await stack.wait_caught_up(timeout=300)
    finally:  # whatever failed, the broker is up again for the rest of the session
        await asyncio.to_thread(services.start_kafka)

    assert graph_differences(await snapshot_graph(graph, "kafka-restart"), clean) == {}
