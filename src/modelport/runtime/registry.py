"""The registry: model names and aliases to loaded predictors."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

from modelport.errors import ModelNotFoundError
from modelport.predictor import ModelSpec
from modelport.runtime.predictor import Predictor

logger = logging.getLogger(__name__)


class DuplicateModelError(ValueError):
    """Two models claim the same name or alias."""


class Registry:
    """Serves each model under its name and aliases; a name may be taken only once."""

    def __init__(self, specs: Iterable[ModelSpec] = ()) -> None:
        self._by_name: dict[str, Predictor] = {}
        self._predictors: list[Predictor] = []
        for spec in specs:
            self.add(spec)

    def add(self, spec: ModelSpec) -> Predictor:
        for name in spec.names:
            taken = self._by_name.get(name)
            if taken is not None:
                raise DuplicateModelError(
                    f"the model name '{name}' is used twice: by {taken.spec.qualname} and by {spec.qualname}"
                )
        predictor = Predictor(spec)
        for name in spec.names:
            self._by_name[name] = predictor
        self._predictors.append(predictor)
        return predictor

    def get(self, name: str) -> Predictor:
        predictor = self._by_name.get(name)
        if predictor is None:
            raise ModelNotFoundError(name, self.names())
        return predictor

    def names(self) -> list[str]:
        """Every name a request may use, aliases included."""
        return list(self._by_name)

    def __iter__(self) -> Iterator[Predictor]:
        return iter(self._predictors)

    def __len__(self) -> int:
        return len(self._predictors)

    async def load_all(self) -> None:
        for predictor in self._predictors:
            logger.info("loading model %s (%s)", predictor.name, predictor.spec.task)
            await predictor.load()

    async def unload_all(self) -> None:
        for predictor in reversed(self._predictors):
            await predictor.unload()
