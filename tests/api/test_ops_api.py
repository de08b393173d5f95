"""HTTP contract of the ops endpoints, against the real stack (no operator token configured here:
the development default, where the ops routes are open)."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.integration


async def test_request_latency_is_labelled_by_route_template(api: httpx.AsyncClient) -> None:
    await api.get("/v1/people/someone@ops.example")  # 401: no key
    metrics = await api.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    assert 'route="/v1/people/{email}",status="401"' in metrics.text
    assert "someone@ops.example" not in metrics.text  # raw paths would be unbounded labels


async def test_ops_bad_input_is_422_json_and_unknown_static_is_404(api: httpx.AsyncClient) -> None:
    response = await api.get("/v1/ops/dead-letters", params={"latest": "0"})
    assert response.status_code == 422 and response.json()["error"] == "invalid_request"
    missing = await api.get("/ops/static/../../settings.py")
    assert missing.status_code == 404 and "error" in missing.json()
    chart = await api.get("/ops/static/uPlot.iife.min.js")
    assert chart.status_code == 200 and "uPlot" in chart.text


async def test_ops_json_endpoints_answer_with_real_readings(api: httpx.AsyncClient) -> None:
    history = (await api.get("/v1/ops/history")).json()
    assert history["sample_seconds"] > 0 and isinstance(history["samples"], list)
    assert isinstance((await api.get("/v1/ops/mailboxes")).json()["mailboxes"], list)
    letters = (await api.get("/v1/ops/dead-letters")).json()
    assert set(letters) == {"read", "reasons", "latest"}
