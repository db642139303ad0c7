"""`/health`, `/docs` and `/openapi.json`."""

from __future__ import annotations

from collections.abc import Iterator

import httpx

import live_server
from modelport import Message
from modelport.config import Settings
from modelport.predictor import Task, build_spec
from modelport.runtime import Registry

from .conftest import LiveServer


def test_health(http: httpx.Client) -> None:
    response = http.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["models"]["echo"] == {"task": "chat", "loaded": True}
    assert body["models"]["hash-embed"]["task"] == "embeddings"
    assert body["models"]["tones"]["task"] == "speech"
    assert body["models"]["audio-length"]["task"] == "transcription"


def test_docs(http: httpx.Client) -> None:
    response = http.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "swagger" in response.text.lower()
    assert "/openapi.json" in response.text


def test_openapi(http: httpx.Client) -> None:
    response = http.get("/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"] == "modelport"
    for path in (
        "/v1/models",
        "/v1/models/{model_id}",
        "/v1/chat/completions",
        "/v1/embeddings",
        "/v1/audio/speech",
        "/v1/audio/transcriptions",
        "/v1/images/generations",
        "/v1/images/edits",
        "/v1/images/variations",
        "/health",
    ):
        assert path in schema["paths"], sorted(schema["paths"])
    edit_form = schema["paths"]["/v1/images/edits"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert {"image", "mask", "prompt", "n"} <= set(edit_form["schema"]["properties"])


def test_docs_open_on_keyed_server(locked_server: LiveServer) -> None:
    with httpx.Client(base_url=locked_server.url) as http:
        assert http.get("/docs").status_code == 200
        assert http.get("/openapi.json").status_code == 200


class _Ailing:
    """A chat model whose `health()` hook says whether its engine still serves."""

    problem: str | None = None

    def __call__(self, messages: list[Message]) -> Iterator[str]:
        yield "hi"

    def health(self) -> str | None:
        return self.problem


def test_health_tells_when_a_model_cannot_serve() -> None:
    ailing = _Ailing()
    registry = Registry([build_spec(ailing, name="ailing", task=Task.CHAT)])
    with live_server.serve(registry, Settings()) as live, httpx.Client(base_url=live.url) as http:
        assert http.get("/health").json() == {"status": "ok", "models": {"ailing": {"task": "chat", "loaded": True}}}
        ailing.problem = "the engine stopped"
        response = http.get("/health")
        assert response.status_code == 503
        assert response.json() == {
            "status": "error",
            "models": {"ailing": {"task": "chat", "loaded": True, "error": "the engine stopped"}},
        }
