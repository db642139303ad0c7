"""Reading an upstream server's voices answer (modelport.serving.voices), whatever shape the server uses."""

from __future__ import annotations

from typing import Any

import pytest

from modelport.serving.voices import voices_in

MODELPORT = {
    "object": "list",
    "data": [
        {"model": "tones", "voices": ["low", "mid"], "aliases": {}},
        {"model": "kokoro", "voices": ["af_bella", "am_adam"], "aliases": {"alloy": "af_bella", "bad": 3}},
    ],
}


@pytest.mark.parametrize(
    ("answer", "upstream_id", "expected"),
    [
        (MODELPORT, "kokoro", (["af_bella", "am_adam"], {"alloy": "af_bella"})),
        (MODELPORT, "tones", (["low", "mid"], {})),
        # Several entries and none for this model: nothing to go by.
        (MODELPORT, "other", None),
        # One entry (an upstream that filtered by ?model=): that one, whatever it calls the model.
        ({"data": [{"model": "tts-1-renamed", "voices": ["v"]}]}, "tts-1", (["v"], {})),
        # Kokoro-FastAPI's shape, and lists of voice objects.
        ({"voices": ["af_bella", "am_adam"]}, "kokoro", (["af_bella", "am_adam"], {})),
        ({"voices": [{"voice_id": "a"}, {"id": "b"}, {"name": "c"}, {"gender": "x"}, 7]}, "m", (["a", "b", "c"], {})),
        ({"voices": []}, "m", None),
        ({"detail": "Not Found"}, "m", None),
        ({"data": "nope"}, "m", None),
    ],
)
def test_voices_in(answer: dict[str, Any], upstream_id: str, expected: object) -> None:
    assert voices_in(answer, upstream_id) == expected
