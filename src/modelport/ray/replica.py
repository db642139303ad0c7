"""One Ray Serve replica of a model: the ordinary in-process `LocalPredictor`, loaded once per replica.

The replica rebuilds its model from a `ModelSource` (the settings `modelport serve` would read, or an
`App`), so what crosses to it at start-up is plain data or the App that Ray pickles. Embedding calls that
arrive together are merged here, in the replica, by the same `Batcher` that merges them in one process.
A `ModelportError` crosses back as `ReplicaError`, a plain exception of plain data (the error classes take
keyword arguments, which an exception's pickling would drop).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import sys
from collections.abc import AsyncGenerator, AsyncIterator, Hashable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np

from modelport.app import App
from modelport.config import Settings
from modelport.errors import ModelportError
from modelport.predictor import EmbeddingSignature, ModelSpec
from modelport.ray.pump import pumped
from modelport.runtime.batching import Batcher
from modelport.runtime.predictor import LocalPredictor
from modelport.serving.checks import check_embeddings

# Items of a stream the replica holds for the ingress before it waits for the model's next one.
STREAM_AHEAD = 64
# After an item, how long a stream waits for the next before it sends what it holds: each list is a trip to
# the ingress of about a millisecond, so words a model makes microseconds apart travel together, and a
# model that makes one every few milliseconds (a generating LLM) sends each this much later.
STREAM_LINGER_SECONDS = 0.0005
# What a loaded model may declare beyond its call, sent once to the ingress (whose checks read them).
_PLAIN = (int, float, str, bool, type(None))


@dataclass(frozen=True)
class ModelSource:
    """Where a replica finds its model: the catalog of `settings` (targets, built-ins, the models file,
    upstream servers), or the models of `app`; `path` is the ingress's import path, so that `module:attr`
    targets and the App's modules import in the replica as they did there."""

    settings: dict[str, Any]
    app: App | None = None
    path: tuple[str, ...] = ()

    @classmethod
    def of(cls, settings: Settings, app: App | None = None) -> ModelSource:
        data = settings.model_dump(mode="json")
        # Replicas start in a directory of Ray's: paths must not depend on this one.
        data["targets"] = [str(Path(t).resolve()) if Path(t).exists() else t for t in settings.targets]
        if settings.models_file is not None:
            data["models_file"] = str(Path(settings.models_file).resolve())
        return cls(data, app, tuple(str(Path(p).resolve()) for p in sys.path if p))

    def load_settings(self) -> Settings:
        return Settings(**self.settings)

    def specs(self) -> list[ModelSpec]:
        sys.path.extend(entry for entry in self.path if entry not in sys.path)
        if self.app is not None:
            return list(self.app.specs)
        from modelport.catalog import build_registry

        return [predictor.spec for predictor in build_registry(self.load_settings())]


class ReplicaError(Exception):
    """A `ModelportError` raised in a replica, as data: the ingress raises the same status and body."""

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(error)
        self.error = error

    @classmethod
    def of(cls, exc: ModelportError) -> ReplicaError:
        return cls(
            {
                "message": exc.message,
                "param": exc.param,
                "code": exc.code,
                "headers": dict(exc.headers),
                "status_code": exc.status_code,
                "type": exc.type,
            }
        )

    def to_modelport(self) -> ModelportError:
        data = self.error
        error = ModelportError(data["message"], param=data["param"], code=data["code"], headers=data["headers"])
        error.status_code = data["status_code"]
        error.type = data["type"]
        return error


def keep_worker_threads() -> asyncio.Task[None]:
    """Keep AnyIO's worker threads alive between the calls on this event loop; returns the task that holds
    them (it never ends by itself: cancel it to let them go).

    `anyio.to_thread` (which runs a replica's sync model, steps its generators, pumps its streams) keeps its
    idle threads until the loop's root task ends, and finds that task as the one `asyncio.run` or
    `run_until_complete` started. A replica's loop runs forever with no such task, so AnyIO takes the
    request's own task for the root, and stops the thread when the request ends: every call started a
    thread, on the event loop, between one call's end and the next's start (bench/ray_trace.py: the
    median idle gap of a busy replica halved without it).
    """
    from anyio._backends._asyncio import _root_task

    async def hold() -> None:
        await asyncio.get_running_loop().create_future()

    anchor = asyncio.get_running_loop().create_task(hold(), name="modelport-worker-threads")
    _root_task.set(anchor)
    return anchor


def bind_replica_server_to_node() -> None:
    """Make this replica's inter-deployment gRPC server listen on the node's address only.

    Ray Serve 2.60 starts that server in every replica, after the replica's constructor, on every interface
    (`[::]:0`); modelport never uses it (the ingress calls replicas through Ray's actor calls). On the node's
    own address it stays reachable by the cluster, and a local Ray (whose node is 127.0.0.1) keeps nothing
    listening beyond the machine.
    """
    import ray

    if not ray.is_initialized():  # not in a replica (a test of this class)
        return
    from ray.serve._private import replica as serve_replica

    original = getattr(serve_replica, "add_port_to_grpc_server", None)
    if original is None or getattr(original, "modelport_bound", False):
        return
    host: str = ray.util.get_node_ip_address()  # type: ignore[no-untyped-call]
    host = f"[{host}]" if ":" in host else host

    def bind(server: Any, address: str) -> Any:
        if address.startswith("[::]:"):
            address = f"{host}:{address.removeprefix('[::]:')}"
        return original(server, address)

    bind.modelport_bound = True  # type: ignore[attr-defined]
    setattr(serve_replica, "add_port_to_grpc_server", bind)  # noqa: B010 (not exported: mypy refuses the plain form)


class ModelReplica:
    """The body of a model's deployment (wrapped by `serve.deployment` when deployed).

    `slots` calls of the model run at once (None: no limit); Ray is told to send more than that, and the
    rest wait here, so that one starts the moment a call ends: waiting in the router instead, a request
    would start only once the end of the call had reached the ingress and the request had come back.
    """

    def __init__(self, source: ModelSource, name: str, slots: int | None = None, **companions: Any) -> None:
        bind_replica_server_to_node()
        # `companions`: Serve starts an application from one root deployment that holds the others, so the
        # first model's deployment is bound with the rest's handles (never used: the ingress calls each).
        spec = next((s for s in source.specs() if s.name == name), None)
        if spec is None:
            raise LookupError(f"no model named {name!r} in this replica's catalog")
        self._predictor = LocalPredictor(spec)
        self._lock = asyncio.Lock()
        self._threads: asyncio.Task[None] | None = None
        self._slots = asyncio.Semaphore(slots) if slots is not None else None
        self._batcher: Batcher | None = None
        if isinstance(spec.signature, EmbeddingSignature):
            settings = source.load_settings()
            self._batcher = Batcher(
                self._run_batch,
                max_batch_size=settings.embedding_max_batch_size,
                window=settings.embedding_batch_window_ms / 1000,
                merge=settings.embedding_batching,
            )
        # What the batches held, for `stats`: the proof that requests merge here.
        self.batch_sizes: list[int] = []

    async def _loaded(self) -> LocalPredictor:
        if self._threads is None or self._threads.done():  # done: its loop ended (a test's asyncio.run)
            self._threads = keep_worker_threads()
        if not self._predictor.loaded:
            async with self._lock:
                await self._predictor.load()
        return self._predictor

    async def describe(self) -> dict[str, Any]:
        """Load the model; its plain settings, and the names of its methods, for the ingress's checks."""
        predictor = await self._loaded()
        target = predictor._function()
        settings: dict[str, Any] = {}
        methods: dict[str, bool] = {}
        for name in dir(target):
            if name.startswith("_"):
                continue
            value = getattr(target, name, None)
            if callable(value):
                methods[name] = inspect.iscoroutinefunction(value)
            elif isinstance(value, _PLAIN) or (
                isinstance(value, Mapping) and all(isinstance(v, _PLAIN) for v in value.values())
            ):
                settings[name] = dict(value) if isinstance(value, Mapping) else value
        return {"settings": settings, "methods": methods}

    async def stats(self) -> dict[str, Any]:
        """The sizes of the embedding batches this replica ran, oldest first (the last 1,000)."""
        return {"batch_sizes": list(self.batch_sizes)}

    def _slot(self) -> contextlib.AbstractAsyncContextManager[Any]:
        return self._slots if self._slots is not None else contextlib.nullcontext()

    async def call(self, kwargs: dict[str, Any]) -> Any:
        try:
            async with self._slot():
                predictor = await self._loaded()
                signature = predictor.spec.signature
                if self._batcher is not None and isinstance(signature, EmbeddingSignature):
                    rest = {k: v for k, v in kwargs.items() if k != signature.texts}
                    return await self._submit(kwargs[signature.texts], ("call", rest))
                return await predictor.call(**kwargs)
        except ModelportError as exc:
            raise ReplicaError.of(exc) from None

    async def call_method(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        try:
            async with self._slot():
                predictor = await self._loaded()
                if self._batcher is not None and name == "embed_tokens" and len(args) == 1:
                    return await self._submit(args[0], (name, kwargs))
                return await predictor.call_method(name, *args, **kwargs)
        except ModelportError as exc:
            raise ReplicaError.of(exc) from None

    async def stream(self, kwargs: dict[str, Any]) -> AsyncIterator[list[Any]]:
        """The model's items, in lists: what it made while the previous list travelled to the ingress,
        and what it makes within `STREAM_LINGER_SECONDS` of the one before.

        Each item Ray streams is a round trip of its own: a model that produces faster than that (a short
        reply, a cached one) takes one trip or a few instead of one per item, and a slower one's items
        still go one by one, as soon as each is made. At most `STREAM_AHEAD` items wait, so a client that
        reads slowly still holds the model back.
        """
        ahead: asyncio.Queue[tuple[str, Any]] = asyncio.Queue(STREAM_AHEAD)
        producer = asyncio.create_task(self._produce(kwargs, ahead))
        try:
            while True:
                kind, value = await ahead.get()
                items: list[Any] = []
                while kind == "item":
                    items.append(value)
                    if len(items) >= STREAM_AHEAD:  # a model that never pauses still sends its items
                        break
                    if ahead.empty():
                        try:
                            async with asyncio.timeout(STREAM_LINGER_SECONDS):
                                kind, value = await ahead.get()
                        except TimeoutError:
                            break
                    else:
                        kind, value = ahead.get_nowait()
                if items:
                    yield items
                if kind == "end":
                    return
                if kind == "error":
                    raise value
        finally:
            # The ingress stopped reading (its client went away): stop the model too.
            producer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await producer

    async def _produce(self, kwargs: dict[str, Any], ahead: asyncio.Queue[tuple[str, Any]]) -> None:
        try:
            async with self._slot():
                predictor = await self._loaded()
                # Both are async generators: closed here, not when collected, so an abandoned model stops now.
                items = cast(
                    AsyncGenerator[Any, None],
                    predictor.stream(**kwargs) if predictor.spec.is_async else pumped(predictor, kwargs, STREAM_AHEAD),
                )
                async with contextlib.aclosing(items):
                    async for item in items:
                        await ahead.put(("item", item))
        except ModelportError as exc:
            await ahead.put(("error", ReplicaError.of(exc)))
            return
        except Exception as exc:  # not the model's (LocalPredictor names those): the consumer must not wait on
            await ahead.put(("error", exc))
            return
        await ahead.put(("end", None))

    async def _submit(self, items: list[Any], call: tuple[str, dict[str, Any]]) -> np.ndarray:
        assert self._batcher is not None
        kind, options = call
        try:
            key: Hashable = (kind, tuple(sorted(options.items())))
            hash(key)
        except TypeError:
            # An option that cannot be a batch key (a list, say): this request runs alone.
            return await self._run_batch(items, (kind, options))
        return await self._batcher.submit(items, key)

    async def _run_batch(self, items: list[Any], key: Hashable) -> np.ndarray:
        assert isinstance(key, tuple)
        kind: str = key[0]
        arguments: dict[str, Any] = dict(key[1])
        predictor = self._predictor
        signature = predictor.spec.signature
        assert isinstance(signature, EmbeddingSignature)
        self.batch_sizes = [*self.batch_sizes[-999:], len(items)]
        if kind == "embed_tokens":
            result = await predictor.call_method(kind, items, **arguments)
        else:
            result = await predictor.call(**{signature.texts: items}, **arguments)
        dimensions = arguments.get(signature.dims_param) if signature.dims_param else None
        # Checked per batch as in one process: a broken batch fails its callers with the model's name.
        return check_embeddings(predictor.name, result, len(items), dimensions)
