"""`POST /v1/audio/transcriptions` against `audio-length` (16 kHz; reports length and peak frequency)."""

from __future__ import annotations

import io
import re
from fractions import Fraction

import av
import httpx
import numpy as np
import openai
import pytest
from openai import AsyncOpenAI, OpenAI

from .helpers import assert_error

# (filename, container, codec, sample rate): libopus takes no 44.1 kHz, so the ogg file is at 48 kHz.
UPLOADS = [
    ("tone.wav", "wav", "pcm_s16le", 44_100),
    ("tone.mp3", "mp3", "libmp3lame", 44_100),
    ("tone.flac", "flac", "flac", 44_100),
    ("tone.ogg", "ogg", "libopus", 48_000),
    ("tone.m4a", "ipod", "aac", 44_100),
]
REPORT = re.compile(r"(?:(?P<prompt>.*) )?(?P<seconds>\d+\.\d\d) seconds, peak (?P<peak>\d+) Hz")


def _tone(container: str, codec: str, rate: int, seconds: float = 1.0, freq: float = 440.0) -> bytes:
    """`seconds` of a `freq` Hz sine at `rate` Hz, mono, encoded by PyAV."""
    t = np.arange(round(rate * seconds)) / rate
    samples = (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32).reshape(1, -1)
    frame = av.AudioFrame.from_ndarray(samples, format="flt", layout="mono")
    frame.sample_rate = rate
    frame.time_base = Fraction(1, rate)
    frame.pts = 0
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=container) as output:
        stream = output.add_stream(codec, rate=rate)
        assert isinstance(stream, av.audio.stream.AudioStream)
        stream.layout = "mono"
        output.mux(stream.encode(frame))
        output.mux(stream.encode(None))
    return buffer.getvalue()


def _report(text: str) -> tuple[str | None, float, float]:
    match = REPORT.fullmatch(text)
    assert match, text
    return match["prompt"], float(match["seconds"]), float(match["peak"])


@pytest.mark.parametrize(("filename", "container", "codec", "rate"), UPLOADS)
def test_decodes_and_resamples_every_format(
    client: OpenAI, filename: str, container: str, codec: str, rate: int
) -> None:
    data = _tone(container, codec, rate)
    transcription = client.audio.transcriptions.create(model="audio-length", file=(filename, data))
    _, seconds, peak = _report(transcription.text)
    # Lossy codecs add a few ms of priming or padding.
    assert seconds == pytest.approx(1.0, abs=0.06)
    assert peak == pytest.approx(440, abs=3)


def test_speech_output_round_trip(client: OpenAI) -> None:
    # 25 characters at speed 2 are 25 * 0.04 s = 1 s of beeps at 440 * 2 ** (1 / 12) Hz ("a" is 97 = 1 mod 12).
    mp3 = client.audio.speech.create(model="tones", voice="mid", input="a" * 25, speed=2.0).content
    transcription = client.audio.transcriptions.create(model="audio-length", file=("speech.mp3", mp3))
    _, seconds, peak = _report(transcription.text)
    assert seconds == pytest.approx(1.0, abs=0.06)
    # Each 0.04 s beep restarts its phase, so the spectrum peaks on a 25 Hz comb near the pitch.
    assert peak == pytest.approx(440 * 2 ** (1 / 12), abs=13)


def test_text_response_format(client: OpenAI) -> None:
    text = client.audio.transcriptions.create(
        model="audio-length", file=("tone.wav", _tone("wav", "pcm_s16le", 44_100)), response_format="text"
    )
    assert isinstance(text, str)
    assert _report(text.strip())[1] == pytest.approx(1.0, abs=0.01)


def test_text_response_format_wire(http: httpx.Client) -> None:
    response = http.post(
        "/v1/audio/transcriptions",
        data={"model": "audio-length", "response_format": "text"},
        files={"file": ("tone.wav", _tone("wav", "pcm_s16le", 16_000), "audio/wav")},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text.strip() == "1.00 seconds, peak 440 Hz"


def test_json_response_wire(http: httpx.Client) -> None:
    response = http.post(
        "/v1/audio/transcriptions",
        data={"model": "audio-length"},
        files={"file": ("tone.wav", _tone("wav", "pcm_s16le", 16_000), "audio/wav")},
    )
    assert response.status_code == 200
    assert response.json()["text"] == "1.00 seconds, peak 440 Hz"


def test_prompt_is_passed(client: OpenAI) -> None:
    transcription = client.audio.transcriptions.create(
        model="audio-length",
        file=("tone.flac", _tone("flac", "flac", 44_100)),
        prompt="Duration:",
        language="en",
    )
    prompt, seconds, _ = _report(transcription.text)
    assert prompt == "Duration:"
    assert seconds == pytest.approx(1.0, abs=0.01)


def test_language_and_prompt_reach_the_predictor(client: OpenAI) -> None:
    wav = _tone("wav", "pcm_s16le", 16_000, seconds=0.1)
    transcription = client.audio.transcriptions.create(
        model="transcribe-args", file=("a.wav", wav), language="nb", prompt="Hei"
    )
    assert transcription.text == "language=nb prompt=Hei"
    bare = client.audio.transcriptions.create(model="transcribe-args", file=("a.wav", wav))
    assert bare.text == "language=None prompt=None"


def test_undecodable_upload(client: OpenAI, http: httpx.Client) -> None:
    garbage = b"this is not audio at all " * 40
    with pytest.raises(openai.BadRequestError) as caught:
        client.audio.transcriptions.create(model="audio-length", file=("notes.mp3", garbage))
    assert caught.value.param == "file"
    assert "could not decode" in caught.value.message
    response = http.post(
        "/v1/audio/transcriptions", data={"model": "audio-length"}, files={"file": ("notes.mp3", garbage)}
    )
    error = assert_error(response, 400, param="file")
    assert "could not decode" in error["message"]


def test_empty_upload(client: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.audio.transcriptions.create(model="audio-length", file=("empty.wav", b""))
    assert caught.value.param == "file"


def test_missing_file(http: httpx.Client) -> None:
    response = http.post("/v1/audio/transcriptions", data={"model": "audio-length"})
    assert_error(response, 400, param="file")


def test_missing_model(http: httpx.Client) -> None:
    response = http.post("/v1/audio/transcriptions", files={"file": ("tone.wav", _tone("wav", "pcm_s16le", 16_000))})
    assert_error(response, 400, param="model")


def test_unknown_response_format(http: httpx.Client) -> None:
    response = http.post(
        "/v1/audio/transcriptions",
        data={"model": "audio-length", "response_format": "docx"},
        files={"file": ("tone.wav", _tone("wav", "pcm_s16le", 16_000))},
    )
    assert_error(response, 400, param="response_format")


def test_temperature_out_of_range(http: httpx.Client) -> None:
    response = http.post(
        "/v1/audio/transcriptions",
        data={"model": "audio-length", "temperature": "5"},
        files={"file": ("tone.wav", _tone("wav", "pcm_s16le", 16_000))},
    )
    assert_error(response, 400, param="temperature")


def test_json_body_instead_of_form(http: httpx.Client) -> None:
    response = http.post("/v1/audio/transcriptions", json={"model": "audio-length", "file": "tone.wav"})
    assert response.status_code == 400
    assert_error(response, 400)


@pytest.mark.anyio
async def test_async_transcription(async_client: AsyncOpenAI) -> None:
    transcription = await async_client.audio.transcriptions.create(
        model="audio-length", file=("tone.mp3", _tone("mp3", "libmp3lame", 44_100))
    )
    assert _report(transcription.text)[2] == pytest.approx(440, abs=3)
