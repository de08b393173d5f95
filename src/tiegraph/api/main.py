"""The FastAPI application: built from settings, one Neo4j driver for its lifetime."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from tiegraph import __version__
from tiegraph.api.errors import install_error_handlers
from tiegraph.api.routes import ops, people
from tiegraph.graph.neo4j import GraphStore
from tiegraph.settings import Settings


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        graph = GraphStore.connect(settings.neo4j_uri, settings.neo4j_user, settings.neo4j_password.get_secret_value())
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
    return app
