"""The engines a models file (or a local path) can name, each a builder from an entry to a model spec.

`ENGINES` maps an engine's name to its builder; a new engine (an upstream server, diffusers) is one more
entry, added with `register_engine`. A builder checks the entry's engine settings, imports its optional
dependencies (naming the extra when one is missing) and returns the spec, not yet loaded, with the files
it will load so the memory budget can estimate it before its first load.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelport.config import ModelEntry, Settings
from modelport.predictor import ModelSpec, Task, build_spec
from modelport.runtime.targets import TargetError, load_target


@dataclass(frozen=True)
class EngineModel:
    """What a builder makes: the model's spec and the files its load reads (for the memory estimate)."""

    spec: ModelSpec
    files: tuple[Path, ...] = field(default=())
    # Served by another server: it takes no memory here.
    remote: bool = False


EngineBuilder = Callable[[str, ModelEntry, Settings], EngineModel]

ENGINES: dict[str, EngineBuilder] = {}


def register_engine(name: str, builder: EngineBuilder) -> None:
    """Make `engine = "<name>"` available in models files."""
    ENGINES[name] = builder


def build_model(name: str, entry: ModelEntry, settings: Settings) -> EngineModel:
    """The model a models-file entry declares; TargetError for an unknown engine or a bad setting."""
    builder = ENGINES.get(entry.engine)
    if builder is None:
        known = ", ".join(sorted(ENGINES))
        raise TargetError(f"model {name!r}: unknown engine {entry.engine!r}; the engines are {known}")
    return builder(name, entry, settings)


def _options(name: str, entry: ModelEntry, allowed: dict[str, type]) -> dict[str, Any]:
    """The entry's engine settings, checked against the names and types the engine takes."""
    options = entry.options
    unknown = set(options) - set(allowed)
    if unknown:
        shown = ", ".join(sorted(allowed)) or "none"
        names = ", ".join(sorted(unknown))
        raise TargetError(f"model {name!r}: the {entry.engine} engine has no setting {names} (its settings: {shown})")
    for key, value in options.items():
        kind = allowed[key]
        if not isinstance(value, kind) or isinstance(value, bool) is not (kind is bool):
            raise TargetError(f"model {name!r}: {key} must be a {kind.__name__}, got {value!r}")
    return options


def _spec(
    target: Any, name: str, entry: ModelEntry, task: Task | None = None, default_description: str = ""
) -> ModelSpec:
    return build_spec(
        target, name=name, task=task, aliases=entry.aliases, description=entry.description or default_description
    )


def _packaged(module: str, name: str, entry: ModelEntry, settings: Settings, default: str) -> ModelSpec:
    """A built-in model (`module.models(settings)` serves it under `entry.source`), renamed to `name`."""
    specs = importlib.import_module(module).models(settings)
    wanted = entry.source or default
    for spec in specs:
        if wanted in spec.names:
            return build_spec(
                spec.target, name=name, aliases=entry.aliases, description=entry.description or spec.description
            )
    known = ", ".join(s.name for s in specs)
    raise TargetError(f"model {name!r}: the {entry.engine} engine has no packaged model {wanted!r} (it has {known})")


def _local(source: str) -> Path:
    return Path(source).expanduser()


# The engines


def _llama(name: str, entry: ModelEntry, settings: Settings) -> EngineModel:
    from modelport.builtin import MissingDependencyError
    from modelport.builtin.llama import PACKAGED_MODELS

    options = _options(
        name, entry, {"parallel": int, "context": int, "queue_size": int, "threads": int, "speculation": bool}
    )
    try:
        from modelport.builtin.llama.chat import LlamaChat
    except ImportError as exc:
        raise MissingDependencyError("the llama engine", "chat") from exc
    arguments = {
        "n_parallel": options.get("parallel", settings.chat_parallel),
        "n_ctx_per_sequence": options.get("context", settings.chat_context),
        "max_queue": options.get("queue_size", settings.queue_size),
        "n_threads": options.get("threads"),
        "speculation": options.get("speculation", settings.chat_speculation),
    }
    source = entry.source or "qwen2.5-coder-0.5b-instruct"
    packaged = PACKAGED_MODELS.get(source)
    files: tuple[Path, ...]
    if packaged is not None:
        from modelport.builtin.weights import part_paths

        parts = part_paths(packaged.packages, packaged.extra)
        cache = settings.cache_dir
        chat = LlamaChat(lambda: packaged.path(cache), **arguments)
        files = tuple(parts)
    else:
        path = _local(source)
        if path.suffix != ".gguf" or not path.is_file():
            known = ", ".join(PACKAGED_MODELS)
            raise TargetError(f"model {name!r}: {source!r} is neither a GGUF file nor a packaged model ({known})")
        chat = LlamaChat(lambda: path, **arguments)
        files = (path,)
    spec = _spec(chat, name, entry, Task.CHAT, "Chat on llama.cpp with continuous batching.")
    return EngineModel(spec, files)


def _onnx_folder_files(folder: Path) -> tuple[Path, Path] | None:
    """The ONNX file and the configuration folder of a sentence-transformers ONNX export, if `folder` is one."""
    if not (folder / "modules.json").is_file() or not (folder / "tokenizer.json").is_file():
        return None
    for candidate in ("model.onnx", "onnx/model.onnx", "onnx/model_quantized.onnx"):
        if (folder / candidate).is_file():
            return folder / candidate, folder
    found = sorted(folder.glob("*.onnx")) + sorted(folder.glob("onnx/*.onnx"))
    return (found[0], folder) if found else None


def _onnx_embeddings(name: str, entry: ModelEntry, settings: Settings) -> EngineModel:
    options = _options(name, entry, {"threads": int})
    from modelport.builtin.onnx_embeddings import MINILM_NAME, OnnxSentenceEmbedder

    if entry.source is None or entry.source in (MINILM_NAME, "sentence-transformers/all-MiniLM-L6-v2"):
        spec = _packaged("modelport.builtin.onnx_embeddings", name, entry, settings, MINILM_NAME)
        spec.target.threads = options.get("threads", 0)
        return EngineModel(spec, (spec.target.model_file,))
    found = _onnx_folder_files(_local(entry.source))
    if found is None:
        raise TargetError(
            f"model {name!r}: {entry.source!r} is not a sentence-transformers ONNX folder "
            "(modules.json, tokenizer.json and an .onnx file)"
        )
    model_file, folder = found
    embedder = OnnxSentenceEmbedder(model_file, folder, threads=options.get("threads", 0))
    return EngineModel(
        _spec(embedder, name, entry, Task.EMBEDDINGS, "Sentence embeddings on onnxruntime."), (model_file,)
    )


def _is_whisper_folder(folder: Path) -> bool:
    return (
        (folder / "model.bin").is_file()
        and (folder / "config.json").is_file()
        and ((folder / "tokenizer.json").is_file() or any(folder.glob("vocabulary.*")))
    )


def _whisper(name: str, entry: ModelEntry, settings: Settings) -> EngineModel:
    options = _options(name, entry, {"threads": int, "beam_size": int, "compute_type": str})
    from modelport.builtin.whisper import WhisperTranscriber

    source = entry.source or "whisper-base"
    if source in ("whisper-base", "whisper-1", "whisper-tiny.en"):
        spec = _packaged("modelport.builtin.whisper", name, entry, settings, "whisper-base")
        target = spec.target
        target.cpu_threads = options.get("threads", target.cpu_threads)
        target.beam_size = options.get("beam_size", target.beam_size)
        target.compute_type = options.get("compute_type", target.compute_type)
        files = (target.source,) if isinstance(target.source, Path) else ()
        return EngineModel(spec, files)
    folder = _local(source)
    if not _is_whisper_folder(folder):
        raise TargetError(f"model {name!r}: {source!r} is not a CTranslate2 Whisper folder (model.bin, config.json)")
    transcriber = WhisperTranscriber(
        folder,
        identifier=name,
        cpu_threads=options.get("threads", 0),
        beam_size=options.get("beam_size", 5),
        compute_type=options.get("compute_type", "int8"),
    )
    return EngineModel(_spec(transcriber, name, entry, Task.TRANSCRIPTION, "Whisper on faster-whisper."), (folder,))


def _hibari(name: str, entry: ModelEntry, settings: Settings) -> EngineModel:
    options = _options(name, entry, {"threads": int, "seed": int})
    spec = _packaged("modelport.builtin.hibari", name, entry, settings, "hibari")
    spec.target.threads = options.get("threads", spec.target.threads)
    spec.target.seed = options.get("seed", spec.target.seed)
    return EngineModel(spec)


def _piper(name: str, entry: ModelEntry, settings: Settings) -> EngineModel:
    _options(name, entry, {})
    return EngineModel(_packaged("modelport.builtin.piper", name, entry, settings, "piper-joe"))


def _use_embeddings(name: str, entry: ModelEntry, settings: Settings) -> EngineModel:
    options = _options(name, entry, {"threads": int})
    from modelport.builtin.use_embeddings import USE_NAME

    spec = _packaged("modelport.builtin.use_embeddings", name, entry, settings, USE_NAME)
    spec.target.threads = options.get("threads", spec.target.threads)
    return EngineModel(spec, (spec.target.resources,))


def _e5_embeddings(name: str, entry: ModelEntry, settings: Settings) -> EngineModel:
    _options(name, entry, {})
    from modelport.builtin.e5_embeddings import E5_NAME

    return EngineModel(_packaged("modelport.builtin.e5_embeddings", name, entry, settings, E5_NAME))


def _python(name: str, entry: ModelEntry, settings: Settings) -> EngineModel:
    """A model written in Python: `source` is a target (a file, `module` or `module:attr`) holding one model."""
    _options(name, entry, {})
    if not entry.source:
        raise TargetError(f"model {name!r}: the python engine needs a source, such as `package.module:model`")
    specs = load_target(entry.source)
    if len(specs) != 1:
        raise TargetError(f"model {name!r}: {entry.source} holds {len(specs)} models; name one as `module:attr`")
    spec = specs[0]
    return EngineModel(
        build_spec(
            spec.target,
            name=name,
            task=spec.task,
            aliases=entry.aliases or spec.aliases,
            description=entry.description or spec.description,
        )
    )


def _upstream(name: str, entry: ModelEntry, settings: Settings) -> EngineModel:
    """A model of another OpenAI-compatible server: `source` is its API root, `model` its id there (default:
    the entry's name), `task` the one it is listed under (default chat); the rest as for `upstreams`."""
    from pydantic import ValidationError

    from modelport.predictor import Task
    from modelport.upstream import UpstreamConfig, declared_upstream

    options = entry.options
    upstream_id = options.pop("model", name)
    task = options.pop("task", Task.CHAT.value)
    tasks = [member.value for member in Task]
    if not isinstance(upstream_id, str) or not upstream_id:
        raise TargetError(f"model {name!r}: model must be the upstream's model id, got {upstream_id!r}")
    if task not in tasks:
        raise TargetError(f"model {name!r}: task must be one of {', '.join(tasks)}, got {task!r}")
    settable = {"api_key_env", "connect_timeout", "timeout"}
    unknown = set(options) - settable
    if unknown or not entry.source:
        problem = f"has no setting {', '.join(sorted(unknown))}" if unknown else "needs a source, its API root URL"
        shown = ", ".join(sorted([*settable, "model", "task"]))
        raise TargetError(f"model {name!r}: the upstream engine {problem} (its settings: {shown})")
    try:
        config = UpstreamConfig(base_url=entry.source, **options)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or "source"
        raise TargetError(f"model {name!r}: {where}: {error['msg']}") from None
    try:
        spec = declared_upstream(
            name, config, upstream_id, task=Task(task), aliases=tuple(entry.aliases), description=entry.description
        )
    except ValueError as exc:
        raise TargetError(f"model {name!r}: {exc}") from None
    return EngineModel(spec, remote=True)


register_engine("llama", _llama)
register_engine("onnx-embeddings", _onnx_embeddings)
register_engine("whisper", _whisper)
register_engine("hibari", _hibari)
register_engine("piper", _piper)
register_engine("use-embeddings", _use_embeddings)
register_engine("e5-embeddings", _e5_embeddings)
register_engine("python", _python)
register_engine("upstream", _upstream)
# More engines register here: "diffusers" (a pipeline folder, which `engine_for_path` then recognises).


def engine_for_path(path: Path) -> str | None:
    """The engine that serves a local model path, recognised from its files; None if none does."""
    if path.is_file():
        return "llama" if path.suffix == ".gguf" else None
    if not path.is_dir():
        return None
    if (path / "model_index.json").is_file() and "diffusers" in ENGINES:
        return "diffusers"
    if _is_whisper_folder(path):
        return "whisper"
    if _onnx_folder_files(path) is not None:
        return "onnx-embeddings"
    return None


def path_model(name: str, path: Path, settings: Settings) -> EngineModel | None:
    """The model at a local `path`, served as `name`, or None when its files are not a model modelport knows."""
    engine = engine_for_path(path)
    if engine is None:
        return None
    return build_model(name, ModelEntry(engine=engine, source=str(path)), settings)


def declared_models(settings: Settings) -> Sequence[tuple[str, ModelEntry, EngineModel]]:
    """Every model the settings declare (`[models.NAME]`), built."""
    return [(name, entry, build_model(name, entry, settings)) for name, entry in settings.models.items()]
