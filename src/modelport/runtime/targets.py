"""Turning `modelport serve` targets (a file, a folder, `module` or `module:attr`) into model specs."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from modelport.app import App, spec_of
from modelport.errors import SignatureError
from modelport.predictor import ModelSpec


class TargetError(ValueError):
    """A target cannot be imported or holds no models."""


def load_targets(targets: Sequence[str]) -> list[ModelSpec]:
    """The specs of every target, in order, each model once."""
    specs: list[ModelSpec] = []
    for target in targets:
        specs.extend(load_target(target))
    return _unique(specs)


def load_target(target: str) -> list[ModelSpec]:
    path = Path(target)
    if path.is_dir():
        files = sorted(p for p in path.glob("*.py") if not p.name.startswith("_"))
        if not files:
            raise TargetError(f"the folder {target} holds no Python files")
        return _unique([spec for file in files for spec in _module_specs(_import_file(file), str(file))])
    if target.endswith(".py") or path.is_file():
        if not path.is_file():
            raise TargetError(f"no such file: {target}")
        return _module_specs(_import_file(path), target)
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise TargetError(f"cannot import {module_name!r}: {exc}") from exc
    if not attr:
        return _module_specs(module, target)
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise TargetError(f"{module_name!r} has no attribute {attr!r}") from None
    specs = specs_from(obj)
    if not specs:
        raise TargetError(f"{target} is not a model, an App or a list of models")
    return specs


def specs_from(obj: Any) -> list[ModelSpec]:
    """The specs an object stands for: a spec, a decorated model, an App, or a list of those."""
    if isinstance(obj, ModelSpec):
        return [obj]
    if isinstance(obj, App):
        return list(obj.specs)
    spec = spec_of(obj)
    if spec is not None:
        return [spec]
    if isinstance(obj, list | tuple):
        return [spec for item in obj for spec in specs_from(item)]
    return []


def _module_specs(module: ModuleType, target: str) -> list[ModelSpec]:
    # A module that defines Apps serves those; otherwise every decorated model in it.
    values = list(vars(module).values())
    apps = [v for v in values if isinstance(v, App)]
    chosen = apps or [v for v in values if spec_of(v) is not None]
    specs = _unique([spec for value in chosen for spec in specs_from(value)])
    if not specs:
        raise TargetError(f"{target} defines no models: decorate a function with @modelport.model or define an App")
    return specs


def _import_file(path: Path) -> ModuleType:
    path = path.resolve()
    # The path's hash keeps two files of the same name in different folders apart.
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:8]
    module_name = f"modelport_target_{path.stem}_{digest}"
    existing = sys.modules.get(module_name)
    if existing is not None and getattr(existing, "__file__", None) == str(path):
        return existing
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise TargetError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    # Lets a served file import its neighbours, as `python file.py` would.
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(module)
    except SignatureError:
        del sys.modules[module_name]
        raise
    except Exception as exc:
        del sys.modules[module_name]
        raise TargetError(f"cannot import {path}: {type(exc).__name__}: {exc}") from exc
    return module


def _unique(specs: Iterable[ModelSpec]) -> list[ModelSpec]:
    seen: set[int] = set()
    unique = []
    for spec in specs:
        if id(spec) not in seen:
            seen.add(id(spec))
            unique.append(spec)
    return unique
