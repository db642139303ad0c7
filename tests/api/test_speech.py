"""`POST /v1/audio/speech` against `tones` (24 kHz; one 0.08 s beep per character at speed 1)."""

from __future__ import annotations

import base64
import io

import av
import httpx
import openai
import pytest
from openai import AsyncOpenAI, OpenAI

from .helpers import assert_error, sse_audio_events

SAMPLE_RATE = 24_000
BEEP_SECONDS = 0.08
TEXT = "hello tones"

MEDIA_TYPES = {
    "mp3": "audio/mpeg",
    "opus": "audio/ogg",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "wav": "audio/wav",
    "pcm": "audio/pcm",
}


def _pcm_bytes(text: str, speed: float) -> int:
    """What `tones` returns for `text`, as 16-bit mono samples at 24 kHz."""
    frames_per_char = max(1, round(SAMPLE_RATE * BEEP_SECONDS / speed))
    return len(text) * frames_per_char * 2


def _decoded_seconds(data: bytes) -> float:
    with av.open(io.BytesIO(data)) as container:
        frames = sum(frame.samples for frame in container.decode(audio=0))
        return frames / container.streams.audio[0].rate


@pytest.mark.parametrize("response_format", list(MEDIA_TYPES))
def test_every_format(client: OpenAI, response_format: str) -> None:
    response = client.audio.speech.with_raw_response.create(
        model="tones",
        voice="mid",
        input=TEXT,
        response_format=response_format,  # type: ignore[arg-type]
    )
    assert response.headers["content-type"] == MEDIA_TYPES[response_format]
    data = response.content
    assert data
    if response_format == "pcm":
        assert len(data) == _pcm_bytes(TEXT, 1.0)
    else:
        # Every container format decodes back to about the length `tones` produced.
        assert _decoded_seconds(data) == pytest.approx(len(TEXT) * BEEP_SECONDS, abs=0.06)


def test_default_format_is_mp3(client: OpenAI) -> None:
    response = client.audio.speech.with_raw_response.create(model="tones", voice="low", input=TEXT)
    assert response.headers["content-type"] == "audio/mpeg"
    assert response.content


def test_wav_header(client: OpenAI) -> None:
    data = client.audio.speech.create(model="tones", voice="high", input=TEXT, response_format="wav").content
    assert data[:4] == b"RIFF"
    assert data[8:12] == b"WAVE"


@pytest.mark.parametrize("voice", ["low", "mid", "high"])
def test_pcm_length_is_exact(client: OpenAI, voice: str) -> None:
    data = client.audio.speech.create(model="tones", voice=voice, input=TEXT, response_format="pcm").content
    assert len(data) == _pcm_bytes(TEXT, 1.0) == len(TEXT) * 1920 * 2


def test_speed_shortens(client: OpenAI) -> None:
    normal = client.audio.speech.create(model="tones", voice="mid", input=TEXT, response_format="pcm").content
    fast = client.audio.speech.create(model="tones", voice="mid", input=TEXT, response_format="pcm", speed=2.0).content
    assert len(fast) == _pcm_bytes(TEXT, 2.0)
    assert len(fast) * 2 == len(normal)


def test_streamed_response(client: OpenAI) -> None:
    with client.audio.speech.with_streaming_response.create(
        model="tones", voice="mid", input=TEXT, response_format="pcm"
    ) as response:
        data = b"".join(response.iter_bytes())
    assert len(data) == _pcm_bytes(TEXT, 1.0)


def test_unknown_voice_lists_voices(client: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.audio.speech.create(model="tones", voice="alloy", input=TEXT)
    assert caught.value.param == "voice"
    for voice in ("low", "mid", "high"):
        assert voice in caught.value.message


def test_custom_voice_object(http: httpx.Client) -> None:
    known = http.post(
        "/v1/audio/speech",
        json={"model": "tones", "voice": {"id": "low"}, "input": TEXT, "response_format": "pcm"},
    )
    assert known.status_code == 200
    assert len(known.content) == _pcm_bytes(TEXT, 1.0)
    unknown = http.post("/v1/audio/speech", json={"model": "tones", "voice": {"id": "nope"}, "input": TEXT})
    assert_error(unknown, 400, param="voice")


@pytest.mark.parametrize("speed", [0.1, 4.5])
def test_speed_out_of_range(client: OpenAI, speed: float) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.audio.speech.create(model="tones", voice="mid", input=TEXT, speed=speed)
    assert caught.value.param == "speed"


@pytest.mark.parametrize("speed", [0.25, 4.0])
def test_speed_bounds_accepted(client: OpenAI, speed: float) -> None:
    data = client.audio.speech.create(
        model="tones", voice="mid", input="ab", response_format="pcm", speed=speed
    ).content
    assert len(data) == _pcm_bytes("ab", speed)


def test_input_too_long(client: OpenAI, http: httpx.Client) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.audio.speech.create(model="tones", voice="mid", input="a" * 4097)
    assert caught.value.param == "input"
    assert_error(
        http.post("/v1/audio/speech", json={"model": "tones", "voice": "mid", "input": "a" * 4097}), 400, param="input"
    )


def test_input_at_limit_accepted(client: OpenAI) -> None:
    data = client.audio.speech.create(model="tones", voice="mid", input="a" * 4096, speed=4.0, response_format="pcm")
    assert len(data.content) == _pcm_bytes("a" * 4096, 4.0)


def test_empty_input(http: httpx.Client) -> None:
    assert_error(
        http.post("/v1/audio/speech", json={"model": "tones", "voice": "mid", "input": ""}), 400, param="input"
    )


def test_missing_voice(http: httpx.Client) -> None:
    assert_error(http.post("/v1/audio/speech", json={"model": "tones", "input": TEXT}), 400, param="voice")


def test_unknown_format(http: httpx.Client) -> None:
    response = http.post(
        "/v1/audio/speech", json={"model": "tones", "voice": "mid", "input": TEXT, "response_format": "ogg"}
    )
    assert_error(response, 400, param="response_format")


def test_sse_stream_format(http: httpx.Client) -> None:
    response = http.post(
        "/v1/audio/speech",
        json={"model": "tones", "voice": "mid", "input": TEXT, "stream_format": "sse", "response_format": "pcm"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse_audio_events(response.text, "speech.audio.done")
    assert {event["type"] for event in events[:-1]} == {"speech.audio.delta"}
    assert events[-1]["type"] == "speech.audio.done"
    assert events[-1]["usage"]["input_tokens"] > 0
    audio = b"".join(base64.b64decode(event["audio"]) for event in events[:-1])
    assert len(audio) == _pcm_bytes(TEXT, 1.0)


@pytest.mark.anyio
async def test_async_speech(async_client: AsyncOpenAI) -> None:
    response = await async_client.audio.speech.create(model="tones", voice="low", input=TEXT, response_format="pcm")
    assert len(response.content) == _pcm_bytes(TEXT, 1.0)
