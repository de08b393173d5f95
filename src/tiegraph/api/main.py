"""The FastAPI application: built from settings, one Neo4j driver for its lifetime."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from tiegraph import __version__
from tiegraph.api.errors import install_error_handlers
from tiegraph.api.monitoring import OpsSampler, install_monitoring
from tiegraph.api.routes import admin, mailboxes, network, ops, opspage, people
from tiegraph.deployment import connect_graph
from tiegraph.settings import Settings


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        graph = connect_graph(settings)
        app.state.graph = graph
        app.state.settings = settings
        app.state.ops_sampler = OpsSampler(settings, graph).start()  # ops page history and gauges
        try:
            yield
        finally:
            await app.state.ops_sampler.stop()
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
    app.include_router(mailboxes.router)
    app.include_router(opspage.router)
    install_monitoring(app)  # GET /metrics, request latency per endpoint
    return app
