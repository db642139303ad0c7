"""The application factory: a FastAPI app serving a registry of models."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from modelport import __version__
from modelport.config import Settings
from modelport.runtime import Registry
from modelport.server.auth import check_api_key
from modelport.server.connection import ClientWatchMiddleware
from modelport.server.errors import install_error_handlers
from modelport.server.hosts import HostCheckMiddleware, allowed_hosts
from modelport.server.limits import BodyLimitMiddleware
from modelport.server.openapi import install_openapi
from modelport.server.routers import audio, chat, completions, embeddings, health, models
from modelport.serving.embeddings import EmbeddingBatchers


def create_app(registry: Registry, settings: Settings | None = None) -> FastAPI:
    """An app that loads the registry's models at start-up and unloads them at shutdown."""
    settings = settings or Settings()
    batchers = EmbeddingBatchers(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await registry.load_all()
        try:
            yield
        finally:
            await batchers.aclose()
            await registry.unload_all()

    app = FastAPI(
        title="modelport",
        version=__version__,
        summary="Typed Python functions and offline built-in models, served through the OpenAI API.",
        lifespan=lifespan,
    )
    app.state.registry = registry
    app.state.settings = settings
    app.state.embedding_batchers = batchers
    app.state.started = int(time.time())
    install_error_handlers(app)
    install_openapi(app)
    authenticated = [Depends(check_api_key)]
    for router in (models.router, chat.router, completions.router, embeddings.router, audio.router):
        app.include_router(router, dependencies=authenticated)
    app.include_router(health.router)
    # The last added runs first: the Host is checked before anything else, and the client is watched
    # while the body limit reads a chunked body.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_request_bytes)
    app.add_middleware(ClientWatchMiddleware, body_timeout=settings.body_timeout)
    app.add_middleware(HostCheckMiddleware, allowed=allowed_hosts(settings.allowed_hosts, settings.host))
    return app
