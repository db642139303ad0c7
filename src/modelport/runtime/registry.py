"""The registry: model names and aliases to predictors, and when each model loads and unloads.

A model loads at start-up or on its first request, as its `LoadPolicy` says; concurrent first requests share
one load. Idle models unload after their idle time, and under a memory budget the least recently used idle
models unload to make room for a load. A model serving a request (holding a `Lease`) is never unloaded.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import math
import time
from collections.abc import Callable, Iterable, Iterator

from modelport.errors import (
    ConflictError,
    ModelLoadError,
    ModelNotFoundError,
    ModelportError,
    UnavailableError,
)
from modelport.predictor import ModelSpec
from modelport.runtime.interface import Predictor, PredictorFactory
from modelport.runtime.lifecycle import Lease, LifecycleObserver, LoadPolicy, ManagedModel, State
from modelport.runtime.memory import format_size, resident_bytes
from modelport.runtime.predictor import LocalPredictor

logger = logging.getLogger(__name__)

# A name no model is registered under -> a model found for it (a local path), or None.
Resolver = Callable[[str], tuple[ModelSpec, LoadPolicy] | None]
# Wraps a predictor in what observes its calls (the metrics), once per model.
Instrument = Callable[[Predictor], Predictor]

DEFAULT_LOAD_TIMEOUT = 300.0
LOADING_LOG_EVERY = 15.0


class DuplicateModelError(ValueError):
    """Two models claim the same name or alias."""


class Registry:
    """Serves each model under its name and aliases; a name may be taken only once."""

    def __init__(
        self,
        specs: Iterable[ModelSpec] = (),
        *,
        factory: PredictorFactory = LocalPredictor,
        max_memory: int | None = None,
        load_timeout: float = DEFAULT_LOAD_TIMEOUT,
        resolver: Resolver | None = None,
    ) -> None:
        self._factory = factory
        self.max_memory = max_memory
        self.load_timeout = load_timeout
        self._resolver = resolver
        self._by_name: dict[str, ManagedModel] = {}
        self._models: list[ManagedModel] = []
        self._observer: LifecycleObserver | None = None
        self._instrument: Instrument | None = None
        self._budget = asyncio.Lock()
        self._reaper: asyncio.Task[None] | None = None
        self._starting: asyncio.Task[None] | None = None
        self._started = False
        # Start-up models whose start-up load failed, until a later load succeeds.
        self.start_failures: set[str] = set()
        for spec in specs:
            self.add(spec)

    def observe(self, observer: LifecycleObserver | None, instrument: Instrument | None = None) -> None:
        """Report loads and unloads to `observer`, and serve every model through `instrument(predictor)`."""
        self._observer = observer
        self._instrument = instrument
        if instrument is not None:
            for model in self._models:
                model.served = instrument(model.predictor)

    # Names

    def add(self, spec: ModelSpec, policy: LoadPolicy | None = None) -> Predictor:
        for name in spec.names:
            taken = self._by_name.get(name)
            if taken is not None:
                raise DuplicateModelError(
                    f"the model name '{name}' is used twice: by {taken.predictor.spec.qualname} and by {spec.qualname}"
                )
        predictor = self._factory(spec)
        served = self._instrument(predictor) if self._instrument is not None else None
        model = ManagedModel(predictor, policy or LoadPolicy(), served)
        for name in spec.names:
            self._by_name[name] = model
        self._models.append(model)
        return predictor

    def model(self, name: str) -> ManagedModel:
        """The model served as `name`, found in the model folders if need be; else the 404 error."""
        model = self._by_name.get(name)
        if model is None and self._resolver is not None:
            found = self._resolver(name)
            if found is not None:
                spec, policy = found
                self.add(spec, policy)
                model = self._by_name[name]
        if model is None:
            raise ModelNotFoundError(name, self.names())
        return model

    def get(self, name: str) -> Predictor:
        """The predictor served as `name`, loaded or not."""
        return self.model(name).predictor

    def names(self) -> list[str]:
        """Every name a request may use, aliases included."""
        return list(self._by_name)

    def models(self) -> list[ManagedModel]:
        return list(self._models)

    def __iter__(self) -> Iterator[Predictor]:
        return iter([model.predictor for model in self._models])

    def __len__(self) -> int:
        return len(self._models)

    # Lifecycle

    @property
    def ready(self) -> bool:
        """Started, and every model marked for start-up has loaded once (a failed one is retried on use)."""
        return self._started and (self._starting is None or self._starting.done()) and not self.start_failures

    def memory_in_use(self) -> int:
        """What the loaded and loading models take, as measured or estimated."""
        return sum(m.memory_bytes for m in self._models if m.state is not State.UNLOADED)

    async def start(self) -> None:
        """Begin loading the start-up models in the background and unloading idle ones; returns at once."""
        self._started = True
        self._starting = asyncio.create_task(self._load_at_start(), name="modelport-start-up-loads")
        self._reaper = asyncio.create_task(self._reap(), name="modelport-idle-unloader")

    async def wait_ready(self) -> None:
        if self._starting is not None:
            await asyncio.shield(self._starting)

    async def _load_at_start(self) -> None:
        # One at a time: on a small machine concurrent loads only slow each other down.
        for model in self._models:
            if model.policy.at_start and model.state is State.UNLOADED:
                try:
                    await self._ensure_loaded(model, wait=None)
                except ModelportError as exc:
                    self.start_failures.add(model.name)
                    logger.error("%s", exc.message)

    async def stop(self) -> None:
        """Stop the background work and unload every model."""
        for task in (self._starting, self._reaper):
            if task is not None and not task.done():
                task.cancel()
                try:
                    await task
                except (asyncio.CancelledError, Exception):
                    logger.debug("background task ended", exc_info=True)
        self._starting = self._reaper = None
        await self.unload_all()

    async def load_all(self) -> None:
        """Load every model now, one at a time; the first failure is raised."""
        for model in self._models:
            await self._ensure_loaded(model, wait=None)

    async def unload_all(self) -> None:
        for model in reversed(self._models):
            if model.loading is not None:
                # A load runs in a thread that cannot be stopped: let it end, then unload what it made.
                try:
                    await asyncio.shield(model.loading)
                except Exception:
                    logger.debug("load ended in failure during shutdown", exc_info=True)
            await self._unload(model, reason="shutdown")

    async def acquire(self, name: str) -> Lease:
        """Hold the model `name` for a request, loading it first if need be (sharing a load in progress).

        Raises the 404 for an unknown name, a 503 with Retry-After when the load takes longer than the load
        timeout, and the load's error (naming the model and the reason) when it fails.
        """
        model = self.model(name)
        # Counted in use before any wait, so that nothing unloads it between its load and this request.
        model.in_use += 1
        model.last_used = time.monotonic()
        lease = Lease(model)
        try:
            await self._ensure_loaded(model, wait=self.load_timeout)
        except BaseException:
            lease.release()
            raise
        return lease

    async def load(self, name: str) -> ManagedModel:
        """Load the model `name` now (the load endpoint); the same errors as `acquire`."""
        model = self.model(name)
        await self._ensure_loaded(model, wait=self.load_timeout)
        model.last_used = time.monotonic()
        return model

    async def unload(self, name: str) -> ManagedModel:
        """Unload the model `name` now (the unload endpoint); 409 while it serves requests or loads."""
        model = self.model(name)
        if model.in_use or model.state is State.LOADING:
            doing = f"serving {model.in_use} request(s)" if model.in_use else "loading"
            raise ConflictError(f"The model `{model.name}` is {doing}; unload it when it is idle.", param="model")
        await self._unload(model, reason="asked to")
        return model

    async def _ensure_loaded(self, model: ManagedModel, wait: float | None) -> None:
        while model.state is not State.LOADED:
            if model.unloading is not None:
                await asyncio.shield(model.unloading)
                continue
            task = model.loading or self._begin_load(model)
            try:
                await asyncio.wait_for(asyncio.shield(task), wait)
            except TimeoutError:
                raise UnavailableError(
                    f"The model `{model.name}` is still loading; retry in a moment.",
                    code="model_loading",
                    headers={"Retry-After": str(max(1, math.ceil(min(wait or 5.0, 30.0))))},
                ) from None
            except ModelportError as exc:
                # Each waiter raises its own copy: one exception object raised in several tasks mixes tracebacks.
                try:
                    own = copy.copy(exc)
                except TypeError:
                    raise exc from None
                raise own from None

    def _begin_load(self, model: ManagedModel) -> asyncio.Task[None]:
        model.state = State.LOADING
        model.loading = asyncio.create_task(self._load(model), name=f"modelport-load-{model.name}")
        return model.loading

    async def _load(self, model: ManagedModel) -> None:
        try:
            async with self._budget:
                await self._make_room(model)
            estimate = f", about {format_size(model.memory_bytes)}" if model.memory_bytes else ""
            logger.info("loading model %s (%s%s)", model.name, model.predictor.spec.task, estimate)
            before, started = resident_bytes(), time.monotonic()
            ticker = asyncio.create_task(_still_loading(model.name, started))
            try:
                await model.predictor.load()
            finally:
                ticker.cancel()
            seconds = time.monotonic() - started
            # Another server's model takes nothing here: whatever else the process did meanwhile is not its.
            measured = 0 if model.policy.remote else resident_bytes() - before
            # A reload may reuse memory the allocator kept from the last one and measure less: keep the most.
            model.measured_bytes = max(model.measured_bytes, measured)
            model.load_seconds = seconds
            model.last_error = None
            self.start_failures.discard(model.name)
            model.state = State.LOADED
            model.last_used = time.monotonic()
            logger.info("loaded model %s in %.1f s (%s)", model.name, seconds, format_size(max(measured, 0)))
            if self._observer is not None:
                self._observer.model_loaded(model.name, seconds, model.memory_bytes)
        except BaseException as exc:
            model.state = State.UNLOADED
            if self._observer is not None:
                self._observer.model_load_failed(model.name)
            if isinstance(exc, ModelportError) and exc.status_code != 500:
                model.last_error = exc.message
                raise
            if not isinstance(exc, Exception):
                raise
            reason = exc.message if isinstance(exc, ModelportError) else f"{type(exc).__name__}: {exc}"
            model.last_error = reason
            logger.error("model %s failed to load: %s", model.name, reason, exc_info=exc)
            raise ModelLoadError(f"The model `{model.name}` failed to load: {reason}", param="model") from exc
        finally:
            model.loading = None

    async def _make_room(self, model: ManagedModel) -> None:
        """Unload the least recently used idle models until `model` fits the memory budget."""
        budget = self.max_memory
        if budget is None or model.policy.remote:
            return
        need = model.memory_bytes
        if need > budget:
            raise UnavailableError(
                f"The model `{model.name}` needs about {format_size(need)}, more than the memory budget of "
                f"{format_size(budget)}; it cannot be loaded.",
                param="model",
                code="insufficient_memory",
            )
        while True:
            used = sum(m.memory_bytes for m in self._models if m is not model and m.state is not State.UNLOADED)
            if used + need <= budget:
                return
            # Unloading another server's model would free nothing here.
            idle = [m for m in self._models if m is not model and m.evictable and not m.policy.remote]
            if not idle:
                raise UnavailableError(
                    f"The model `{model.name}` needs about {format_size(need)} and the models in use take "
                    f"{format_size(used)} of the {format_size(budget)} budget; retry when they are idle.",
                    code="insufficient_memory",
                    headers={"Retry-After": "5"},
                )
            await self._unload(min(idle, key=lambda m: m.last_used), reason=f"to make room for {model.name}")

    async def _unload(self, model: ManagedModel, reason: str) -> None:
        if model.state is not State.LOADED or model.static:
            return
        model.state = State.UNLOADING
        logger.info("unloading model %s (%s)", model.name, reason)
        model.unloading = asyncio.create_task(model.predictor.unload(), name=f"modelport-unload-{model.name}")
        try:
            await asyncio.shield(model.unloading)
        except Exception:
            logger.exception("model %s failed to unload", model.name)
        finally:
            model.unloading = None
            model.state = State.UNLOADED
            if self._observer is not None:
                self._observer.model_unloaded(model.name)

    async def _reap(self) -> None:
        """Unload models idle for longer than their idle time."""
        while True:
            timeouts = [m.policy.idle_timeout for m in self._models if m.policy.idle_timeout > 0]
            await asyncio.sleep(min(5.0, max(0.05, min(timeouts) / 4)) if timeouts else 5.0)
            now = time.monotonic()
            for model in self._models:
                timeout = model.policy.idle_timeout
                if timeout > 0 and not model.static and model.evictable and model.idle_for(now) >= timeout:
                    await self._unload(model, reason=f"idle for {timeout:g} s")


async def _still_loading(name: str, started: float) -> None:
    """A log line every little while during a long load, so that it never looks hung."""
    while True:
        await asyncio.sleep(LOADING_LOG_EVERY)
        logger.info("still loading model %s (%.0f s)", name, time.monotonic() - started)
