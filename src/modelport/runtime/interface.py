"""What the registry and `serving/` need from a served model, whichever runtime serves it.

The in-process `LocalPredictor` is one implementation; a predictor in another runtime (a Ray Serve
deployment, say) is another. `serving/` is written against this protocol only, so it never learns where a
model runs, and the registry's lifecycle (lazy loading, idle unloading, the memory budget) drives any of them
through `load` and `unload`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol, runtime_checkable

from modelport.predictor import ModelSpec


@runtime_checkable
class Predictor(Protocol):
    """A model the server can load, unload and call; every failure is a `ModelportError` naming it."""

    spec: ModelSpec

    @property
    def name(self) -> str: ...

    @property
    def loaded(self) -> bool: ...

    @property
    def batches_itself(self) -> bool:
        """Whether the runtime merges concurrent embedding calls itself (each Ray Serve replica does), so
        the server sends every request on as it comes instead of batching in front of it."""
        ...

    async def load(self) -> None:
        """Make the model ready to serve; may take minutes. A failure leaves it unloaded."""

    async def unload(self) -> None:
        """Free what `load` took; a no-op when not loaded."""

    def hook(self, name: str) -> Callable[..., Any] | None:
        """An optional method of the loaded model (say, `complete`), or None."""

    def attribute(self, name: str) -> Any:
        """An optional attribute or hook of the loaded model (say, `count_tokens`), or None."""

    async def call(self, **kwargs: Any) -> Any:
        """Run a one-shot model (embeddings, speech, transcription, image) and return its result."""

    async def call_method(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Run the model's optional method `name`."""

    def call_method_inline(self, name: str, *args: Any) -> Any:
        """Run the model's quick sync method `name` on the calling thread."""

    def stream(self, **kwargs: Any) -> AsyncIterator[Any]:
        """Iterate a streaming model (chat, streamed speech or transcription)."""
        ...


# Which runtime serves a spec: the registry takes one, so one place decides it (in process, or a remote runtime).
PredictorFactory = Callable[[ModelSpec], Predictor]
