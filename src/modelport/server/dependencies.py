"""FastAPI dependencies shared by the routers."""

from __future__ import annotations

from fastapi import Request

from modelport.errors import InvalidRequestError
from modelport.predictor import Task
from modelport.runtime import Predictor, Registry

# The endpoint that serves each task, for messages that point a client the right way.
ENDPOINTS = {
    Task.CHAT: "/v1/chat/completions",
    Task.EMBEDDINGS: "/v1/embeddings",
    Task.SPEECH: "/v1/audio/speech",
    Task.TRANSCRIPTION: "/v1/audio/transcriptions",
    Task.IMAGE: "/v1/images/generations",
}


def get_registry(request: Request) -> Registry:
    registry: Registry = request.app.state.registry
    return registry


def predictor_for(registry: Registry, name: str, task: Task) -> Predictor:
    """The model `name`, which must serve `task`; otherwise a 404 or a 400 that says where it belongs.

    A model that forwards requests (an upstream server's) serves every task: its server decides.
    """
    predictor = registry.get(name)
    if predictor.spec.task is not task and not predictor.spec.forwards:
        fitting = [p.name for p in registry if p.spec.task is task]
        listing = ", ".join(fitting) or "none"
        raise InvalidRequestError(
            f"The model `{name}` is a {predictor.spec.task} model; it is served at "
            f"{ENDPOINTS[predictor.spec.task]}, not {ENDPOINTS[task]}. {task.capitalize()} models served here: "
            f"{listing}.",
            param="model",
            code="model_not_supported",
        )
    return predictor
