"""Settings: one model read from arguments, `MODELPORT_*` environment variables and an optional TOML file.

Precedence, highest first: explicit values (the command line), environment variables, the config file
(`--config` or `MODELPORT_CONFIG`), then the defaults below.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from modelport.upstream.config import UpstreamConfig, speaches_upstream

DEFAULT_MAX_REQUEST_BYTES = 25 * 1024 * 1024

# OpenAI's voice names -> installed voices, in order of preference: female voices prefer hibari's "heart",
# male ones Piper's "joe"; a speech model takes the first one it serves.
DEFAULT_VOICE_MAP: dict[str, list[str]] = {
    **{name: ["heart", "joe"] for name in ("alloy", "coral", "nova", "sage", "shimmer")},
    **{name: ["joe", "heart"] for name in ("ash", "ballad", "echo", "fable", "onyx", "verse")},
}


class ModelEntry(BaseModel):
    """One model in a models file (a `[models.NAME]` table): its engine, source, names and lifecycle.

    Keys besides these are the engine's own settings (say `parallel` and `context` for llama), checked by
    the engine.
    """

    model_config = ConfigDict(extra="allow", use_attribute_docstrings=True)

    engine: str
    """The engine that serves it: llama, onnx-embeddings, use-embeddings, e5-embeddings, whisper, hibari, piper,
    python or upstream (a model of another OpenAI-compatible server, which takes `model`, its id there,
    `task`, `api_key_env`, `connect_timeout` and `timeout`)."""

    source: str | None = None
    """A packaged model's name, or the path of its file or folder (for python: a target such as `module:attr`;
    for upstream: the server's API root, such as `http://gpu-box:8000/v1`)."""

    aliases: list[str] = Field(default_factory=list)
    """More names the model answers to."""

    description: str | None = None
    """What the model is, for listings."""

    load: Literal["start", "demand"] = "demand"
    """Load when the server starts, or on the model's first request."""

    idle_timeout: float | None = Field(default=None, ge=0)
    """Seconds without requests before the model unloads; 0 never; unset takes the server's idle_timeout."""

    pinned: bool = False
    """Never unloaded, neither when idle nor to make room for another model."""

    @property
    def options(self) -> dict[str, Any]:
        """The engine's own settings: the keys this class does not define."""
        return dict(self.model_extra or {})


class Settings(BaseSettings):
    """How `modelport serve` runs."""

    model_config = SettingsConfigDict(env_prefix="MODELPORT_", extra="forbid", use_attribute_docstrings=True)

    targets: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """What to serve: Python files, folders of them, `module` or `module:attr`; comma-separated in the
    environment. Empty means the built-in models."""

    builtins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Which built-in models to serve when there is no target, by extra: chat, embeddings, embeddings-use,
    embeddings-e5, speech, piper; comma-separated in the environment. Empty means all that are installed."""

    host: str = "127.0.0.1"
    """Address to listen on; 0.0.0.0 exposes the server to the network."""

    port: int = Field(default=8000, ge=0, le=65535)
    """TCP port to listen on."""

    allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Host names and addresses the server answers to, checked against each request's Host header (any
    port); `*` allows any. Empty means: localhost and the loopback addresses when `host` is a loopback
    address (so a web page cannot reach a local server through DNS rebinding), any host otherwise.
    Comma-separated in the environment."""

    api_keys: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Keys accepted as `Authorization: Bearer <key>` or `x-api-key: <key>`; comma-separated in the
    environment. Empty means no authentication."""

    max_request_bytes: int = Field(default=DEFAULT_MAX_REQUEST_BYTES, ge=1)
    """Largest request body accepted, in bytes; a larger one is answered with 413."""

    body_timeout: float = Field(default=120.0, gt=0)
    """Seconds a client has to send a whole request body; one that is still sending then is answered
    with 408 and its connection closed, so a stalled upload cannot hold a connection forever."""

    transcription_time_floor: float = Field(default=60.0, gt=0)
    """Seconds any transcription may take, however short its audio; with `transcription_time_per_second`
    this bounds the work one upload can cause (a longer one is stopped and answered with 500)."""

    transcription_time_per_second: float = Field(default=2.0, ge=0)
    """Seconds a transcription may take per second of audio, on top of `transcription_time_floor`."""

    voice_map: dict[str, list[str]] = Field(default_factory=lambda: dict(DEFAULT_VOICE_MAP))
    """OpenAI voice names (alloy, ash, ...) accepted by every speech model: each maps to installed voices in
    order of preference, and a model speaks with the first of them it serves. JSON in the environment."""

    playground: bool = True
    """Serve the web playground at `/`: a page to try every model in a browser, offline (`--no-playground`
    turns it off)."""

    log_level: str = "info"
    """Log level of the server: critical, error, warning, info or debug."""

    cache_dir: Path = Field(default_factory=lambda: Path.home() / ".cache" / "modelport")
    """Folder for files made from installed packages, such as model weights joined from their parts."""

    state_dir: Path = Field(default_factory=lambda: Path.home() / ".local" / "state" / "modelport")
    """Folder for what the server keeps across restarts, such as stored Responses (`responses.sqlite3`)."""

    queue_size: int = Field(default=64, ge=1)
    """Requests a model holds waiting for a free slot; one more is answered with 429 and Retry-After."""

    chat_model: str | None = None
    """The chat model: a packaged model's name (qwen2.5-coder-0.5b-instruct, the default, or
    qwen2.5-coder-1.5b-instruct with the chat-large extra) or the path of a local GGUF file."""

    chat_model_name: str | None = None
    """The name the chat model is served under (default: the built-in model's name, or the file's stem)."""

    chat_parallel: int = Field(default=8, ge=1, le=64)
    """Chat sequences decoded together in one batch (continuous batching)."""

    chat_context: int = Field(default=4096, ge=256)
    """Context length of each chat sequence, prompt and completion together, in tokens."""

    chat_speculation: bool = True
    """Speculative decoding on the built-in chat engine: draft tokens found in the conversation's own text
    (prompt lookup) are verified several at a time, so output that repeats its input (code given back with
    a change) comes faster. Output is the same either way (`--no-chat-speculation` turns it off)."""

    embedding_batching: bool = True
    """Merge concurrent embedding requests to the same model into shared batches (dynamic batching). Off,
    each request runs alone, one at a time."""

    embedding_batch_window_ms: float = Field(default=2.0, ge=0, le=1000)
    """The longest, in milliseconds, an embedding request waits for others to join its batch while more keep
    arriving; while another batch of the same model computes, ten windows from when the batch begins to
    gather. A batch runs at once when it is full or when no other request is on its way, so a lone request
    never waits; 0 batches only requests that are already waiting."""

    embedding_max_batch_size: int = Field(default=64, ge=1)
    """Most inputs in one embedding batch; larger requests are cut into batches of this size, which keeps
    memory bounded. The default measured fastest for the built-in model on a 2-core CPU."""

    models: dict[str, ModelEntry] = Field(default_factory=dict)
    """Models declared by name, as `[models.NAME]` tables in the config file or the models file."""

    models_file: Path | None = None
    """A TOML file of `[models.NAME]` tables declaring what to serve (engine, source, aliases, lifecycle)."""

    model_dirs: Annotated[list[Path], NoDecode] = Field(default_factory=list)
    """Folders whose GGUF files, Whisper (CTranslate2) folders and sentence-transformers ONNX folders a
    request may name by their path inside the folder; loaded on first use. Comma-separated in the environment."""

    lazy: bool = False
    """Load the models given by targets and built-in flags on their first request instead of at start."""

    idle_timeout: float = Field(default=0.0, ge=0)
    """Seconds without requests after which a model unloads (models may set their own); 0 never unloads."""

    max_memory: str | None = None
    """Memory budget for loaded models, such as 8GB or 6GiB: the least recently used idle models unload to
    make room for a load, and a model larger than the budget is refused. Unset means no budget."""

    load_timeout: float = Field(default=300.0, gt=0)
    """Seconds a request waits for its model to load before a 503 with Retry-After (the load goes on)."""

    admin_keys: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Keys that may also load and unload models (POST /v1/models/{id}/load and /unload). When api_keys or
    admin_keys are set, only these may; comma-separated in the environment."""

    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Browser origins allowed to call the API (CORS), such as http://localhost:3000, or * for any;
    comma-separated in the environment. Empty allows none."""

    log_format: Literal["text", "json"] = "text"
    """Log lines as text or as one JSON object per line."""

    access_log: bool = True
    """Log one line per request: method, path, status, duration, model and request id."""

    shutdown_grace: float = Field(default=30.0, ge=0)
    """On SIGTERM or Ctrl-C, seconds requests in flight have to finish before open streams are ended."""

    @field_validator("max_memory")
    @classmethod
    def _check_size(cls, value: str | None) -> str | None:
        if value is not None:
            from modelport.runtime.memory import parse_size

            parse_size(value)
        return value

    @property
    def max_memory_bytes(self) -> int | None:
        from modelport.runtime.memory import parse_size

        return parse_size(self.max_memory) if self.max_memory is not None else None

    upstreams: list[UpstreamConfig] = Field(default_factory=list)
    """Other OpenAI-compatible servers whose models are served here too: a list of tables with `base_url`,
    `api_key_env`, `models` (empty: all its /models lists), `names`, `prefix`, `connect_timeout` and `timeout`;
    JSON in the environment. Speaches' CHAT_COMPLETION_BASE_URL, CHAT_COMPLETION_MODEL and
    CHAT_COMPLETION_API_KEY add one more."""

    transcription_model: str | None = None
    """The model that transcribes a chat message's `input_audio` parts when a request names none in its
    `transcription_model` field (default: whisper-base, else the first transcription model served)."""

    speech_model: str | None = None
    """The model that speaks a chat answer asked for with `modalities: ["text", "audio"]` when a request names
    none in its `speech_model` field (default: hibari, else the first speech model served)."""

    transcript_cache_size: int = Field(default=256, ge=0)
    """Transcripts of chat `input_audio` parts kept by the audio's content hash, so a conversation that sends
    its recordings again with every turn transcribes each once; 0 turns the cache off."""

    chat_audio_max_bytes: int = Field(default=DEFAULT_MAX_REQUEST_BYTES, ge=1)
    """Largest `input_audio` part of a chat message, in bytes once base64-decoded; a larger one is a 400."""

    chat_audio_ttl_seconds: int = Field(default=3600, ge=1)
    """How long a spoken chat answer's `audio.id` may be sent back in a later turn (its `expires_at`)."""

    chat_audio_ids: int = Field(default=4096, ge=1)
    """Spoken chat answers whose `audio.id` is remembered (with its transcript) at once; the oldest go first."""

    image_models: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Diffusers pipelines to serve, each a folder saved with `save_pretrained`, as `path` or `NAME=path`
    (the name defaults to the folder's name); comma-separated in the environment. There is no default
    image model."""

    image_threads: int | None = Field(default=None, ge=1)
    """CPU threads torch uses for the image models (default: the cores this process may run on)."""

    image_url_ttl: float = Field(default=3600.0, gt=0)
    """Seconds an image made for `response_format=url` stays on the server; then it is deleted."""

    embedding_token_ids: dict[str, Literal["model", "cl100k_base"]] = Field(default_factory=dict)
    """How each embedding model (by name) reads token-id input: `model`, the default, as ids of the
    model's own tokenizer; `cl100k_base` as ids of OpenAI's cl100k_base vocabulary (what tiktoken and
    langchain-openai's OpenAIEmbeddings send by default), decoded to text and embedded as text. Needs the
    `embeddings` extra. JSON in the environment, e.g. `{"all-MiniLM-L6-v2": "cl100k_base"}`."""

    @field_validator(
        "targets",
        "api_keys",
        "builtins",
        "model_dirs",
        "admin_keys",
        "cors_origins",
        "image_models",
        "allowed_hosts",
        mode="before",
    )
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value


def configured_upstreams(settings: Settings, environ: Mapping[str, str] | None = None) -> list[UpstreamConfig]:
    """The settings' upstreams, and the one Speaches' variables describe, if set."""
    shortcut = speaches_upstream(environ)
    return [*settings.upstreams, *([shortcut] if shortcut is not None else [])]


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Settings from `overrides` (None values ignored), the environment, then the TOML config file."""
    path = config_file or os.environ.get("MODELPORT_CONFIG")
    values = {key: value for key, value in overrides.items() if value is not None}
    if not path:
        return _with_models_file(Settings(**values))
    if not Path(path).is_file():
        raise FileNotFoundError(f"config file not found: {path}")

    class FileSettings(Settings):
        model_config = SettingsConfigDict(toml_file=path)

        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return init_settings, env_settings, TomlConfigSettingsSource(settings_cls)

    return _with_models_file(Settings.model_validate(FileSettings(**values).model_dump()))


def read_models_file(path: Path) -> dict[str, ModelEntry]:
    """The `[models.NAME]` tables of a models file."""
    if not path.is_file():
        raise FileNotFoundError(f"models file not found: {path}")
    with path.open("rb") as file:
        data = tomllib.load(file)
    unknown = set(data) - {"models"}
    if unknown:
        raise ValueError(f"{path}: a models file holds only [models.NAME] tables, not {', '.join(sorted(unknown))}")
    tables = data.get("models", {})
    return {name: ModelEntry.model_validate(table) for name, table in tables.items()}


def _with_models_file(settings: Settings) -> Settings:
    if settings.models_file is None:
        return settings
    declared = read_models_file(settings.models_file)
    twice = set(declared) & set(settings.models)
    if twice:
        raise ValueError(
            f"models declared both in the config and in {settings.models_file}: {', '.join(sorted(twice))}"
        )
    return settings.model_copy(update={"models": {**settings.models, **declared}})
