"""The ops page for operators (`GET /ops`) and the JSON it reads.

Operators see every tenant, so these routes do not take a tenant's API key: they take the
operator token (TIEGRAPH_OPS_TOKEN) as `Authorization: Bearer <token>`, or once as `/ops?token=`
which sets an HttpOnly cookie for the page's own requests. With no token configured the routes
are open; the settings refuse that in production.
"""

from __future__ import annotations

import hmac
import time
from importlib import resources
from typing import Annotated, Any

from fastapi import APIRouter, Cookie, Depends, Header, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from tiegraph.api.deps import GraphDep, SettingsDep
from tiegraph.api.errors import ApiError
from tiegraph.api.opspage import render_page
from tiegraph.errors import GraphUnavailable, StreamUnavailable
from tiegraph.operations import dead_letters_report, lag_report

router = APIRouter(tags=["ops"])

COOKIE = "tiegraph_ops"
STATIC = {
    "uPlot.iife.min.js": "text/javascript",
    "uPlot.min.css": "text/css",
    "ops.js": "text/javascript",
    "uPlot.LICENSE": "text/plain",
}


def _matches(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


async def require_operator(
    settings: SettingsDep,
    authorization: Annotated[str | None, Header()] = None,
    tiegraph_ops: Annotated[str | None, Cookie()] = None,
) -> None:
    """401 unless the request carries the operator token (open when none is configured)."""
    expected = settings.ops_token.get_secret_value()
    if not expected:
        return
    scheme, _, bearer = (authorization or "").partition(" ")
    if _matches(tiegraph_ops, expected) or (scheme.lower() == "bearer" and _matches(bearer.strip(), expected)):
        return
    raise ApiError(401, "unauthorized", "operators only: open /ops?token=<TIEGRAPH_OPS_TOKEN> or send it as Bearer")


OperatorDep = Annotated[None, Depends(require_operator)]


@router.get("/ops", response_class=HTMLResponse, include_in_schema=False)
async def ops_page(
    request: Request,
    graph: GraphDep,
    settings: SettingsDep,
    token: Annotated[str | None, Query()] = None,
) -> Response:
    """Lag and freshness charts, the mailbox table and the dead letters."""
    expected = settings.ops_token.get_secret_value()
    if expected and _matches(token, expected):
        redirect = RedirectResponse("/ops", status_code=303)  # keep the token out of the address bar
        redirect.set_cookie(COOKIE, expected, httponly=True, samesite="strict", path="/")
        return redirect
    await require_operator(settings, request.headers.get("authorization"), request.cookies.get(COOKIE))
    now = time.time()
    report: dict[str, Any] | None = None
    lag_error = letters_error = None
    letters: dict[str, Any] | None = None
    try:
        report = await lag_report(settings, graph, now)
    except StreamUnavailable as exc:
        lag_error = str(exc)
    try:
        letters = await dead_letters_report(settings)
    except StreamUnavailable as exc:
        letters_error = str(exc)
    try:
        mailboxes = await graph.mailboxes()
    except GraphUnavailable:
        mailboxes = []
    return HTMLResponse(render_page(report, lag_error, mailboxes, letters, letters_error, now))


@router.get("/v1/ops/history")
async def ops_history(_: OperatorDep, request: Request, settings: SettingsDep) -> dict[str, Any]:
    """The last hour of lag and freshness samples, oldest first."""
    sampler = request.app.state.ops_sampler
    return {"sample_seconds": settings.ops_sample_seconds, "samples": sampler.history.samples()}


@router.get("/v1/ops/dead-letters")
async def ops_dead_letters(
    _: OperatorDep, settings: SettingsDep, latest: Annotated[int, Query(ge=1, le=500)] = 50
) -> dict[str, Any]:
    """Dead-letter counts per stage and reason over the tail of the topic, and the newest letters."""
    return await dead_letters_report(settings, latest)


@router.get("/v1/ops/mailboxes")
async def ops_mailboxes(_: OperatorDep, graph: GraphDep) -> dict[str, Any]:
    """Every connected mailbox with its sync state and last error."""
    return {"mailboxes": await graph.mailboxes()}


@router.get("/ops/static/{name}", include_in_schema=False)
async def ops_static(name: str) -> Response:
    """The page's script, style and the vendored chart library: served locally, no CDN."""
    if name not in STATIC:
        raise ApiError(404, "not_found", f"no static file {name!r}")
    body = resources.files("tiegraph.api").joinpath("static", name).read_bytes()
    return Response(body, media_type=STATIC[name], headers={"Cache-Control": "max-age=3600"})
