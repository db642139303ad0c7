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
from modelport.server.errors import install_error_handlers
from modelport.server.limits import BodyLimitMiddleware
from modelport.server.routers import audio, chat, completions, embeddings, health, images, models
from modelport.serving.embeddings import EmbeddingBatchers
from modelport.serving.image_files import ImageFiles


def create_app(registry: Registry, settings: Settings | None = None) -> FastAPI:
    """An app that loads the registry's models at start-up and unloads them at shutdown."""
    settings = settings or Settings()
    batchers = EmbeddingBatchers(settings)
    image_files = ImageFiles(settings.image_url_ttl)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await registry.load_all()
        try:
            yield
        finally:
            await batchers.aclose()
            await registry.unload_all()
            image_files.close()

    app = FastAPI(
        title="modelport",
        version=__version__,
        summary="Typed Python functions and offline built-in models, served through the OpenAI API.",
        lifespan=lifespan,
    )
    app.state.registry = registry
    app.state.settings = settings
    app.state.embedding_batchers = batchers
    app.state.image_files = image_files
    app.state.started = int(time.time())
    install_error_handlers(app)
    authenticated = [Depends(check_api_key)]
    for router in (models.router, chat.router, completions.router, embeddings.router, audio.router, images.router):
        app.include_router(router, dependencies=authenticated)
    app.include_router(health.router)
    app.include_router(images.files_router)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_request_bytes)
    return app
