"""The FastAPI application: built from settings, one Neo4j driver for its lifetime."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from tiegraph import __version__
from tiegraph.api.errors import install_error_handlers
from tiegraph.api.routes import admin, network, ops, people
from tiegraph.deployment import connect_graph
from tiegraph.settings import Settings


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        graph = connect_graph(settings)
        app.state.graph = graph
        app.state.settings = settings
        try:
            yield
        finally:
            await graph.close()

    app = FastAPI(
        title="tiegraph",
        version=__version__,
        description="Who knows whom, how well and why: relationship intelligence from mail and calendar metadata.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.include_router(people.router)
    app.include_router(ops.router)
    app.include_router(network.router)
    app.include_router(admin.router)
    return app
