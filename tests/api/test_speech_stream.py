"""Streaming speech against `tone-stream` (16 kHz; a quarter-second tone per sentence), and voices."""

from __future__ import annotations

import base64
import io
import uuid

import av
import httpx
import openai
import pytest
from openai import OpenAI

from . import audio_models, faulty_models
from .conftest import LiveServer
from .helpers import assert_error, sse_audio_events

FORMATS = ["mp3", "opus", "aac", "flac", "wav", "pcm"]
THREE = "One. Two. Three."


def _seconds(data: bytes, response_format: str) -> float:
    if response_format == "pcm":
        return len(data) / 2 / 24_000
    with av.open(io.BytesIO(data)) as container:
        return sum(frame.samples for frame in container.decode(audio=0)) / container.streams.audio[0].rate


@pytest.mark.parametrize("response_format", FORMATS)
def test_streamed_body_in_every_format(client: OpenAI, response_format: str) -> None:
    with client.audio.speech.with_streaming_response.create(
        model="tone-stream",
        voice="heart",
        input=THREE,
        response_format=response_format,  # type: ignore[arg-type]
    ) as response:
        assert response.headers.get("transfer-encoding") == "chunked"
        data = b"".join(response.iter_bytes())
    # A streamed mp3 or aac has no header to say how much encoder padding to trim: allow ~0.1 s of it.
    assert _seconds(data, response_format) == pytest.approx(3 * audio_models.SENTENCE_SECONDS, abs=0.1)


def test_body_arrives_in_pieces(http: httpx.Client) -> None:
    body = {"model": "tone-stream", "voice": "heart", "input": THREE, "response_format": "pcm"}
    with http.stream("POST", "/v1/audio/speech", json=body) as response:
        pieces = [piece for piece in response.iter_raw() if piece]
    assert len(pieces) >= 3
    assert sum(len(piece) for piece in pieces) == 3 * 2 * round(24_000 * audio_models.SENTENCE_SECONDS)


def test_sse_events_carry_the_audio(http: httpx.Client) -> None:
    body = {"model": "tone-stream", "voice": "heart", "input": THREE, "stream_format": "sse", "response_format": "wav"}
    response = http.post("/v1/audio/speech", json=body)
    assert response.status_code == 200
    events = sse_audio_events(response.text, "speech.audio.done")
    deltas, done = events[:-1], events[-1]
    assert len(deltas) >= 3
    assert all(event["type"] == "speech.audio.delta" for event in deltas)
    assert done["type"] == "speech.audio.done"
    assert set(done["usage"]) == {"input_tokens", "output_tokens", "total_tokens"}
    audio = b"".join(base64.b64decode(event["audio"]) for event in deltas)
    assert _seconds(audio, "wav") == pytest.approx(3 * audio_models.SENTENCE_SECONDS, abs=0.01)


def test_speed_applies_to_every_piece(client: OpenAI) -> None:
    data = client.audio.speech.create(model="tone-stream", voice="heart", input=THREE, response_format="pcm", speed=2.0)
    assert _seconds(data.content, "pcm") == pytest.approx(1.5 * audio_models.SENTENCE_SECONDS, abs=0.01)


def test_empty_pieces_are_skipped(client: OpenAI) -> None:
    data = client.audio.speech.create(
        model="tone-stream", voice="heart", input="One. empty. Two.", response_format="pcm"
    )
    assert _seconds(data.content, "pcm") == pytest.approx(2 * audio_models.SENTENCE_SECONDS, abs=0.01)


def test_nothing_to_say_is_a_500(http: httpx.Client) -> None:
    response = http.post("/v1/audio/speech", json={"model": "tone-stream", "voice": "heart", "input": "empty."})
    assert_error(response, 500, code="invalid_predictor_output")


def test_failure_in_the_first_piece_keeps_its_status(http: httpx.Client) -> None:
    response = http.post("/v1/audio/speech", json={"model": "tone-stream", "voice": "heart", "input": "fail. One."})
    error = assert_error(response, 500)
    assert "tone-stream" in error["message"]


def test_failure_later_ends_the_body_early(http: httpx.Client) -> None:
    body = {"model": "tone-stream", "voice": "heart", "input": "One. fail.", "response_format": "pcm"}
    response = http.post("/v1/audio/speech", json=body)
    assert response.status_code == 200
    # The first sentence (less what the streaming resampler still held), and nothing after the failure.
    assert 0 < len(response.content) <= 2 * round(24_000 * audio_models.SENTENCE_SECONDS)


def test_failure_in_sse_sends_an_error_event(http: httpx.Client) -> None:
    body = {"model": "tone-stream", "voice": "heart", "input": "One. fail.", "stream_format": "sse"}
    events = sse_audio_events(http.post("/v1/audio/speech", json=body).text, "speech.audio.done")
    assert events[0]["type"] == "speech.audio.delta"
    assert "error" in events[-1]


@pytest.mark.parametrize("voice", ["alloy", "nova", "shimmer", "echo", "onyx"])
def test_openai_voice_names_map_onto_installed_voices(client: OpenAI, voice: str) -> None:
    data = client.audio.speech.create(model="tone-stream", voice=voice, input="One.", response_format="pcm")
    assert data.content


def test_unknown_voice_lists_voices_and_openai_names(client: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.audio.speech.create(model="tone-stream", voice="nobody", input="One.")
    assert caught.value.param == "voice"
    for name in ("heart", "other", "alloy", "verse"):
        assert name in caught.value.message


def test_input_over_4096_characters(http: httpx.Client) -> None:
    body = {"model": "tone-stream", "voice": "heart", "input": "a" * 4097}
    assert_error(http.post("/v1/audio/speech", json=body), 400, param="input")


@pytest.mark.parametrize("speed", [0.2, 4.5])
def test_speed_out_of_range(http: httpx.Client, speed: float) -> None:
    body = {"model": "tone-stream", "voice": "heart", "input": "One.", "speed": speed}
    assert_error(http.post("/v1/audio/speech", json=body), 400, param="speed")


def test_voices_lists_every_speech_model(http: httpx.Client) -> None:
    response = http.get("/v1/audio/voices")
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "list"
    by_model = {entry["model"]: entry for entry in body["data"]}
    assert by_model["tones"]["voices"] == ["low", "mid", "high"]
    assert by_model["tones"]["aliases"] == {}
    assert by_model["tone-stream"]["voices"] == ["heart", "other"]
    assert by_model["tone-stream"]["aliases"]["alloy"] == "heart"
    assert "audio-length" not in by_model


def test_sse_with_a_bad_voice_is_still_a_400(http: httpx.Client) -> None:
    body = {"model": "tone-stream", "voice": "nobody", "input": "One.", "stream_format": "sse"}
    assert_error(http.post("/v1/audio/speech", json=body), 400, param="voice")


def test_transcription_stream_with_a_bad_language_is_still_a_400(http: httpx.Client) -> None:
    wav = http.post(
        "/v1/audio/speech", json={"model": "tone-stream", "voice": "heart", "input": "One.", "response_format": "wav"}
    ).content
    response = http.post(
        "/v1/audio/transcriptions",
        data={"model": "timed-words", "stream": "true", "language": "xx"},
        files={"file": ("a.wav", wav)},
    )
    assert_error(response, 400, param="language")


@pytest.mark.parametrize("stream_format", ["audio", "sse"])
def test_disconnect_closes_the_speech_generator(server: LiveServer, stream_format: str) -> None:
    key = f"disconnect {uuid.uuid4().hex}"
    closed = faulty_models.closed(key)
    body = {
        "model": "slow-speech",
        "voice": "heart",
        "input": key,
        "response_format": "pcm",
        "stream_format": stream_format,
    }
    with (
        httpx.Client(base_url=server.url, timeout=10) as http,
        http.stream("POST", "/v1/audio/speech", json=body) as response,
    ):
        assert response.status_code == 200
        pieces = response.iter_raw()
        assert next(pieces)
        assert next(pieces)
        assert not closed.is_set()
    assert closed.wait(timeout=5), "the speech generator was not closed after the client left"


def _wav_sizes(data: bytes) -> tuple[int, int]:
    """The RIFF size and the data chunk's size a WAV header declares."""
    assert data[:4] == b"RIFF"
    assert data[8:12] == b"WAVE"
    at = data.index(b"data")
    return int.from_bytes(data[4:8], "little"), int.from_bytes(data[at + 4 : at + 8], "little")


def _read_wav_everywhere(data: bytes) -> list[int]:
    """The frame count as Python's `wave`, libsndfile (soundfile) and FFmpeg (PyAV) read the file."""
    import wave

    import soundfile

    with wave.open(io.BytesIO(data)) as reader:
        by_wave = len(reader.readframes(reader.getnframes())) // (2 * reader.getnchannels())
    by_libsndfile = len(soundfile.read(io.BytesIO(data))[0])
    with av.open(io.BytesIO(data)) as container:
        by_ffmpeg = sum(frame.samples for frame in container.decode(audio=0))
    return [by_wave, by_libsndfile, by_ffmpeg]


def test_a_streamed_wav_says_its_length_is_unknown_and_every_reader_takes_it(http: httpx.Client) -> None:
    body = {"model": "tone-stream", "voice": "heart", "input": THREE, "response_format": "wav"}
    data = http.post("/v1/audio/speech", json=body).content
    # 0xFFFFFFFF: the streaming convention browsers (FFmpeg inside) and libsndfile read as "to the end".
    assert _wav_sizes(data) == (0xFFFFFFFF, 0xFFFFFFFF)
    frames = 3 * round(audio_models.SPEECH_RATE * audio_models.SENTENCE_SECONDS)
    assert _read_wav_everywhere(data) == [frames] * 3


def test_a_whole_wav_has_exact_sizes(http: httpx.Client) -> None:
    body = {"model": "tones", "voice": "mid", "input": "abc", "response_format": "wav"}
    data = http.post("/v1/audio/speech", json=body).content
    riff, chunk = _wav_sizes(data)
    assert riff == len(data) - 8
    assert chunk == len(data) - data.index(b"data") - 8
    frames = chunk // 2
    assert _read_wav_everywhere(data) == [frames] * 3
