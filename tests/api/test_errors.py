"""HTTP contract of errors and auth, against the real Neo4j of the integration stack."""

from __future__ import annotations

import httpx
import pytest

from tests.stack import Stack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def key(stack: Stack) -> str:
    return stack.create_tenant("api-errors", "errors.example")


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer tg_wrong"}, {"Authorization": "Basic abc"}])
async def test_missing_or_wrong_key_is_401_json(api: httpx.AsyncClient, headers: dict[str, str]) -> None:
    response = await api.get("/v1/people/a@errors.example/contacts", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert response.headers["www-authenticate"] == "Bearer"


async def test_unknown_person_is_404_json(api: httpx.AsyncClient, key: str) -> None:
    response = await api.get("/v1/people/nobody@errors.example/contacts", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 404
    assert response.json() == {
        "error": "person_not_found",
        "message": "no person 'nobody@errors.example' in this tenant",
    }


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/people/not-an-address/contacts", {}),
        ("/v1/people/a@errors.example/contacts", {"limit": "0"}),
        ("/v1/people/a@errors.example/contacts", {"as_of": "yesterday-ish"}),
    ],
)
async def test_bad_input_is_422_json(api: httpx.AsyncClient, key: str, path: str, params: dict[str, str]) -> None:
    response = await api.get(path, params=params, headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 422
    assert response.json()["error"] in {"invalid_request", "invalid_email"}


async def test_health_and_readiness(api: httpx.AsyncClient) -> None:
    assert (await api.get("/healthz")).json() == {"status": "ok", "checks": {}}
    ready = await api.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {"neo4j": "ok", "kafka": "ok", "worker": "ok"}


async def test_openapi_document_lists_the_v1_endpoints(api: httpx.AsyncClient) -> None:
    paths = (await api.get("/openapi.json")).json()["paths"]
    for path in ("/v1/people/{email}/contacts", "/v1/ties/{a}/{b}", "/v1/stats", "/v1/ops/lag", "/healthz", "/readyz"):
        assert path in paths
