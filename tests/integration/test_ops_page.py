"""The ops page in a real browser: headless Debian Chromium against a real `tiegraph api` process
over the test stack. Checks that both charts draw from real history, that the mailbox table and
the dead-letter reasons render, and saves a screenshot under .tiegraph/test/."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.stack import ROOT, Stack, stop_process
from tests.stack import test_port as shifted_port  # imported as test_* it would be collected
from tiegraph.graph.neo4j import GraphStore
from tiegraph.synth.organization import generate_mail, generate_organization, write_mbox

pytestmark = pytest.mark.integration

OPS_TOKEN = "ops-test-token"
SCREENSHOT = ROOT / ".tiegraph" / "test" / "ops-page.png"


@pytest.fixture(scope="module")
def api_server(stack: Stack) -> Iterator[str]:
    """A real `tiegraph api` on a test port with an operator token; stopped at the end."""
    port = shifted_port(18100)
    env = {**stack.env, "TIEGRAPH_OPS_TOKEN": OPS_TOKEN}
    log = (ROOT / ".tiegraph" / "test" / "ops-api.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "tiegraph", "api", "--port", str(port)], env=env, stdout=log, stderr=log
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the API did not start; see {log.name}")
            time.sleep(0.5)
        yield base
    finally:
        stop_process(process, timeout=20)
        log.close()


def chromium(*args: str) -> str:
    """Run headless Chromium (installed by scripts/setup) and return its stdout."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        pytest.fail("chromium is not installed: run ./scripts/setup (it installs the Debian package)")
    profile = ROOT / ".tiegraph" / "test" / "chromium-profile"
    argv = [binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
    argv += [f"--user-data-dir={profile}", "--window-size=1280,1800", "--virtual-time-budget=15000", *args]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False, env={**os.environ})
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


async def test_ops_page_renders_charts_mailboxes_and_dead_letters(
    stack: Stack, graph: GraphStore, api_server: str, tmp_path: Path
) -> None:
    now = time.time()
    await graph.put_mailbox(
        {"tenant": "pageco", "id": "imap:ann", "provider": "imap", "owner": "ann@pageco.example", "state": "live"}
        | {"state_since": now - 3600, "last_success_at": now - 30, "last_error": "", "messages": 1234, "events": 0}
    )
    await graph.put_mailbox(
        {"tenant": "pageco", "id": "gmail:bob", "provider": "gmail", "owner": "bob@pageco.example"}
        | {"state": "auth_failed", "state_since": now - 600, "last_success_at": now - 7200}
        | {"last_error": "invalid_grant: token revoked", "messages": 88, "events": 12}
    )
    stack.create_tenant("pageco", "tiegraph-demo.com")
    mail = tmp_path / "mail"
    mail.mkdir()
    (mail / "not-mail.eml").write_bytes(b"\x00\x01\x02 binary, not a message")
    write_mbox(mail / "org.mbox", generate_mail(generate_organization(people=30, seed=4), messages=400, seed=8))
    stack.cli("import", str(mail), "--tenant", "pageco")
    await stack.wait_caught_up()

    assert httpx.get(f"{api_server}/ops").status_code == 401  # operators only
    assert httpx.get(f"{api_server}/v1/ops/history").status_code == 401
    auth = {"Authorization": f"Bearer {OPS_TOKEN}"}
    deadline = time.monotonic() + 60
    while len(httpx.get(f"{api_server}/v1/ops/history", headers=auth).json()["samples"]) < 3:
        assert time.monotonic() < deadline, "the sampler did not collect history"
        time.sleep(1)
    metrics = httpx.get(f"{api_server}/metrics").text
    assert 'tiegraph_mailboxes{state="auth_failed",tenant="pageco"} 1.0' in metrics
    assert 'tiegraph_mailboxes_with_error{tenant="pageco"} 1.0' in metrics

    dom = chromium("--dump-dom", f"{api_server}/ops?token={OPS_TOKEN}")
    SCREENSHOT.with_suffix(".html").write_text(dom)  # the rendered DOM beside the screenshot, for a person
    for chart in ("lag-chart", "freshness-chart"):
        drawn = re.search(rf'id="{chart}"[^>]*data-points="(\d+)"', dom)
        assert drawn is not None and int(drawn.group(1)) >= 3, f"{chart} was not drawn"
        section = dom.split(f'id="{chart}"', 1)[1][:4000]
        assert 'class="uplot' in section and "<canvas" in section
    assert re.search(r'id="chart-status">\d+ samples', dom)
    table = dom.split('class="mailboxes"', 1)[1].split("</table>", 1)[0]
    assert "bob@pageco.example" in table and "auth_failed" in table and "invalid_grant: token revoked" in table
    assert "ann@pageco.example" in table and "1234" in table
    reasons = dom.split('class="dead-letter-reasons"', 1)[1].split("</table>", 1)[0]
    assert "import" in reasons

    SCREENSHOT.unlink(missing_ok=True)
    chromium(f"--screenshot={SCREENSHOT}", f"{api_server}/ops?token={OPS_TOKEN}")
    assert SCREENSHOT.stat().st_size > 20_000
