"""JSON errors with a stable `error` code everywhere, including FastAPI's own 404 and 422."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from tiegraph.errors import GraphUnavailable, StreamUnavailable

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    422: "invalid_request",
}


class ApiError(Exception):
    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message


def _body(error: str, message: str) -> dict[str, str]:
    return {"error": error, "message": message}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse(_body(exc.error, exc.message), status_code=exc.status, headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(_body(_CODES.get(exc.status_code, "error"), str(exc.detail)), status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return JSONResponse(_body("invalid_request", problems), status_code=422)

    @app.exception_handler(GraphUnavailable)
    async def graph_down(_: Request, exc: GraphUnavailable) -> JSONResponse:
        return JSONResponse(_body("graph_unavailable", str(exc)), status_code=503)

    @app.exception_handler(StreamUnavailable)
    async def stream_down(_: Request, exc: StreamUnavailable) -> JSONResponse:
        return JSONResponse(_body("stream_unavailable", str(exc)), status_code=503)
