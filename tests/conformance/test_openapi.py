"""schemathesis against the OpenAPI document the server publishes: generated requests, valid and invalid,
to the example models and to the built-in chat, embeddings and speech models; no response may be a 5xx,
and every response must be one the document declares (status, content type, body schema).

The document is the server's own, with each request's `model` narrowed to the models that serve the
route, so that requests reach a model instead of stopping at a 404; for the real models the sizes that
cost time (max_tokens, input lengths) are narrowed too. Each operation gets a fixed number of examples.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

import live_server
from live_server import LiveServer
from modelport.config import Settings
from modelport.runtime import Registry, load_targets
from modelport.server import create_app

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
CHAT_MODEL = "qwen2.5-coder-0.5b-instruct"

# The models each route is tried with, per server; a route with none is not tried.
EXAMPLE_MODELS = {
    "ChatCompletionRequest": ["echo", "shout"],
    "CompletionRequest": ["echo"],
    "EmbeddingRequest": ["hash-embed"],
    "SpeechRequest": ["tones"],
    "TranscriptionForm": ["audio-length"],
    "TranslationForm": ["audio-length"],
}
BUILTIN_MODELS = {
    "ChatCompletionRequest": [CHAT_MODEL],
    "CompletionRequest": [CHAT_MODEL],
    "EmbeddingRequest": ["all-MiniLM-L6-v2"],
    "SpeechRequest": ["hibari"],
}
BUILTIN_PATHS = {"/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/audio/speech", "/v1/models"}


def _document() -> dict[str, Any]:
    # The routes do not depend on the models served: any registry gives the same document.
    return create_app(Registry(load_targets([str(EXAMPLES)]))).openapi()


def _narrowed(models: dict[str, list[str]], *, small: bool, paths: set[str] | None = None) -> dict[str, Any]:
    document = copy.deepcopy(_document())
    schemas = document["components"]["schemas"]
    for name, served in models.items():
        schemas[name]["properties"]["model"] = {"type": "string", "enum": served}
    speech = schemas["SpeechRequest"]["properties"]
    speech["voice"] = {"type": "string", "enum": ["alloy", "heart", "mid", "nobody"]}
    # The example speaks a tenth of a second per character: 4096 of them are minutes of audio to encode.
    speech["input"] = {"type": "string", "minLength": 1, "maxLength": 40}
    if small:
        for request in ("ChatCompletionRequest", "CompletionRequest"):
            properties = schemas[request]["properties"]
            for field in ("max_tokens", "max_completion_tokens"):
                if field in properties:
                    properties[field] = {"type": "integer", "minimum": 1, "maximum": 8}
            properties["n"] = {"type": "integer", "minimum": 1, "maximum": 2}
            schemas[request].setdefault("required", [])
            if "max_tokens" not in schemas[request]["required"]:
                schemas[request]["required"].append("max_tokens")
    if paths is not None:
        document["paths"] = {path: item for path, item in document["paths"].items() if path in paths}
    return document


# Generated examples only: the coverage phase's boundary cases are many more requests than the time allows.
CONFIG = SchemathesisConfig.from_dict({"phases": {"coverage": {"enabled": False}}})
examples_schema = schemathesis.openapi.from_dict(_narrowed(EXAMPLE_MODELS, small=False), config=CONFIG)
builtin_schema = schemathesis.openapi.from_dict(
    _narrowed(BUILTIN_MODELS, small=True, paths=BUILTIN_PATHS), config=CONFIG
)


def _examples(count: int) -> settings:
    return settings(
        max_examples=count, deadline=None, database=None, suppress_health_check=list(HealthCheck), derandomize=True
    )


@pytest.fixture(scope="module")
def examples_server() -> Iterator[LiveServer]:
    with live_server.serve(Registry(load_targets([str(EXAMPLES)])), Settings()) as live:
        yield live


@pytest.fixture(scope="module")
def builtin_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    from modelport.builtin import hibari, llama, onnx_embeddings

    settings = Settings(cache_dir=tmp_path_factory.mktemp("cache"), chat_context=512, chat_parallel=2, queue_size=8)
    specs = [*llama.models(settings), *onnx_embeddings.models(settings), *hibari.models(settings)]
    with live_server.serve(Registry(specs), settings) as live:
        yield live


@examples_schema.parametrize()
@_examples(20)
def test_example_models_conform(case: schemathesis.Case, examples_server: LiveServer) -> None:
    case.call_and_validate(base_url=examples_server.url, checks=CHECKS, timeout=30)


@pytest.mark.slow
@builtin_schema.parametrize()
@_examples(8)
def test_builtin_models_conform(case: schemathesis.Case, builtin_server: LiveServer) -> None:
    case.call_and_validate(base_url=builtin_server.url, checks=CHECKS, timeout=60)
