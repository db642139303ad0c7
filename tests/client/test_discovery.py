"""Model discovery: `GET {base_url}/models`, cached per endpoint."""

from __future__ import annotations

import pytest

from modelport.client import AIFactory, EmbeddingModel, EndpointConnectionError, LanguageModel, forget_models
from modelport.config import Settings

from .conftest import API_KEY, LiveServer, serve

EXAMPLE_MODELS = {"echo", "echo-1", "shout", "hash-embed", "tones", "audio-length"}


def test_models_lists_the_endpoint(server: LiveServer) -> None:
    with LanguageModel("echo", base_url=server.v1) as chat:
        models = chat.models()
    assert {model.id for model in models} >= EXAMPLE_MODELS
    assert all(model.object == "model" for model in models)


@pytest.mark.anyio
async def test_amodels(server: LiveServer) -> None:
    async with EmbeddingModel("hash-embed", base_url=server.v1) as embedder:
        assert {model.id for model in await embedder.amodels()} >= EXAMPLE_MODELS


def test_the_list_is_cached_per_endpoint() -> None:
    with serve(Settings()) as live:
        url = live.v1
        first = LanguageModel("echo", base_url=url, config={"max_retries": 0})
        assert "echo" in {model.id for model in first.models()}
        first.close()
    # The server is gone: another model on the same endpoint is answered from the cache...
    with EmbeddingModel("hash-embed", base_url=url, config={"max_retries": 0}) as second:
        assert "echo" in {model.id for model in second.models()}
        # ...until it asks for a fresh list.
        with pytest.raises(EndpointConnectionError, match=url):
            second.models(refresh=True)
    # The cache is per endpoint: another URL is asked, and forgetting drops the entry.
    forget_models(url)
    with (
        LanguageModel("echo", base_url=url, config={"max_retries": 0}) as third,
        pytest.raises(EndpointConnectionError),
    ):
        third.models()


def test_the_factory_lists_models(
    server: LiveServer, locked_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "tones" in {m.id for m in AIFactory.list_models("modelport", "text_to_speech", {"base_url": server.v1})}
    monkeypatch.setenv("OPENAI_COMPATIBLE_BASE_URL_STT", locked_server.v1)
    monkeypatch.setenv("OPENAI_COMPATIBLE_API_KEY", API_KEY)
    assert "audio-length" in {m.id for m in AIFactory.list_models("openai-compatible", "speech_to_text")}
