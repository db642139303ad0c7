"""Transcription formats, word timestamps, translations and streaming, against `timed-words`.

`timed-words` hears one word per started half second ('one', 'two', ...), two words to a segment.
"""

from __future__ import annotations

import io
from fractions import Fraction

import av
import httpx
import numpy as np
import openai
import pytest
from openai import OpenAI

from .helpers import assert_error, sse_audio_events

SECONDS = 1.8  # four words: one two | three four


def _wav(seconds: float = SECONDS, rate: int = 16_000, silent_start: float = 0.0) -> bytes:
    t = np.arange(round(rate * seconds)) / rate
    tone = 0.3 * np.sin(2 * np.pi * 440 * t)
    tone[: round(rate * silent_start)] = 0.0
    samples = tone.astype(np.float32).reshape(1, -1)
    frame = av.AudioFrame.from_ndarray(samples, format="flt", layout="mono")
    frame.sample_rate = rate
    frame.time_base = Fraction(1, rate)
    frame.pts = 0
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="wav") as output:
        stream = output.add_stream("pcm_s16le", rate=rate)
        output.mux(stream.encode(frame))  # type: ignore[union-attr]
        output.mux(stream.encode(None))  # type: ignore[union-attr]
    return buffer.getvalue()


WAV = _wav()


def test_json(client: OpenAI) -> None:
    result = client.audio.transcriptions.create(model="timed-words", file=("a.wav", WAV))
    assert result.text == "one two three four"


def test_text(client: OpenAI) -> None:
    text = client.audio.transcriptions.create(model="timed-words", file=("a.wav", WAV), response_format="text")
    assert text == "one two three four"


def test_srt(client: OpenAI) -> None:
    srt = client.audio.transcriptions.create(model="timed-words", file=("a.wav", WAV), response_format="srt")
    assert srt == ("1\n00:00:00,000 --> 00:00:00,900\none two\n\n2\n00:00:01,000 --> 00:00:01,800\nthree four\n")


def test_vtt(client: OpenAI) -> None:
    vtt = client.audio.transcriptions.create(model="timed-words", file=("a.wav", WAV), response_format="vtt")
    assert vtt == "WEBVTT\n\n00:00:00.000 --> 00:00:00.900\none two\n\n00:00:01.000 --> 00:00:01.800\nthree four\n"


def test_verbose_json(client: OpenAI) -> None:
    result = client.audio.transcriptions.create(
        model="timed-words", file=("a.wav", WAV), response_format="verbose_json", language="fr"
    )
    assert result.text == "one two three four"
    assert result.language == "fr"
    assert result.duration == pytest.approx(SECONDS)
    assert result.segments is not None
    assert [s.text for s in result.segments] == [" one two", " three four"]
    assert [s.id for s in result.segments] == [0, 1]
    first = result.segments[0]
    assert (first.start, first.end) == (0.0, 0.9)
    for field in ("seek", "tokens", "temperature", "avg_logprob", "compression_ratio", "no_speech_prob"):
        assert hasattr(first, field)
    assert result.words is None


def test_verbose_json_with_words(client: OpenAI) -> None:
    result = client.audio.transcriptions.create(
        model="timed-words",
        file=("a.wav", WAV),
        response_format="verbose_json",
        timestamp_granularities=["word", "segment"],
    )
    assert result.words is not None
    assert [w.word for w in result.words] == [" one", " two", " three", " four"]
    starts = [w.start for w in result.words]
    assert starts == sorted(starts)
    assert result.segments is not None


def test_word_granularity_needs_verbose_json(http: httpx.Client) -> None:
    response = http.post(
        "/v1/audio/transcriptions",
        data={"model": "timed-words", "timestamp_granularities[]": "word"},
        files={"file": ("a.wav", WAV)},
    )
    assert_error(response, 400, param="timestamp_granularities")


@pytest.mark.parametrize("response_format", ["json", "text", "srt"])
def test_segment_granularity_is_accepted_with_any_format(client: OpenAI, response_format: str) -> None:
    # OpenAI needs verbose_json only for word timestamps; segments are the default granularity.
    result = client.audio.transcriptions.create(
        model="timed-words",
        file=("a.wav", WAV),
        response_format=response_format,  # type: ignore[arg-type]
        timestamp_granularities=["segment"],
    )
    text = result if isinstance(result, str) else result.text
    assert "one two" in text


def test_only_word_granularity_leaves_segments_out(http: httpx.Client) -> None:
    response = http.post(
        "/v1/audio/transcriptions",
        data={"model": "timed-words", "response_format": "verbose_json", "timestamp_granularities[]": "word"},
        files={"file": ("a.wav", WAV)},
    )
    body = response.json()
    assert "segments" not in body
    assert [w["word"] for w in body["words"]] == [" one", " two", " three", " four"]


def test_plain_text_model_gets_one_segment(client: OpenAI) -> None:
    result = client.audio.transcriptions.create(
        model="audio-length", file=("a.wav", WAV), response_format="verbose_json"
    )
    assert result.segments is not None
    assert len(result.segments) == 1
    assert result.segments[0].start == 0.0
    assert result.segments[0].end == pytest.approx(SECONDS)
    assert result.duration == pytest.approx(SECONDS)
    srt = client.audio.transcriptions.create(model="audio-length", file=("a.wav", WAV), response_format="srt")
    assert srt.startswith("1\n00:00:00,000 --> 00:00:01,800\n")


def test_language_the_model_does_not_know(client: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.audio.transcriptions.create(model="timed-words", file=("a.wav", WAV), language="xx")
    assert caught.value.param == "language"


def test_prompt_reaches_the_model(client: OpenAI) -> None:
    result = client.audio.transcriptions.create(model="timed-words", file=("a.wav", WAV), prompt="Counting:")
    assert result.text == "Counting: one two three four"


def test_vad_filter_form_field(http: httpx.Client) -> None:
    response = http.post(
        "/v1/audio/transcriptions",
        data={"model": "timed-words", "vad_filter": "true", "response_format": "text"},
        files={"file": ("a.wav", WAV)},
    )
    assert response.status_code == 200
    assert response.text == "ONE TWO THREE FOUR"


# The openai client marks translations.create deprecated; the endpoint is still part of the API.
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("response_format", ["json", "text", "srt", "vtt", "verbose_json"])
def test_translation_formats(client: OpenAI, response_format: str) -> None:
    result = client.audio.translations.create(
        model="timed-words",
        file=("a.wav", WAV),
        response_format=response_format,  # type: ignore[arg-type]
    )
    text = result if isinstance(result, str) else result.text
    if response_format in ("json", "text", "verbose_json"):
        assert text == "translated: one two three four"
    else:
        assert "one two" in text


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_translation_needs_a_model_that_translates(client: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.audio.translations.create(model="audio-length", file=("a.wav", WAV))
    assert caught.value.param == "model"


def test_stream_events(client: OpenAI) -> None:
    stream = client.audio.transcriptions.create(model="timed-words", file=("a.wav", WAV), stream=True)
    events = list(stream)
    assert [e.type for e in events] == ["transcript.text.delta", "transcript.text.delta", "transcript.text.done"]
    deltas = "".join(e.delta for e in events if e.type == "transcript.text.delta")
    assert deltas.strip() == "one two three four"
    assert events[-1].type == "transcript.text.done"
    assert events[-1].text == "one two three four"


def test_stream_on_the_wire(http: httpx.Client) -> None:
    response = http.post(
        "/v1/audio/transcriptions", data={"model": "audio-length", "stream": "true"}, files={"file": ("a.wav", WAV)}
    )
    events = sse_audio_events(response.text, "transcript.text.done")
    assert [e["type"] for e in events] == ["transcript.text.delta", "transcript.text.done"]


@pytest.mark.parametrize(("name", "data"), [("empty.wav", b""), ("notes.txt", b"these are not audio bytes")])
def test_bad_uploads(http: httpx.Client, name: str, data: bytes) -> None:
    response = http.post("/v1/audio/translations", data={"model": "timed-words"}, files={"file": (name, data)})
    assert_error(response, 400, param="file")


def test_growing_transcript_streams_deltas(client: OpenAI) -> None:
    events = list(client.audio.transcriptions.create(model="growing-words", file=("a.wav", WAV), stream=True))
    assert [e.type for e in events] == ["transcript.text.delta", "transcript.text.delta", "transcript.text.done"]
    assert [e.delta for e in events if e.type == "transcript.text.delta"] == ["one two", " three four"]
    assert events[-1].type == "transcript.text.done"
    assert events[-1].text == "one two three four"


def test_growing_transcript_without_stream_is_the_last_one(client: OpenAI) -> None:
    result = client.audio.transcriptions.create(
        model="growing-words", file=("a.wav", WAV), response_format="verbose_json"
    )
    assert result.text == "one two three four"
    assert result.segments is not None
    assert len(result.segments) == 2
    assert result.duration == pytest.approx(SECONDS)


def test_failure_midway_sends_an_error_event(http: httpx.Client) -> None:
    silent_start = _wav(silent_start=0.1)
    response = http.post(
        "/v1/audio/transcriptions",
        data={"model": "growing-words", "stream": "true"},
        files={"file": ("a.wav", silent_start)},
    )
    events = sse_audio_events(response.text, "transcript.text.done")
    assert events[0] == {"type": "transcript.text.delta", "delta": "one two"}
    assert "growing-words" in events[-1]["error"]["message"]


def test_null_form_fields_mean_unset(http: httpx.Client) -> None:
    # Multipart has no null: clients that write one (schemathesis among them) send the word.
    data = {"model": "timed-words", "temperature": "null", "vad_filter": "null", "language": "null", "stream": "null"}
    response = http.post("/v1/audio/transcriptions", data=data, files={"file": ("a.wav", WAV)})
    assert response.status_code == 200, response.text
    assert response.json()["text"] == "one two three four"
