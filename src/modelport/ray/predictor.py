"""A predictor whose model runs on Ray Serve: the runtime `Predictor`'s interface over a DeploymentHandle.

`serving/` and `server/` cannot tell it from the in-process one. Ray's own failures become the API's:
a full replica queue is a 429 with `Retry-After`, a replica that died mid-request a 503 (Ray starts a new one).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, cast

import anyio.to_thread
from ray import exceptions as ray_exceptions
from ray import serve
from ray.serve.exceptions import BackPressureError, DeploymentUnavailableError, ReplicaUnavailableError
from ray.serve.handle import DeploymentHandle, DeploymentResponseGenerator

from modelport.errors import ModelportError, PredictorError, RateLimitError, UnavailableError
from modelport.predictor import ModelSpec
from modelport.ray.replica import ReplicaError

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 1

# A replica process that is gone, or an actor Ray cannot reach: the request may succeed on another replica.
_REPLICA_LOST = (
    ray_exceptions.RayActorError,
    ray_exceptions.WorkerCrashedError,
    ray_exceptions.NodeDiedError,
    ReplicaUnavailableError,
)


class RemotePredictor:
    """A model served by the Ray Serve deployment behind `handle`, with the runtime `Predictor`'s interface."""

    def __init__(self, spec: ModelSpec, app_name: str) -> None:
        self.spec = spec
        self.app_name = app_name
        self._handle_made: DeploymentHandle[Any] | None = None
        self._handle_loop: asyncio.AbstractEventLoop | None = None
        self._settings: dict[str, Any] | None = None
        self._methods: dict[str, bool] = {}

    @property
    def batches_itself(self) -> bool:
        """Each replica merges the embedding calls it holds: the ingress sends every request as it comes."""
        return True

    @property
    def _handle(self) -> DeploymentHandle[Any]:
        if self._handle_made is None:
            raise PredictorError(f"The model `{self.name}` is not loaded.")
        return self._handle_made

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def loaded(self) -> bool:
        return self._settings is not None

    async def load(self) -> None:
        """Wait for a replica to load the model, and learn the settings and methods it declares."""
        loop = asyncio.get_running_loop()
        if self.loaded and self._handle_loop is loop:
            return
        if self._handle_made is None or self._handle_loop is not loop:
            # Asks Serve's controller whether the deployment exists: a blocking call, kept off the event loop.
            shared = await anyio.to_thread.run_sync(
                functools.partial(serve.get_deployment_handle, self.name, app_name=self.app_name)
            )
            # A handle of our own (Serve hands every caller in the process the same one), whose router runs on
            # this, the server's, loop rather than on a loop of its own in a thread, which Ray Serve's default
            # would hop to and back for every call and every streamed item.
            handle: DeploymentHandle[Any] = DeploymentHandle(shared.deployment_name, shared.app_name)
            handle._init(_run_router_in_separate_loop=False)  # type: ignore[no-untyped-call]
            await self._close_handle()
            self._handle_made, self._handle_loop = handle, loop
        description = await self._remote(self._handle.describe.remote())
        self._methods = dict(description["methods"])
        self._settings = dict(description["settings"])

    async def unload(self) -> None:
        """Forget what the replicas declared; the replicas themselves live as long as the deployment."""
        self._settings = None
        self._methods = {}
        await self._close_handle()

    async def _close_handle(self) -> None:
        # Its router lives on the loop that made it: stopped there, it does not outlive that loop.
        handle, loop = self._handle_made, self._handle_loop
        self._handle_made, self._handle_loop = None, None
        if handle is not None and loop is asyncio.get_running_loop():
            with contextlib.suppress(Exception):  # a router already stopped: nothing is left to stop
                await handle.shutdown_async()  # type: ignore[no-untyped-call]

    def hook(self, name: str) -> Callable[..., Any] | None:
        """A remote method of the model (say, `complete`), or None if the model has none."""
        if name not in self._methods:
            return None
        return functools.partial(self.call_method, name)

    def attribute(self, name: str) -> Any:
        """A setting the model declares, or one of its methods as a coroutine function; None otherwise."""
        if self._settings is None:
            raise PredictorError(f"The model `{self.name}` is not loaded.")
        if name in self._methods:
            return self._method(name)
        return self._settings.get(name)

    def _method(self, name: str) -> Callable[..., Awaitable[Any]]:
        # A coroutine function, so callers await it (in a thread or inline would block on the network).
        async def method(*args: Any, **kwargs: Any) -> Any:
            return await self.call_method(name, *args, **kwargs)

        method.__name__ = name
        return method

    async def call(self, **kwargs: Any) -> Any:
        """Run a one-shot model on one of its replicas."""
        return await self._remote(self._handle.call.remote(kwargs))

    async def call_method(self, name: str, *args: Any, **kwargs: Any) -> Any:
        if name not in self._methods:
            raise PredictorError(f"The model `{self.name}` has no method '{name}'.")
        return await self._remote(self._handle.call_method.remote(name, args, kwargs))

    def call_method_inline(self, name: str, *args: Any) -> Any:
        raise PredictorError(f"The model `{self.name}` runs on Ray Serve: its method '{name}' must be awaited.")

    async def stream(self, **kwargs: Any) -> AsyncIterator[Any]:
        """Iterate a streaming model's items as its replica yields them (in lists: see `ModelReplica.stream`)."""
        response = cast(DeploymentResponseGenerator[Any], self._handle.options(stream=True).stream.remote(kwargs))
        ended = False
        try:
            async for items in response:
                for item in items:
                    yield item
            ended = True
        except Exception as exc:
            ended = True
            raise self._translate(exc) from exc
        finally:
            # The consumer stopped early (a client that went away): stop the replica's generator too.
            if not ended:
                response.cancel()  # type: ignore[no-untyped-call]

    async def _remote(self, response: Awaitable[Any]) -> Any:
        try:
            return await response
        except Exception as exc:
            raise self._translate(exc) from exc

    def _translate(self, exc: Exception) -> ModelportError:
        cause = getattr(exc, "cause", None)
        if isinstance(exc, ReplicaError) or isinstance(cause, ReplicaError):
            return (exc if isinstance(exc, ReplicaError) else cause).to_modelport()  # type: ignore[union-attr]
        if isinstance(exc, ModelportError):
            return exc
        if isinstance(exc, BackPressureError):
            return RateLimitError(
                f"The model `{self.name}` is busy: every replica's queue is full. Retry later.",
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        if isinstance(exc, DeploymentUnavailableError):
            return UnavailableError(
                f"The model `{self.name}` has no running deployment on Ray Serve; `modelport deploy status` "
                "shows its state.",
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        if isinstance(exc, _REPLICA_LOST):
            logger.warning("a replica of %s was lost mid-request: %s", self.name, exc)
            return UnavailableError(
                f"The replica serving the model `{self.name}` stopped mid-request; retry the request.",
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        logger.error("model %s failed on Ray Serve", self.name, exc_info=exc)
        return PredictorError(f"The model `{self.name}` failed: {type(exc).__name__}: {exc}")
