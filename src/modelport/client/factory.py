"""`AIFactory`: one call per capability, for modelport or any OpenAI-compatible server."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from openai import OpenAI
from openai.types import Model

from modelport.client.config import Capability, Provider, resolve_endpoint
from modelport.client.discovery import list_models
from modelport.client.embedding import EmbeddingModel
from modelport.client.errors import ConfigurationError, translate_errors
from modelport.client.language import LanguageModel
from modelport.client.speech_to_text import SpeechToTextModel
from modelport.client.text_to_speech import TextToSpeechModel

__all__ = ["AIFactory"]

_CAPABILITIES = {
    "language": Capability.LANGUAGE,
    "embedding": Capability.EMBEDDING,
    "speech_to_text": Capability.SPEECH_TO_TEXT,
    "text_to_speech": Capability.TEXT_TO_SPEECH,
}


class AIFactory:
    """Creates client models by provider and model name.

    `provider` is "modelport" (a local modelport, `http://127.0.0.1:8000/v1`, unless a base URL is
    configured) or "openai-compatible" (any server; its base URL must be configured). `config` holds
    `base_url`, `api_key`, `timeout`, `max_retries` and the capability's own settings; the keyword arguments
    win over it, and it wins over the environment (see `modelport.client.config`).
    """

    @staticmethod
    def create_language(
        provider: str,
        model_name: str,
        config: Mapping[str, Any] | None = None,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float | None = None,
    ) -> LanguageModel:
        """A chat model: `chat_complete`, `achat_complete`, `to_langchain`."""
        return LanguageModel(
            model_name, provider=provider, config=config, base_url=base_url, api_key=api_key, timeout=timeout
        )

    @staticmethod
    def create_embedding(
        provider: str,
        model_name: str,
        config: Mapping[str, Any] | None = None,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float | None = None,
    ) -> EmbeddingModel:
        """An embedding model: `embed`, `aembed`, `to_langchain`."""
        return EmbeddingModel(
            model_name, provider=provider, config=config, base_url=base_url, api_key=api_key, timeout=timeout
        )

    @staticmethod
    def create_speech_to_text(
        provider: str,
        model_name: str,
        config: Mapping[str, Any] | None = None,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float | None = None,
    ) -> SpeechToTextModel:
        """A transcription model: `transcribe`, `atranscribe`."""
        return SpeechToTextModel(
            model_name, provider=provider, config=config, base_url=base_url, api_key=api_key, timeout=timeout
        )

    @staticmethod
    def create_text_to_speech(
        provider: str,
        model_name: str,
        config: Mapping[str, Any] | None = None,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float | None = None,
    ) -> TextToSpeechModel:
        """A speech model: `generate_speech`, `agenerate_speech`."""
        return TextToSpeechModel(
            model_name, provider=provider, config=config, base_url=base_url, api_key=api_key, timeout=timeout
        )

    @staticmethod
    def list_models(
        provider: str,
        capability: str = "language",
        config: Mapping[str, Any] | None = None,
        *,
        refresh: bool = False,
    ) -> list[Model]:
        """The models served at the endpoint the capability's configuration points to (cached per endpoint).

        `capability` is "language", "embedding", "speech_to_text" or "text_to_speech": it picks the
        environment variables that apply.
        """
        if capability not in _CAPABILITIES:
            raise ConfigurationError(f"Unknown capability {capability!r}; choose one of {', '.join(_CAPABILITIES)}.")
        kind = _CAPABILITIES[capability]
        endpoint = resolve_endpoint(kind, Provider.parse(provider), config or {})
        timeout = (endpoint.timeout, endpoint.timeout_source, kind.timeout_env)
        with (
            OpenAI(
                base_url=endpoint.base_url,
                api_key=endpoint.api_key_or_placeholder,
                timeout=endpoint.timeout,
                max_retries=endpoint.max_retries,
            ) as client,
            translate_errors(url=endpoint.base_url, model="", timeout=timeout),
        ):
            return list_models(client, refresh=refresh)
