"""One Ray Serve replica of a model: the ordinary in-process `Predictor`, loaded once per replica.

The replica resolves its model from the same targets the ingress was given, so nothing but strings crosses
to it at start-up. A `ModelportError` crosses back as `ReplicaError`, a plain exception of plain data
(the error classes take keyword arguments, which an exception's pickling would drop).
"""

from __future__ import annotations

import asyncio
import inspect
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from modelport.config import Settings
from modelport.errors import ModelportError
from modelport.predictor import ModelSpec
from modelport.runtime.predictor import LocalPredictor
from modelport.runtime.targets import load_targets

# What a loaded model may declare beyond its call, sent once to the ingress (whose checks read them).
_PLAIN = (int, float, str, bool, type(None))


def find_specs(targets: Sequence[str], settings: Settings) -> list[ModelSpec]:
    """The models of `targets`, or the built-in models `settings` choose when there is no target."""
    if targets:
        return load_targets(targets)
    from modelport.builtin import builtin_specs

    return builtin_specs(settings)


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


class ModelReplica:
    """The body of a model's deployment (wrapped by `serve.deployment` when deployed)."""

    def __init__(self, targets: Sequence[str], settings: dict[str, Any], name: str, path: Sequence[str] = ()) -> None:
        # The ingress's import path, so `module:attr` targets import here as they did there.
        sys.path.extend(entry for entry in path if entry not in sys.path)
        spec = next((s for s in find_specs(targets, Settings(**settings)) if s.name == name), None)
        if spec is None:
            raise LookupError(f"no model named {name!r} in {list(targets) or 'the built-in models'}")
        self._predictor = LocalPredictor(spec)
        self._lock = asyncio.Lock()

    async def _loaded(self) -> LocalPredictor:
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

    async def call(self, kwargs: dict[str, Any]) -> Any:
        try:
            return await (await self._loaded()).call(**kwargs)
        except ModelportError as exc:
            raise ReplicaError.of(exc) from None

    async def call_method(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        try:
            return await (await self._loaded()).call_method(name, *args, **kwargs)
        except ModelportError as exc:
            raise ReplicaError.of(exc) from None

    async def stream(self, kwargs: dict[str, Any]) -> AsyncIterator[Any]:
        try:
            async for item in (await self._loaded()).stream(**kwargs):
                yield item
        except ModelportError as exc:
            raise ReplicaError.of(exc) from None
