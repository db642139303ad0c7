"""Errors a person can act on: each names the URL, the key, the served models or the timeout to change."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from modelport.client import (
    AIFactory,
    AuthenticationError,
    ClientError,
    ConfigurationError,
    EmbeddingModel,
    EndpointConnectionError,
    EndpointNotFoundError,
    LanguageModel,
    MissingExtraError,
    ModelNotFoundError,
    RequestRejectedError,
    RequestTimeoutError,
    SpeechToTextModel,
    TextToSpeechModel,
)

from .conftest import API_KEY, LiveServer
from .test_speech import tone_wav

HELLO = [{"role": "user", "content": "hi"}]


def test_a_connection_error_names_the_url(dead_url: str) -> None:
    with (
        LanguageModel("echo", base_url=dead_url, config={"max_retries": 0}) as chat,
        pytest.raises(EndpointConnectionError, match=f"Could not connect to {dead_url}") as caught,
    ):
        chat.chat_complete(HELLO)
    assert caught.value.url == dead_url


@pytest.mark.anyio
async def test_a_connection_error_names_the_url_async(dead_url: str) -> None:
    async with EmbeddingModel("hash-embed", base_url=dead_url, config={"max_retries": 0}) as embedder:
        with pytest.raises(EndpointConnectionError, match=dead_url):
            await embedder.aembed(["hi"])


def test_a_refused_key(locked_server: LiveServer) -> None:
    with (
        TextToSpeechModel("tones", base_url=locked_server.v1, api_key="wrong") as speaker,
        pytest.raises(AuthenticationError, match=f"{locked_server.v1} refused the API key"),
    ):
        speaker.generate_speech("hi", "mid")


def test_a_missing_key(locked_server: LiveServer) -> None:
    with (
        SpeechToTextModel("audio-length", base_url=locked_server.v1) as listener,
        pytest.raises(AuthenticationError, match="OPENAI_COMPATIBLE_API_KEY"),
    ):
        listener.transcribe(tone_wav())


def test_an_unknown_model_lists_the_served_ones(server: LiveServer) -> None:
    with (
        LanguageModel("gpt-9", base_url=server.v1) as chat,
        pytest.raises(ModelNotFoundError, match=r"'gpt-9' is not served at .*Models served there: .*echo") as caught,
    ):
        chat.chat_complete(HELLO)
    assert {"echo", "shout", "hash-embed", "tones", "audio-length"} <= set(caught.value.available or [])


@pytest.mark.anyio
async def test_an_unknown_model_lists_the_served_ones_async(server: LiveServer) -> None:
    async with LanguageModel("gpt-9", base_url=server.v1) as chat:
        with pytest.raises(ModelNotFoundError, match="hash-embed"):
            await chat.achat_complete(HELLO, stream=True)


def test_an_unknown_model_for_a_locked_server(locked_server: LiveServer) -> None:
    with (
        EmbeddingModel("nope", base_url=locked_server.v1, api_key=API_KEY) as embedder,
        pytest.raises(ModelNotFoundError, match="tones"),
    ):
        embedder.embed(["hi"])


def test_a_wrong_base_url(server: LiveServer) -> None:
    # Without /v1 the routes do not exist: the error points at the base URL, not at the model.
    with (
        LanguageModel("echo", base_url=server.url) as chat,
        pytest.raises(EndpointNotFoundError, match="ends in /v1"),
    ):
        chat.chat_complete(HELLO)


def test_a_timeout_says_which_and_how_to_raise_it(server: LiveServer) -> None:
    config: dict[str, Any] = {"base_url": server.v1, "timeout": 0.2, "max_retries": 0}
    with (
        AIFactory.create_language("modelport", "inspect", config) as chat,
        pytest.raises(
            RequestTimeoutError, match=r"timed out after 0.2 s \(the timeout came from config\['timeout'\]\)"
        ) as caught,
    ):
        chat.chat_complete(HELLO, delay=1.0)
    assert "MODELPORT_LLM_TIMEOUT" in str(caught.value)


def test_a_timeout_from_the_environment(server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELPORT_LLM_TIMEOUT", "0.2")
    with (
        LanguageModel("inspect", base_url=server.v1, config={"max_retries": 0}) as chat,
        pytest.raises(RequestTimeoutError, match="came from MODELPORT_LLM_TIMEOUT"),
    ):
        list(chat.chat_complete(HELLO, stream=True, delay=1.0))


@pytest.mark.anyio
async def test_a_timeout_async(server: LiveServer) -> None:
    async with LanguageModel("inspect", base_url=server.v1, timeout=0.2, config={"max_retries": 0}) as chat:
        with pytest.raises(RequestTimeoutError, match="the timeout argument"):
            await chat.achat_complete(HELLO, delay=1.0)


def test_openai_compatible_needs_a_base_url() -> None:
    with pytest.raises(ConfigurationError, match="OPENAI_COMPATIBLE_BASE_URL_EMBEDDING or OPENAI_COMPATIBLE_BASE_URL"):
        AIFactory.create_embedding("openai-compatible", "hash-embed")


def test_unknown_provider() -> None:
    with pytest.raises(ConfigurationError, match="Unknown provider 'ollama'"):
        AIFactory.create_language("ollama", "echo")


def test_to_langchain_without_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    # A None entry in sys.modules makes the import fail as if the package were not installed.
    monkeypatch.setitem(sys.modules, "langchain_openai", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'modelport\[langchain\]'"):
        LanguageModel("echo").to_langchain()
    with pytest.raises(MissingExtraError, match="langchain-openai"):
        EmbeddingModel("hash-embed").to_langchain()


def test_a_rejected_request_carries_the_server_message(server: LiveServer) -> None:
    with (
        TextToSpeechModel("tones", base_url=server.v1) as speaker,
        pytest.raises(RequestRejectedError, match=r"answered 400 \(parameter 'voice'\): .*mid") as caught,
    ):
        speaker.generate_speech("hi", "nobody")
    assert caught.value.status_code == 400
    assert caught.value.param == "voice"


def test_every_error_is_a_client_error() -> None:
    for error in (AuthenticationError, EndpointConnectionError, ModelNotFoundError, RequestTimeoutError):
        assert issubclass(error, ClientError)
