"""Where a client model's endpoint, key and timeout come from.

Precedence, highest first: explicit arguments; the `config` dict; the capability's environment variables
(`OPENAI_COMPATIBLE_BASE_URL_LLM`, ..._API_KEY_EMBEDDING, ...); the generic `OPENAI_COMPATIBLE_BASE_URL` and
`OPENAI_COMPATIBLE_API_KEY`; then the provider's defaults. Timeouts: argument, `config['timeout']`,
`MODELPORT_<CAPABILITY>_TIMEOUT`, then 60 s for language and embedding and 300 s for speech.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from modelport.client.errors import ConfigurationError

__all__ = ["DEFAULT_MODELPORT_URL", "Capability", "Endpoint", "Provider", "resolve_endpoint"]

DEFAULT_MODELPORT_URL = "http://127.0.0.1:8000/v1"
# The openai package insists on a key; local servers without keys accept any bearer token.
NO_KEY = "not-needed"
# Keys of the `config` dict every capability understands; each capability adds its own.
ENDPOINT_KEYS = frozenset({"base_url", "api_key", "timeout", "max_retries"})


class Provider(StrEnum):
    """Which kind of server a client model talks to."""

    OPENAI_COMPATIBLE = "openai-compatible"
    """Any OpenAI-compatible server; the base URL must be configured."""
    MODELPORT = "modelport"
    """The same, with a local modelport (`http://127.0.0.1:8000/v1`) when no base URL is configured."""

    @classmethod
    def parse(cls, name: str) -> Provider:
        normalized = name.strip().lower().replace("_", "-")
        try:
            return cls(normalized)
        except ValueError:
            choices = ", ".join(repr(p.value) for p in cls)
            raise ConfigurationError(f"Unknown provider {name!r}; choose one of {choices}.") from None


class Capability(StrEnum):
    """What a model does; names the environment variables that configure it."""

    LANGUAGE = "LLM"
    EMBEDDING = "EMBEDDING"
    SPEECH_TO_TEXT = "STT"
    TEXT_TO_SPEECH = "TTS"

    @property
    def default_timeout(self) -> float:
        # Speech requests carry or produce whole recordings, so they get longer.
        return 300.0 if self in (Capability.SPEECH_TO_TEXT, Capability.TEXT_TO_SPEECH) else 60.0

    @property
    def base_url_env(self) -> str:
        return f"OPENAI_COMPATIBLE_BASE_URL_{self.value}"

    @property
    def api_key_env(self) -> str:
        return f"OPENAI_COMPATIBLE_API_KEY_{self.value}"

    @property
    def timeout_env(self) -> str:
        return f"MODELPORT_{self.value}_TIMEOUT"


GENERIC_BASE_URL_ENV = "OPENAI_COMPATIBLE_BASE_URL"
GENERIC_API_KEY_ENV = "OPENAI_COMPATIBLE_API_KEY"


@dataclass(frozen=True)
class Endpoint:
    """A resolved endpoint: where to send requests, with which key, and for how long to wait."""

    base_url: str
    api_key: str | None
    timeout: float
    timeout_source: str
    """Where `timeout` came from, for error messages: "the timeout argument", "MODELPORT_LLM_TIMEOUT", ..."""
    max_retries: int
    capability: Capability

    @property
    def api_key_or_placeholder(self) -> str:
        return self.api_key or NO_KEY


def resolve_endpoint(
    capability: Capability,
    provider: Provider,
    config: Mapping[str, Any],
    *,
    base_url: str | None = None,
    api_key: str | None = None,
    timeout: float | None = None,
    environ: Mapping[str, str] | None = None,
) -> Endpoint:
    """Apply the precedence rules for one capability; `environ` defaults to `os.environ`."""
    env = os.environ if environ is None else environ
    url = _first(
        (base_url, "the base_url argument"),
        (config.get("base_url"), "config['base_url']"),
        (env.get(capability.base_url_env), capability.base_url_env),
        (env.get(GENERIC_BASE_URL_ENV), GENERIC_BASE_URL_ENV),
    )
    if url is None:
        if provider is not Provider.MODELPORT:
            raise ConfigurationError(
                f"No base URL for the {provider.value} provider: pass base_url, set config['base_url'], or set "
                f"{capability.base_url_env} or {GENERIC_BASE_URL_ENV}."
            )
        url = DEFAULT_MODELPORT_URL
    key = _first(
        (api_key, "the api_key argument"),
        (config.get("api_key"), "config['api_key']"),
        (env.get(capability.api_key_env), capability.api_key_env),
        (env.get(GENERIC_API_KEY_ENV), GENERIC_API_KEY_ENV),
    )
    seconds, source = _timeout(capability, config, timeout, env)
    retries = config.get("max_retries", 2)
    if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
        raise ConfigurationError(f"config['max_retries'] must be a whole number >= 0, not {retries!r}.")
    return Endpoint(url.rstrip("/"), key, seconds, source, retries, capability)


def _first(*candidates: tuple[Any, str]) -> str | None:
    # An empty string counts as unset, as an exported-but-empty environment variable usually means.
    for value, where in candidates:
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            raise ConfigurationError(f"{where} must be a string, not {type(value).__name__}.")
        return value
    return None


def _timeout(
    capability: Capability, config: Mapping[str, Any], explicit: float | None, env: Mapping[str, str]
) -> tuple[float, str]:
    if explicit is not None:
        return _seconds(explicit, "the timeout argument"), "the timeout argument"
    if config.get("timeout") is not None:
        return _seconds(config["timeout"], "config['timeout']"), "config['timeout']"
    raw = env.get(capability.timeout_env)
    if raw:
        return _seconds(raw, capability.timeout_env), capability.timeout_env
    return capability.default_timeout, f"the {capability.default_timeout:g} s default"


def _seconds(value: Any, where: str) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = math.nan
    if isinstance(value, bool) or not math.isfinite(seconds) or seconds <= 0:
        raise ConfigurationError(f"{where} must be a positive number of seconds, not {value!r}.")
    return seconds
