"""The application factory: a FastAPI app serving a registry of models."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from starlette.middleware.cors import CORSMiddleware

from modelport import __version__
from modelport.config import Settings
from modelport.metrics import Metrics
from modelport.runtime import Registry
from modelport.server.auth import check_api_key
from modelport.server.connection import ClientWatchMiddleware
from modelport.server.errors import install_error_handlers
from modelport.server.hosts import HostCheckMiddleware, allowed_hosts
from modelport.server.limits import BodyLimitMiddleware
from modelport.server.middleware import RequestMiddleware
from modelport.server.openapi import install_openapi
from modelport.server.routers import (
    audio,
    chat,
    completions,
    docs,
    embeddings,
    health,
    images,
    messages,
    metrics,
    models,
    playground,
    responses,
)
from modelport.server.routes import OnePassApp
from modelport.server.shutdown import Drain
from modelport.serving.embeddings import EmbeddingBatchers
from modelport.serving.image_files import ImageFiles
from modelport.serving.response_store import ResponseStore
from modelport.serving.voice import VoiceChat


def create_app(registry: Registry, settings: Settings | None = None) -> FastAPI:
    """An app that starts the registry's models loading at start-up and unloads them at shutdown."""
    settings = settings or Settings()
    batchers = EmbeddingBatchers(settings)
    response_store = ResponseStore(settings.state_dir)
    drain = Drain(settings.shutdown_grace)
    collected = Metrics(registry)
    image_files = ImageFiles(settings.image_url_ttl)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        drain.bind()
        await registry.start()
        try:
            yield
        finally:
            drain.begin()
            await batchers.aclose()
            response_store.close()
            await registry.stop()
            image_files.close()

    app = OnePassApp(
        title="modelport",
        version=__version__,
        summary="Typed Python functions and offline built-in models, served through the OpenAI API.",
        lifespan=lifespan,
        # Served by the docs router from local files: FastAPI's own pages load them from a CDN.
        docs_url=None,
        redoc_url=None,
        # modelport has its own metrics and access log; FastAPI's OpenTelemetry instrumentation would look up
        # the global providers (reading the environment) on every request to find it has nothing to do.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    app.state.registry = registry
    app.state.settings = settings
    app.state.embedding_batchers = batchers
    app.state.response_store = response_store
    app.state.metrics = collected
    app.state.drain = drain
    app.state.voice = VoiceChat(registry, settings)
    app.state.image_files = image_files
    app.state.started = int(time.time())
    install_error_handlers(app)
    install_openapi(app)
    authenticated = [Depends(check_api_key)]
    routers = (models, chat, completions, embeddings, audio, images, responses, messages)
    for router in (module.router for module in routers):
        app.include_router(router, dependencies=authenticated)
    app.include_router(health.router)
    app.include_router(images.files_router)
    app.include_router(metrics.router)
    app.include_router(docs.router)
    if settings.playground:
        app.include_router(playground.router)
    # The last added runs first: each request gets its id, log line and metrics, then its Host is checked,
    # and the client is watched while the body limit reads a chunked body.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_request_bytes)
    app.add_middleware(ClientWatchMiddleware, body_timeout=settings.body_timeout)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["x-request-id", "retry-after"],
        )
    app.add_middleware(HostCheckMiddleware, allowed=allowed_hosts(settings.allowed_hosts, settings.host))
    app.add_middleware(RequestMiddleware, metrics=collected, drain=drain, access_log=settings.access_log)
    return app
