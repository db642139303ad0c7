"""Models named by their path inside one of the model folders (`--model-dir`), found safely.

A name is looked up only as a relative path without `..`; after symbolic links are resolved it must still
lie inside the folder. Any other name finds nothing, so the answer is the ordinary unknown-model 404, and a
request learns nothing of what exists on disk.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath

from modelport.predictor import ModelSpec
from modelport.runtime.lifecycle import LoadPolicy

logger = logging.getLogger(__name__)

# A model's name and the path it was found at -> its spec and policy, or None when the files are no model.
PathLoader = Callable[[str, Path], tuple[ModelSpec, LoadPolicy] | None]


def _safe_parts(name: str) -> tuple[str, ...] | None:
    if not name or "\\" in name or "\x00" in name:
        return None
    path = PurePosixPath(name)
    if path.is_absolute() or any(part in ("..", ".", "") for part in name.split("/")):
        return None
    return path.parts


class ModelDirs:
    """Finds a requested name as a model path inside the first folder that holds it."""

    def __init__(self, folders: Sequence[Path], loader: PathLoader) -> None:
        self.folders = [folder.expanduser().resolve() for folder in folders]
        self._loader = loader

    def find(self, name: str) -> Path | None:
        """The model path `name` names inside a folder, or None."""
        parts = _safe_parts(name)
        if parts is None:
            return None
        for folder in self.folders:
            candidate = folder.joinpath(*parts)
            try:
                resolved = candidate.resolve(strict=True)
            except (OSError, RuntimeError):
                continue
            if resolved.is_relative_to(folder):
                return resolved
        return None

    def __call__(self, name: str) -> tuple[ModelSpec, LoadPolicy] | None:
        path = self.find(name)
        if path is None:
            return None
        try:
            return self._loader(name, path)
        except Exception:
            # The files look like a model but cannot be served (say, a missing extra): logged, and a 404.
            logger.exception("cannot serve %s from %s", name, path)
            return None
