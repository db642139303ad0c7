"""`/health`, `/docs` and `/openapi.json`."""

from __future__ import annotations

import httpx

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
        "/health",
    ):
        assert path in schema["paths"], sorted(schema["paths"])


def test_docs_open_on_keyed_server(locked_server: LiveServer) -> None:
    with httpx.Client(base_url=locked_server.url) as http:
        assert http.get("/docs").status_code == 200
        assert http.get("/openapi.json").status_code == 200
