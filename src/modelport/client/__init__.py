"""A client for modelport or any OpenAI-compatible server: one factory call per capability.

    from modelport.client import AIFactory

    chat = AIFactory.create_language("modelport", "echo")
    chat.chat_complete([{"role": "user", "content": "hello"}]).choices[0].message.content

Configuration precedence, highest first: explicit arguments, the `config` dict, the capability's
environment variables (`OPENAI_COMPATIBLE_BASE_URL_LLM`, `..._EMBEDDING`, `..._STT`, `..._TTS`, and the
same for `OPENAI_COMPATIBLE_API_KEY_*`), the generic `OPENAI_COMPATIBLE_BASE_URL` / `OPENAI_COMPATIBLE_API_KEY`,
then defaults.
"""

from modelport.client.base import ClientModel
from modelport.client.config import DEFAULT_MODELPORT_URL, Capability, Endpoint, Provider
from modelport.client.discovery import forget_models
from modelport.client.embedding import EmbeddingModel
from modelport.client.errors import (
    AuthenticationError,
    ClientError,
    ConfigurationError,
    EndpointConnectionError,
    EndpointNotFoundError,
    MissingExtraError,
    ModelNotFoundError,
    RequestRejectedError,
    RequestTimeoutError,
)
from modelport.client.factory import AIFactory
from modelport.client.language import LanguageModel
from modelport.client.prefixes import KNOWN_TASK_PREFIXES, TaskType
from modelport.client.speech_to_text import SpeechToTextModel, Transcription
from modelport.client.text_to_speech import TextToSpeechModel

__all__ = [
    "DEFAULT_MODELPORT_URL",
    "KNOWN_TASK_PREFIXES",
    "AIFactory",
    "AuthenticationError",
    "Capability",
    "ClientError",
    "ClientModel",
    "ConfigurationError",
    "EmbeddingModel",
    "Endpoint",
    "EndpointConnectionError",
    "EndpointNotFoundError",
    "LanguageModel",
    "MissingExtraError",
    "ModelNotFoundError",
    "Provider",
    "RequestRejectedError",
    "RequestTimeoutError",
    "SpeechToTextModel",
    "TaskType",
    "TextToSpeechModel",
    "Transcription",
    "forget_models",
]
