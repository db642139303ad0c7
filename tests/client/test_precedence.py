"""Every precedence rule, for every capability, against live servers; the environment is set per test.

Base URL and key: explicit arguments, then the config dict, then OPENAI_COMPATIBLE_{BASE_URL,API_KEY}_<CAP>,
then OPENAI_COMPATIBLE_{BASE_URL,API_KEY}, then defaults. Timeouts: argument, config,
MODELPORT_<CAP>_TIMEOUT, then 60 s (language, embedding) or 300 s (speech).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from modelport.client import (
    DEFAULT_MODELPORT_URL,
    AIFactory,
    AuthenticationError,
    Capability,
    ClientModel,
    ConfigurationError,
    EmbeddingModel,
    LanguageModel,
    Provider,
    SpeechToTextModel,
    TextToSpeechModel,
)
from modelport.client.config import resolve_endpoint

from .conftest import API_KEY, LiveServer
from .test_speech import tone_wav

Factory = Callable[..., ClientModel]

CASES: dict[Capability, tuple[Factory, Callable[[Any], object]]] = {
    Capability.LANGUAGE: (
        lambda provider, config, **kw: AIFactory.create_language(provider, "echo", config, **kw),
        lambda model: model.chat_complete("hi").choices[0].message.content == "hi",
    ),
    Capability.EMBEDDING: (
        lambda provider, config, **kw: AIFactory.create_embedding(provider, "hash-embed", config, **kw),
        lambda model: len(model.embed(["hi"])[0]) == 256,
    ),
    Capability.SPEECH_TO_TEXT: (
        lambda provider, config, **kw: AIFactory.create_speech_to_text(provider, "audio-length", config, **kw),
        lambda model: model.transcribe(tone_wav()).text.startswith("0.50 seconds"),
    ),
    Capability.TEXT_TO_SPEECH: (
        lambda provider, config, **kw: AIFactory.create_text_to_speech(provider, "tones", config, **kw),
        lambda model: model.generate_speech("hi", "mid", format="wav")[:4] == b"RIFF",
    ),
}
CAPABILITIES = list(CASES)
PROVIDERS = ["openai-compatible", "modelport"]
NO_RETRY = {"max_retries": 0}


def works(capability: Capability, config: dict[str, Any], provider: str = "openai-compatible", **kw: Any) -> None:
    create, call = CASES[capability]
    with create(provider, {**NO_RETRY, **config}, **kw) as model:
        assert call(model)


def other(capability: Capability) -> Capability:
    return CAPABILITIES[(CAPABILITIES.index(capability) + 1) % len(CAPABILITIES)]


# Base URLs: the live server at the level under test, a dead URL one level below it.


@pytest.mark.parametrize("capability", CAPABILITIES)
def test_url_argument_beats_config(capability: Capability, server: LiveServer, dead_url: str) -> None:
    works(capability, {"base_url": dead_url}, base_url=server.v1)


@pytest.mark.parametrize("capability", CAPABILITIES)
def test_url_config_beats_capability_env(
    capability: Capability, server: LiveServer, dead_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(capability.base_url_env, dead_url)
    works(capability, {"base_url": server.v1})


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("capability", CAPABILITIES)
def test_url_capability_env_beats_generic_env(
    capability: Capability, provider: str, server: LiveServer, dead_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(capability.base_url_env, server.v1)
    monkeypatch.setenv("OPENAI_COMPATIBLE_BASE_URL", dead_url)
    works(capability, {}, provider)


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("capability", CAPABILITIES)
def test_url_generic_env(
    capability: Capability, provider: str, server: LiveServer, dead_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another capability's variable does not apply.
    monkeypatch.setenv(other(capability).base_url_env, dead_url)
    monkeypatch.setenv("OPENAI_COMPATIBLE_BASE_URL", server.v1)
    works(capability, {}, provider)


@pytest.mark.parametrize("capability", CAPABILITIES)
def test_url_defaults(capability: Capability, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(other(capability).base_url_env, "http://elsewhere/v1")
    create, _ = CASES[capability]
    assert create("modelport", {}).base_url == DEFAULT_MODELPORT_URL
    with pytest.raises(ConfigurationError, match=capability.base_url_env):
        create("openai-compatible", {})


def test_an_empty_variable_counts_as_unset(server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_COMPATIBLE_BASE_URL_LLM", "")
    monkeypatch.setenv("OPENAI_COMPATIBLE_BASE_URL", server.v1)
    works(Capability.LANGUAGE, {})


# API keys, against the server that wants API_KEY: the right key at the level under test, a wrong one below.


@pytest.mark.parametrize("capability", CAPABILITIES)
def test_key_argument_beats_config(capability: Capability, locked_server: LiveServer) -> None:
    works(capability, {"base_url": locked_server.v1, "api_key": "wrong"}, api_key=API_KEY)


@pytest.mark.parametrize("capability", CAPABILITIES)
def test_key_config_beats_capability_env(
    capability: Capability, locked_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(capability.api_key_env, "wrong")
    works(capability, {"base_url": locked_server.v1, "api_key": API_KEY})


@pytest.mark.parametrize("capability", CAPABILITIES)
def test_key_capability_env_beats_generic_env(
    capability: Capability, locked_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(capability.api_key_env, API_KEY)
    monkeypatch.setenv("OPENAI_COMPATIBLE_API_KEY", "wrong")
    works(capability, {"base_url": locked_server.v1})


@pytest.mark.parametrize("capability", CAPABILITIES)
def test_key_generic_env(capability: Capability, locked_server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(other(capability).api_key_env, "wrong")
    monkeypatch.setenv("OPENAI_COMPATIBLE_API_KEY", API_KEY)
    works(capability, {"base_url": locked_server.v1})


@pytest.mark.parametrize("capability", CAPABILITIES)
def test_no_key_is_refused_by_a_locked_server(capability: Capability, locked_server: LiveServer) -> None:
    with pytest.raises(AuthenticationError, match="refused the API key"):
        works(capability, {"base_url": locked_server.v1})


@pytest.mark.parametrize("capability", CAPABILITIES)
def test_no_key_is_needed_by_an_open_server(capability: Capability, server: LiveServer) -> None:
    create, _ = CASES[capability]
    assert create("openai-compatible", {"base_url": server.v1}).endpoint.api_key is None
    works(capability, {"base_url": server.v1})


# Timeouts.


@pytest.mark.parametrize(
    ("capability", "default"),
    [
        (Capability.LANGUAGE, 60.0),
        (Capability.EMBEDDING, 60.0),
        (Capability.SPEECH_TO_TEXT, 300.0),
        (Capability.TEXT_TO_SPEECH, 300.0),
    ],
)
def test_timeout_precedence(capability: Capability, default: float, monkeypatch: pytest.MonkeyPatch) -> None:
    def timeout(config: dict[str, Any], **kw: Any) -> tuple[float, str]:
        endpoint = resolve_endpoint(capability, Provider.MODELPORT, config, **kw)
        return endpoint.timeout, endpoint.timeout_source

    assert timeout({}) == (default, f"the {default:g} s default")
    monkeypatch.setenv(other(capability).timeout_env, "1")
    assert timeout({}) == (default, f"the {default:g} s default")
    monkeypatch.setenv(capability.timeout_env, "7.5")
    assert timeout({}) == (7.5, f"MODELPORT_{capability.value}_TIMEOUT")
    assert timeout({"timeout": 9}) == (9.0, "config['timeout']")
    assert timeout({"timeout": 9}, timeout=3) == (3.0, "the timeout argument")


@pytest.mark.parametrize("value", ["soon", "0", "-1", "inf"])
def test_a_bad_timeout_variable_is_named(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELPORT_STT_TIMEOUT", value)
    with pytest.raises(ConfigurationError, match="MODELPORT_STT_TIMEOUT must be a positive number"):
        SpeechToTextModel("audio-length")


def test_a_bad_timeout_in_config() -> None:
    with pytest.raises(ConfigurationError, match=r"config\['timeout'\]"):
        TextToSpeechModel("tones", config={"timeout": "long"})


def test_the_model_uses_the_resolved_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELPORT_EMBEDDING_TIMEOUT", "12")
    embedder = EmbeddingModel("hash-embed")
    assert embedder.client.timeout == 12.0
    assert LanguageModel("echo").client.timeout == 60.0


def test_direct_classes_take_the_same_arguments(server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_COMPATIBLE_BASE_URL_LLM", server.v1)
    with LanguageModel("shout", provider="openai-compatible", config=NO_RETRY) as chat:
        assert chat.chat_complete("hey").choices[0].message.content == "HEY"
