"""What a server serves, from its settings: targets, built-ins, declared models, upstream servers' models and
the model folders.

The one place that turns settings into a `Registry` with each model's lifecycle policy. Targets and the
built-in flags are shortcuts: their models load at start (or on first use with `lazy`); models declared in
a models file say for themselves; models found by path in `model_dirs` load on first use and stay.
"""

from __future__ import annotations

from pathlib import Path

from modelport.config import ModelEntry, Settings, configured_upstreams
from modelport.predictor import ModelSpec
from modelport.runtime import LoadPolicy, LocalPredictor, PredictorFactory, Registry, TargetError, load_targets
from modelport.runtime.memory import files_size
from modelport.runtime.model_dirs import ModelDirs
from modelport.upstream import upstream_specs


def _policy(
    settings: Settings, entry: ModelEntry | None = None, files: tuple[Path, ...] = (), *, remote: bool = False
) -> LoadPolicy:
    if entry is None:
        return LoadPolicy(
            at_start=not settings.lazy,
            idle_timeout=settings.idle_timeout,
            estimated_bytes=files_size(files),
            remote=remote,
        )
    idle = entry.idle_timeout if entry.idle_timeout is not None else settings.idle_timeout
    return LoadPolicy(
        at_start=entry.load == "start",
        idle_timeout=idle,
        pinned=entry.pinned,
        estimated_bytes=files_size(files),
        remote=remote,
    )


def build_registry(settings: Settings, factory: PredictorFactory = LocalPredictor) -> Registry:
    """The registry the settings describe; TargetError (or a ValueError) when they describe nothing valid.

    `factory` chooses the runtime that serves each model: in this process (`modelport serve`), or on
    Ray Serve (`modelport deploy`, whose factory makes a predictor that forwards to a deployment).
    """
    from modelport.builtin.engines import declared_models, path_model

    def local(name: str, path: Path) -> tuple[ModelSpec, LoadPolicy] | None:
        found = path_model(name, path, settings)
        if found is None:
            return None
        # Found by path: loaded on first use and kept, unless an idle time is set for the server.
        return found.spec, LoadPolicy(
            at_start=False, idle_timeout=settings.idle_timeout, estimated_bytes=files_size(found.files)
        )

    registry = Registry(
        factory=factory,
        max_memory=settings.max_memory_bytes,
        load_timeout=settings.load_timeout,
        resolver=ModelDirs(settings.model_dirs, local) if settings.model_dirs else None,
    )
    for spec in load_targets(settings.targets) if settings.targets else ():
        registry.add(spec, _policy(settings))
    if settings.targets and settings.image_models:
        # Asked for by path, the image models are served beside the targets (without targets, the built-ins
        # include them).
        from modelport.builtin.diffusion import models as image_models

        for spec in image_models(settings):
            registry.add(spec, _policy(settings))
    declared = declared_models(settings)
    if not settings.targets and (settings.builtins or not declared):
        from modelport.builtin import builtin_specs

        for spec in builtin_specs(settings):
            registry.add(spec, _policy(settings, files=_builtin_files(spec)))
    for _, entry, model in declared:
        registry.add(model.spec, _policy(settings, entry, model.files, remote=model.remote))
    for upstream in configured_upstreams(settings):
        for spec in upstream_specs(upstream):
            registry.add(spec, _policy(settings, remote=True))
    if not len(registry) and not settings.model_dirs:
        raise TargetError(
            "nothing to serve: no built-in model is installed; pass a TARGET "
            "(a Python file, a folder, `module` or `module:attr`), a models file or --model-dir"
        )
    return registry


def _builtin_files(spec: ModelSpec) -> tuple[Path, ...]:
    """The files a built-in model loads, where it says (for the memory estimate before its first load)."""
    target = spec.target
    for attribute in ("model_file", "source"):
        value = getattr(target, attribute, None)
        if isinstance(value, Path):
            return (value,)
    return ()
