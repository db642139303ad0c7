"""The built-in audio models at their limits: input with nothing to speak, a fragment of an mp3, a client
that gives up on a long transcription, and the time cap."""

from __future__ import annotations

import io
import threading
import time
import wave
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest
from openai import OpenAI

from live_server import LiveServer
from modelport.audio import decode_audio, encode_audio
from modelport.builtin.whisper import WhisperTranscriber, tiny_en_model_dir, token_budget
from modelport.config import Settings
from modelport.predictor import build_spec
from modelport.runtime import Registry

pytestmark = pytest.mark.slow

SENTENCE = "The quick brown fox jumps over the lazy dog near the river bank."


class WatchedWhisper(WhisperTranscriber):
    """Whisper tiny.en that records the segments it decodes, when it stops, and the budget it was given."""

    def __init__(self) -> None:
        super().__init__(tiny_en_model_dir(), identifier="whisper-tiny.en")
        self.segments = 0
        self.stopped = threading.Event()
        self.budgets: list[int | None] = []

    def load(self) -> None:
        super().load()
        transcribe = self._model.transcribe

        def watched(*args: Any, **kwargs: Any) -> tuple[Iterator[Any], Any]:
            self.budgets.append(kwargs.get("max_new_tokens"))
            segments, info = transcribe(*args, **kwargs)

            def each() -> Iterator[Any]:
                try:
                    for segment in segments:
                        self.segments += 1
                        yield segment
                finally:
                    self.stopped.set()

            return each(), info

        self._model.transcribe = watched


@pytest.fixture(scope="module")
def watched() -> Iterator[tuple[LiveServer, WatchedWhisper]]:
    """Watched Whisper tiny.en behind a server that caps a transcription at 2 s plus 0.01 s per audio second
    (three minutes of speech take it some 9 s on a quiet 2-core machine)."""
    import live_server

    whisper = WatchedWhisper()
    settings = Settings(transcription_time_floor=2.0, transcription_time_per_second=0.01)
    with live_server.serve(Registry([build_spec(whisper, name="watched-whisper")]), settings) as live:
        yield live, whisper


@pytest.fixture(scope="module")
def long_speech(builtin_client: OpenAI) -> bytes:
    """Some three minutes of speech as 8 kHz wav: one spoken sentence, over and over."""
    data = builtin_client.audio.speech.create(model="hibari", voice="heart", input=SENTENCE, response_format="pcm")
    clip = np.frombuffer(data.content, dtype="<i2")[::3]  # 24 kHz to 8 kHz, near enough for speech
    samples = np.tile(np.concatenate([clip, np.zeros(4000, "<i2")]), 180 * 8000 // (len(clip) + 4000))
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(samples.astype("<i2").tobytes())
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("model", "voice", "text"),
    [
        ("hibari", "heart", " "),
        ("hibari", "heart", "\u0095"),
        ("hibari", "heart", "\U0001f600"),
        ("hibari", "heart", "\u4f60\u597d"),
        ("piper-joe", "joe", "..."),
        ("piper-joe", "joe", " \u0095 "),
    ],
)
def test_nothing_to_speak_is_a_400(builtin_server: LiveServer, model: str, voice: str, text: str) -> None:
    with httpx.Client(base_url=builtin_server.url, timeout=60) as http:
        for stream_format in ("audio", "sse"):
            body = {"model": model, "voice": voice, "input": text, "stream_format": stream_format}
            response = http.post("/v1/audio/speech", json=body)
            assert response.status_code == 400, response.text
            assert response.json()["error"]["code"] == "nothing_to_speak"


def test_a_fragment_of_an_mp3_is_transcribed_within_a_budget(builtin_client: OpenAI, watched: Any) -> None:
    # The 0.3 s head of an mp3, cut mid-frame, as a client that lost its connection uploads it.
    speech = builtin_client.audio.speech.create(model="hibari", voice="heart", input=SENTENCE, response_format="pcm")
    samples = np.frombuffer(speech.content, dtype="<i2").astype(np.float32) / 32768
    mp3 = encode_audio(samples, 24_000, "mp3")
    fragment = mp3[: round(len(mp3) * 0.3 * 24_000 / len(samples)) + 7]
    result = builtin_client.audio.transcriptions.create(model="whisper-base", file=("cut.mp3", fragment))
    assert isinstance(result.text, str)
    _, whisper = watched
    audio = decode_audio(fragment, 16_000)
    transcripts = list(whisper(audio))
    assert transcripts[-1].text == result.text or isinstance(transcripts[-1].text, str)
    # Each 30 s window decodes at most this many tokens, at every temperature of the fallback.
    assert whisper.budgets[-1] == token_budget(audio.shape[0] / 16_000) < 30


def test_a_client_that_gives_up_stops_whisper(watched: Any, long_speech: bytes) -> None:
    live, whisper = watched
    whisper.stopped.clear()
    whisper.segments = 0
    with httpx.Client(base_url=live.url, timeout=1.5) as http, pytest.raises(httpx.ReadTimeout):
        http.post("/v1/audio/transcriptions", data={"model": "watched-whisper"}, files={"file": ("a.wav", long_speech)})
    # Whisper stops after the segment in flight; three minutes of sentences would be some 40 segments.
    assert whisper.stopped.wait(timeout=30)
    decoded = whisper.segments
    time.sleep(1)
    assert whisper.segments == decoded < 30


def test_a_long_transcription_is_cut_at_the_time_cap(watched: Any, long_speech: bytes) -> None:
    live, whisper = watched
    whisper.stopped.clear()
    with httpx.Client(base_url=live.url, timeout=120) as http:
        started = time.monotonic()
        response = http.post(
            "/v1/audio/transcriptions", data={"model": "watched-whisper"}, files={"file": ("a.wav", long_speech)}
        )
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "processing_timeout"
    assert whisper.stopped.wait(timeout=30)
    assert time.monotonic() - started < 60
