"""Settings: one model read from arguments, `MODELPORT_*` environment variables and an optional TOML file.

Precedence, highest first: explicit values (the command line), environment variables, the config file
(`--config` or `MODELPORT_CONFIG`), then the defaults below.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_MAX_REQUEST_BYTES = 25 * 1024 * 1024

# OpenAI's voice names -> installed voices, in order of preference: female voices prefer hibari's "heart",
# male ones Piper's "joe"; a speech model takes the first one it serves.
DEFAULT_VOICE_MAP: dict[str, list[str]] = {
    **{name: ["heart", "joe"] for name in ("alloy", "coral", "nova", "sage", "shimmer")},
    **{name: ["joe", "heart"] for name in ("ash", "ballad", "echo", "fable", "onyx", "verse")},
}


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
    """Keys accepted as `Authorization: Bearer <key>`; comma-separated in the environment. Empty means
    no authentication."""

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

    log_level: str = "info"
    """Log level of the server: critical, error, warning, info or debug."""

    cache_dir: Path = Field(default_factory=lambda: Path.home() / ".cache" / "modelport")
    """Folder for files made from installed packages, such as model weights joined from their parts."""

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

    embedding_batching: bool = True
    """Merge concurrent embedding requests to the same model into shared batches (dynamic batching). Off,
    each request runs alone, one at a time."""

    embedding_batch_window_ms: float = Field(default=2.0, ge=0, le=1000)
    """How long, in milliseconds, an embedding request waits for others to join its batch; 0 batches only
    requests that are already waiting."""

    embedding_max_batch_size: int = Field(default=64, ge=1)
    """Most inputs in one embedding batch; larger requests are cut into batches of this size, which keeps
    memory bounded. The default measured fastest for the built-in model on a 2-core CPU."""

    embedding_token_ids: dict[str, Literal["model", "cl100k_base"]] = Field(default_factory=dict)
    """How each embedding model (by name) reads token-id input: `model`, the default, as ids of the
    model's own tokenizer; `cl100k_base` as ids of OpenAI's cl100k_base vocabulary (what tiktoken and
    langchain-openai's OpenAIEmbeddings send by default), decoded to text and embedded as text. Needs the
    `embeddings` extra. JSON in the environment, e.g. `{"all-MiniLM-L6-v2": "cl100k_base"}`."""

    @field_validator("targets", "api_keys", "builtins", "allowed_hosts", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Settings from `overrides` (None values ignored), the environment, then the TOML config file."""
    path = config_file or os.environ.get("MODELPORT_CONFIG")
    values = {key: value for key, value in overrides.items() if value is not None}
    if not path:
        return Settings(**values)
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

    return Settings.model_validate(FileSettings(**values).model_dump())
