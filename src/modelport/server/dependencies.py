"""FastAPI dependencies shared by the routers.

Every dependency here and beside the routers is `async def`, though none awaits anything: FastAPI runs a plain
`def` dependency in a worker thread, and two thread hops per request (the key check, the registry) cost more
than an embedding request's own work when the model holds the cores.
"""

from __future__ import annotations

from fastapi import Request

from modelport.errors import InvalidRequestError
from modelport.logs import current_request
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


async def get_registry(request: Request) -> Registry:
    registry: Registry = request.app.state.registry
    return registry


async def predictor_for(registry: Registry, name: str, task: Task) -> Predictor:
    """The model `name`, loaded and held until the response ends; it must serve `task`.

    Otherwise a 404, or a 400 that says where the model belongs; while it loads, a 503 after the load
    timeout; if its load fails, the error naming the model and the reason. A model that forwards requests
    (an upstream server's) serves every task: its server decides.
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
    context = current_request.get()
    if context is not None:
        context.model = predictor.name
    lease = await registry.acquire(name)
    if context is not None:
        context.on_finish.append(lease.release)
    else:
        # No request to hold it for (a caller outside the HTTP server): loaded now, not held.
        lease.release()
    return lease.predictor
