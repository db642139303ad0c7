"""The built-in audio models for real: every voice in every format, spoken and transcribed back."""

from __future__ import annotations

import io
import re

import av
import jiwer
import openai
import pytest
from openai import OpenAI

pytestmark = pytest.mark.slow

SENTENCES = "The quick brown fox jumps over the lazy dog. Please call me back tomorrow morning."
VOICES = [("hibari", "heart"), ("piper-joe", "joe")]
FORMATS = ["mp3", "opus", "aac", "flac", "wav", "pcm"]
# Piper samples noise in every synthesis, so its speech differs from call to call; whisper-base once heard
# "quick brown" as "quip round" in it (2 of the 15 words). Broken audio is heard as nothing like the text.
MAX_WER = 0.20


def _words(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9' ]", " ", text.lower()).split())


def _duration(data: bytes) -> float:
    with av.open(io.BytesIO(data)) as container:
        return sum(frame.samples for frame in container.decode(audio=0)) / container.streams.audio[0].rate


@pytest.fixture(scope="module")
def spoken(builtin_client: OpenAI) -> bytes:
    """The sentences spoken by hibari, as wav."""
    return builtin_client.audio.speech.create(
        model="hibari", voice="heart", input=SENTENCES, response_format="wav"
    ).content


@pytest.mark.parametrize("response_format", FORMATS)
@pytest.mark.parametrize(("model", "voice"), VOICES)
def test_spoken_then_transcribed(builtin_client: OpenAI, model: str, voice: str, response_format: str) -> None:
    audio = builtin_client.audio.speech.create(
        model=model,
        voice=voice,
        input=SENTENCES,
        response_format=response_format,  # type: ignore[arg-type]
    ).content
    # Raw pcm has no header: say what it is by wrapping it in a wav container for the upload.
    upload = _pcm_to_wav(audio) if response_format == "pcm" else audio
    text = builtin_client.audio.transcriptions.create(
        model="whisper-base", file=(f"speech.{response_format}", upload), language="en"
    ).text
    assert jiwer.wer(_words(SENTENCES), _words(text)) <= MAX_WER, text


def _pcm_to_wav(pcm: bytes) -> bytes:
    import wave

    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(24_000)
        out.writeframes(pcm)
    return buffer.getvalue()


def test_openai_voice_name_and_speed(builtin_client: OpenAI) -> None:
    normal = builtin_client.audio.speech.create(
        model="tts-1", voice="alloy", input="Hello there.", response_format="wav"
    )
    fast = builtin_client.audio.speech.create(
        model="tts-1-hd", voice="onyx", input="Hello there.", response_format="wav", speed=2.0
    )
    slow = builtin_client.audio.speech.create(
        model="tts-1-hd", voice="onyx", input="Hello there.", response_format="wav", speed=0.5
    )
    assert _duration(normal.content) > 0.3
    assert _duration(fast.content) < _duration(slow.content)


def test_hibari_is_reproducible(builtin_client: OpenAI) -> None:
    first = builtin_client.audio.speech.create(
        model="hibari", voice="heart", input="Same text.", response_format="flac"
    )
    second = builtin_client.audio.speech.create(
        model="hibari", voice="heart", input="Same text.", response_format="flac"
    )
    assert first.content == second.content


def test_verbose_json_timestamps(builtin_client: OpenAI, spoken: bytes) -> None:
    duration = _duration(spoken)
    result = builtin_client.audio.transcriptions.create(
        model="whisper-base",
        file=("speech.wav", spoken),
        response_format="verbose_json",
        timestamp_granularities=["word", "segment"],
    )
    assert result.language == "english"
    assert result.duration == pytest.approx(duration, abs=0.05)
    assert result.segments
    assert result.words
    for spans in ([(s.start, s.end) for s in result.segments], [(w.start, w.end) for w in result.words]):
        _check_spans(spans, duration)


@pytest.mark.parametrize("response_format", ["srt", "vtt"])
def test_subtitle_timestamps(builtin_client: OpenAI, spoken: bytes, response_format: str) -> None:
    text = builtin_client.audio.transcriptions.create(
        model="whisper-base",
        file=("speech.wav", spoken),
        response_format=response_format,  # type: ignore[arg-type]
    )
    assert isinstance(text, str)
    separator = "," if response_format == "srt" else r"\."
    stamp = rf"(\d\d):(\d\d):(\d\d){separator}(\d\d\d)"
    cues = re.findall(rf"{stamp} --> {stamp}", text)
    assert cues, text
    spans = [(_seconds(cue[:4]), _seconds(cue[4:])) for cue in cues]
    _check_spans(spans, _duration(spoken))
    if response_format == "vtt":
        assert text.startswith("WEBVTT\n\n")


def _seconds(parts: tuple[str, ...]) -> float:
    hours, minutes, seconds, millis = (int(p) for p in parts)
    return hours * 3600 + minutes * 60 + seconds + millis / 1000


def _check_spans(spans: list[tuple[float, float]], duration: float) -> None:
    """Each span inside the audio and not reversed; starts never go back."""
    starts = [start for start, _ in spans]
    assert starts == sorted(starts), spans
    for start, end in spans:
        assert 0.0 <= start <= end <= duration + 0.01, (spans, duration)


# The openai client marks translations.create deprecated; the endpoint is still part of the API.
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_stream_and_translation(builtin_client: OpenAI, spoken: bytes) -> None:
    events = list(builtin_client.audio.transcriptions.create(model="whisper-1", file=("s.wav", spoken), stream=True))
    assert events[-1].type == "transcript.text.done"
    assert jiwer.wer(_words(SENTENCES), _words(events[-1].text)) <= MAX_WER
    deltas = [event.delta for event in events if event.type == "transcript.text.delta"]
    assert len(deltas) == len(events) - 1 >= 1
    assert "".join(deltas) == events[-1].text
    translated = builtin_client.audio.translations.create(model="whisper-base", file=("s.wav", spoken))
    assert jiwer.wer(_words(SENTENCES), _words(translated.text)) <= MAX_WER


def test_tiny_en_and_vad(builtin_client: OpenAI, spoken: bytes) -> None:
    text = builtin_client.audio.transcriptions.create(
        model="whisper-tiny.en", file=("s.wav", spoken), extra_body={"vad_filter": True}
    ).text
    assert jiwer.wer(_words(SENTENCES), _words(text)) <= MAX_WER


@pytest.mark.parametrize(("model", "language"), [("whisper-base", "xx"), ("whisper-tiny.en", "fr")])
def test_language_the_model_does_not_know(builtin_client: OpenAI, spoken: bytes, model: str, language: str) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        builtin_client.audio.transcriptions.create(model=model, file=("s.wav", spoken), language=language)
    assert caught.value.param == "language"


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_tiny_en_does_not_translate(builtin_client: OpenAI, spoken: bytes) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        builtin_client.audio.translations.create(model="whisper-tiny.en", file=("s.wav", spoken))
    assert caught.value.param == "model"
