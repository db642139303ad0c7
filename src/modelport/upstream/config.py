"""How one upstream OpenAI-compatible server is configured: where it is, its key, which models, what names."""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, field_validator

# Speaches' variables for the one chat model it forwards to; modelport reads them as a shortcut.
SPEACHES_BASE_URL = "CHAT_COMPLETION_BASE_URL"
SPEACHES_MODEL = "CHAT_COMPLETION_MODEL"
SPEACHES_API_KEY = "CHAT_COMPLETION_API_KEY"


class UpstreamConfig(BaseModel):
    """One upstream server whose models modelport serves as its own (Ollama, vLLM, llama-server, OpenAI, ...)."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    base_url: str
    """The server's API root, as an OpenAI client's `base_url` takes it: `http://gpu-box:8000/v1`."""

    api_key_env: str | None = None
    """The environment variable that holds the API key sent as `Authorization: Bearer`; the key itself is
    never written in the configuration, nor logged."""

    models: list[str] = Field(default_factory=list)
    """The upstream's model ids to serve; empty serves every model its `GET /models` lists at start-up."""

    names: dict[str, str] = Field(default_factory=dict)
    """Local names for upstream ids (`{"llama3.1:8b": "llama"}`); other models keep `prefix` + their id."""

    prefix: str = ""
    """Put in front of each upstream id that `names` does not rename: `ollama/` serves `ollama/llama3.1:8b`."""

    connect_timeout: float = Field(default=10.0, gt=0)
    """Seconds to wait for a connection to the upstream; past it the request is a 504 naming the upstream."""

    timeout: float = Field(default=300.0, gt=0)
    """Seconds to wait for each read from the upstream (the first byte of an answer, or the next chunk of a
    stream) and each write; past it the request is a 504 naming the upstream."""

    @field_validator("base_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("base_url must start with http:// or https://")
        return value.rstrip("/")

    def local_name(self, upstream_id: str) -> str:
        """The name a client uses for the upstream's model `upstream_id`."""
        return self.names.get(upstream_id) or f"{self.prefix}{upstream_id}"

    def api_key(self, environ: Mapping[str, str] | None = None) -> str | None:
        """The key from `api_key_env`; a variable that is named but unset is an error, not a silent no-key."""
        if self.api_key_env is None:
            return None
        environ = os.environ if environ is None else environ
        key = environ.get(self.api_key_env)
        if key is None:
            raise ValueError(f"upstream {self.base_url}: the environment variable {self.api_key_env} is not set")
        return key


def speaches_upstream(environ: Mapping[str, str] | None = None) -> UpstreamConfig | None:
    """The upstream Speaches' `CHAT_COMPLETION_BASE_URL`, `CHAT_COMPLETION_MODEL` and `CHAT_COMPLETION_API_KEY`
    describe, or None when the base URL is not set. Without a model, every model the upstream lists is served."""
    environ = os.environ if environ is None else environ
    base_url = environ.get(SPEACHES_BASE_URL)
    if not base_url:
        return None
    model = environ.get(SPEACHES_MODEL)
    return UpstreamConfig(
        base_url=base_url,
        api_key_env=SPEACHES_API_KEY if environ.get(SPEACHES_API_KEY) else None,
        models=[model] if model else [],
    )
