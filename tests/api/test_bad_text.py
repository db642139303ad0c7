"""Text that is not Unicode text: a lone UTF-16 surrogate is a 400 in every text field, never a 500."""

from __future__ import annotations

import json

import httpx
import pytest

from .helpers import assert_error, tone_wav

SURROGATE = "a\ud800b"


def _post_json(http: httpx.Client, path: str, body: dict[str, object]) -> httpx.Response:
    # json.dumps writes the surrogate as the escape `\ud800`, as a JavaScript client would send it.
    return http.post(path, content=json.dumps(body), headers={"content-type": "application/json"})


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "hash-embed", "input": SURROGATE}, "input"),
        ({"model": "hash-embed", "input": ["fine", SURROGATE]}, "input"),
        ({"model": SURROGATE, "input": "fine"}, "model"),
    ],
)
def test_embeddings(http: httpx.Client, body: dict[str, object], param: str) -> None:
    error = assert_error(_post_json(http, "/v1/embeddings", body), 400)
    assert error["param"] == param
    assert "surrogate" in error["message"]


@pytest.mark.parametrize("field", ["input", "voice", "instructions", "model"])
def test_speech(http: httpx.Client, field: str) -> None:
    body: dict[str, object] = {"model": "tone-stream", "voice": "heart", "input": "One."}
    body[field] = SURROGATE
    error = assert_error(_post_json(http, "/v1/audio/speech", body), 400, param=field)
    assert "surrogate" in error["message"] or "unicode" in error["message"]


@pytest.mark.parametrize("field", ["prompt", "language"])
def test_transcription_fields(http: httpx.Client, field: str) -> None:
    # A multipart field cannot carry a surrogate as UTF-8; the nearest is its CESU-8 bytes, which are not
    # UTF-8 and are read as Latin-1 text: what arrives is ordinary (if garbled) text, never a 500.
    files = {"file": ("a.wav", tone_wav(0.5)), "model": (None, b"timed-words"), field: (None, b"a\xed\xa0\x80b")}
    response = http.post("/v1/audio/transcriptions", files=files)
    if field == "language":
        assert_error(response, 400, param="language")  # not one of the model's languages
    else:
        assert response.status_code == 200, response.text
        assert response.json()["text"].startswith("a")


def test_an_error_that_quotes_a_surrogate_is_still_json(http: httpx.Client) -> None:
    # A model name is echoed in the 404; the body must still encode.
    response = http.get("/v1/models/a%ED%A0%80b")
    assert response.status_code in (400, 404)
    assert response.json()["error"]["message"]
