"""Voice chat through the openai client: `input_audio` heard, answers spoken, with small test models.

The server serves `examples/` (the `tones` speech model, the `audio-length` transcriber), the voice test
models, and `up/echo`, the echo model of another modelport server reached as an upstream.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import httpx
import pytest
from openai import OpenAI

import live_server
from live_server import LiveServer
from modelport.config import Settings
from modelport.runtime import Registry, load_targets
from modelport.upstream import UpstreamConfig, upstream_specs

from . import voice_models
from .helpers import assert_error, sse_json

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CHAT = "/v1/chat/completions"
MAX_AUDIO_BYTES = 100_000
CACHE_SIZE = 4
BEEP_SECONDS = 0.08
SPOKEN = {"voice": "mid", "format": "wav"}
FORMATS = ["wav", "mp3", "flac", "opus", "aac", "pcm16"]


@pytest.fixture(scope="module")
def voice_server(server: LiveServer) -> Iterator[LiveServer]:
    specs = [
        *load_targets([str(EXAMPLES), voice_models.__name__]),
        *upstream_specs(UpstreamConfig(base_url=server.v1, models=["echo"], prefix="up/")),
    ]
    settings = Settings(chat_audio_max_bytes=MAX_AUDIO_BYTES, transcript_cache_size=CACHE_SIZE)
    with live_server.serve(Registry(specs), settings) as live:
        yield live


@pytest.fixture(scope="module")
def voice(voice_server: LiveServer) -> Iterator[OpenAI]:
    with OpenAI(base_url=voice_server.v1, api_key="unused", max_retries=0, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def raw(voice_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=voice_server.url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def recording(voice: OpenAI) -> bytes:
    """Three letters of tones: 0.24 s of wav."""
    return voice.audio.speech.create(model="tones", voice="low", input="abc", response_format="wav").content


def _audio_part(data: bytes, audio_format: str = "wav") -> dict[str, Any]:
    return {"type": "input_audio", "input_audio": {"data": base64.b64encode(data).decode(), "format": audio_format}}


def _said(*parts: dict[str, Any] | str) -> list[dict[str, Any]]:
    content = [{"type": "text", "text": part} if isinstance(part, str) else part for part in parts]
    return [{"role": "user", "content": content}]


def _seconds(data: bytes) -> float:
    with av.open(io.BytesIO(data)) as container:
        frames = sum(frame.samples for frame in container.decode(audio=0))
        return frames / container.streams.audio[0].rate


def _spoken_seconds(text: str) -> float:
    """How long `tones` speaks `text` sentence by sentence (the spaces between sentences are not spoken)."""
    from modelport.serving.voice_output import _pieces

    return sum(len(piece) for piece in _pieces(text)) * BEEP_SECONDS


def test_input_audio_is_transcribed_in_place(voice: OpenAI, recording: bytes) -> None:
    heard = voice.audio.transcriptions.create(model="audio-length", file=("abc.wav", recording)).text
    completion = voice.chat.completions.create(
        model="conversation",
        messages=_said("before", _audio_part(recording), "after"),  # type: ignore[arg-type]
    )
    assert completion.choices[0].message.content == f"I was told. user: before + {heard} + after."


def test_transcription_model_chosen_per_request(voice: OpenAI, recording: bytes) -> None:
    completion = voice.chat.completions.create(
        model="conversation",
        messages=_said(_audio_part(recording)),  # type: ignore[arg-type]
        extra_body={"transcription_model": "counting-transcriber"},
    )
    assert completion.choices[0].message.content == "I was told. user: heard 3840 samples."


def test_upstream_chat_hears_and_speaks(voice: OpenAI, recording: bytes) -> None:
    completion = voice.chat.completions.create(
        model="up/echo",
        messages=[{"role": "user", "content": [_audio_part(recording)]}],  # type: ignore[list-item]
        modalities=["text", "audio"],
        audio=SPOKEN,  # type: ignore[arg-type]
    )
    message = completion.choices[0].message
    assert message.content is None
    assert message.audio is not None
    assert message.audio.transcript.endswith(" Hz")
    assert _seconds(base64.b64decode(message.audio.data)) == pytest.approx(
        _spoken_seconds(message.audio.transcript), abs=0.05
    )


def test_chat_function_hears_audio_itself(voice: OpenAI, recording: bytes) -> None:
    before = voice_models.transcriptions()
    completion = voice.chat.completions.create(
        model="hears-audio",
        messages=_said(_audio_part(recording)),  # type: ignore[arg-type]
        extra_body={"transcription_model": "counting-transcriber"},
    )
    assert completion.choices[0].message.content == "1920 samples at 8000 Hz. "
    assert voice_models.transcriptions() == before


def test_transcripts_cached_by_content(voice: OpenAI) -> None:
    # Recordings no other test sends, so nothing of them is cached yet.
    recording = voice.audio.speech.create(model="tones", voice="low", input="qqq", response_format="wav").content
    other = voice.audio.speech.create(model="tones", voice="high", input="zz", response_format="mp3").content
    body: dict[str, Any] = {"extra_body": {"transcription_model": "counting-transcriber"}, "model": "conversation"}
    before = voice_models.transcriptions()
    voice.chat.completions.create(messages=_said(_audio_part(recording)), **body)
    voice.chat.completions.create(messages=[*_said(_audio_part(recording)), *_said(_audio_part(other, "mp3"))], **body)
    voice.chat.completions.create(messages=[*_said(_audio_part(other, "mp3")), *_said(_audio_part(recording))], **body)
    assert voice_models.transcriptions() - before == 2


@pytest.mark.parametrize(
    ("part", "code"),
    [
        ({"type": "input_audio", "input_audio": {"data": "not base64!", "format": "wav"}}, None),
        (_audio_part(b""), None),
        (_audio_part(b"this is not audio at all, only words"), "invalid_audio"),
        (_audio_part(b"\0" * (MAX_AUDIO_BYTES + 1)), "audio_too_large"),
    ],
    ids=["base64", "empty", "undecodable", "too-large"],
)
def test_bad_audio_names_message_and_part(raw: httpx.Client, part: dict[str, Any], code: str | None) -> None:
    messages = [{"role": "system", "content": "hi"}, *_said("listen", part)]
    response = raw.post(CHAT, json={"model": "conversation", "messages": messages})
    error = assert_error(response, 400, param="messages[1].content[1].input_audio.data")
    assert error["message"].startswith("messages[1].content[1]: ")
    if code is not None:
        assert error["code"] == code


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"transcription_model": "no-such-model"}, "transcription_model"),
        ({"transcription_model": "conversation"}, "transcription_model"),
        ({"speech_model": "audio-length"}, "speech_model"),
        ({"modalities": ["text", "audio"]}, "audio"),
        ({"modalities": ["text", "audio"], "audio": {"voice": "mid", "format": "ogg"}}, "audio.format"),
        ({"modalities": ["text", "audio"], "audio": {"voice": "nobody", "format": "wav"}}, "audio.voice"),
    ],
)
def test_bad_voice_fields_are_400(raw: httpx.Client, recording: bytes, extra: dict[str, Any], param: str) -> None:
    for stream in (False, True):
        body = {"model": "conversation", "messages": _said(_audio_part(recording)), "stream": stream, **extra}
        assert_error(raw.post(CHAT, json=body), 400, param=param)


def test_spoken_answer(voice: OpenAI) -> None:
    completion = voice.chat.completions.create(
        model="echo",
        messages=[{"role": "user", "content": "Hi there. Bye now."}],
        modalities=["text", "audio"],
        audio=SPOKEN,  # type: ignore[arg-type]
        n=2,
    )
    ids = set()
    for choice in completion.choices:
        message = choice.message
        assert message.content is None
        assert message.audio is not None
        assert message.audio.transcript == "Hi there. Bye now."
        assert message.audio.id.startswith("audio_")
        assert message.audio.expires_at > completion.created
        assert _seconds(base64.b64decode(message.audio.data)) == pytest.approx(
            _spoken_seconds("Hi there. Bye now."), abs=0.02
        )
        ids.add(message.audio.id)
    assert len(ids) == 2
    # usage counts the text, as echo reports it: a token per word.
    assert completion.usage is not None
    assert completion.usage.completion_tokens == 8


def _streamed(voice: OpenAI, **request: Any) -> list[Any]:
    return list(voice.chat.completions.create(stream=True, **request))


@pytest.mark.parametrize("audio_format", FORMATS)
def test_streamed_spoken_answer(voice: OpenAI, audio_format: str) -> None:
    chunks = _streamed(
        voice,
        model="conversation",
        messages=[{"role": "user", "content": "Hello."}],
        modalities=["text", "audio"],
        audio={"voice": "mid", "format": audio_format},
        stream_options={"include_usage": True},
    )
    audio_deltas = [c.choices[0].delta.audio for c in chunks if c.choices and c.choices[0].delta.audio]
    assert all(c.choices[0].delta.content is None for c in chunks if c.choices)
    transcript = "".join(a.transcript or "" for a in audio_deltas)
    assert transcript == "I was told. user: Hello.."
    assert audio_deltas[0].id.startswith("audio_")
    assert all(a.id is None for a in audio_deltas[1:])
    assert audio_deltas[-1].expires_at is not None
    assert (audio_deltas[-1].data, audio_deltas[-1].transcript) == (None, None)
    data = b"".join(base64.b64decode(a.data) for a in audio_deltas if a.data)
    seconds = len(data) / 2 / 24_000 if audio_format == "pcm16" else _seconds(data)
    assert seconds == pytest.approx(_spoken_seconds(transcript), abs=0.1)
    finish = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert [c.choices[0].finish_reason for c in finish] == ["stop"]
    assert chunks.index(finish[0]) > max(i for i, c in enumerate(chunks) if c.choices and c.choices[0].delta.audio)
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None


def test_streamed_choices_each_spoken(raw: httpx.Client) -> None:
    body = {
        "model": "echo",
        "messages": [{"role": "user", "content": "One. Two."}],
        "modalities": ["text", "audio"],
        "audio": SPOKEN,
        "n": 2,
        "stream": True,
    }
    events = sse_json(raw.post(CHAT, json=body).text)
    for index in (0, 1):
        deltas = [e["choices"][0]["delta"] for e in events if e["choices"] and e["choices"][0]["index"] == index]
        audio = [d["audio"] for d in deltas if "audio" in d]
        assert "".join(a.get("transcript", "") for a in audio) == "One. Two."
        assert set(audio[-1]) == {"expires_at"}
        assert any("data" in a for a in audio)
        assert all("content" not in d for d in deltas)


def test_spoken_answer_sent_back_by_id(voice: OpenAI, raw: httpx.Client) -> None:
    first = voice.chat.completions.create(
        model="echo",
        messages=[{"role": "user", "content": "Remember this."}],
        modalities=["text", "audio"],
        audio=SPOKEN,  # type: ignore[arg-type]
    )
    assert first.choices[0].message.audio is not None
    audio_id = first.choices[0].message.audio.id
    later = voice.chat.completions.create(
        model="conversation",
        messages=[
            {"role": "user", "content": "Remember this."},
            {"role": "assistant", "audio": {"id": audio_id}},
            {"role": "user", "content": "What did you say?"},
        ],
    )
    expected = "I was told. user: Remember this. | assistant: Remember this. | user: What did you say?."
    assert later.choices[0].message.content == expected
    unknown = [{"role": "user", "content": "hi"}, {"role": "assistant", "audio": {"id": "audio_nope"}}]
    error = assert_error(raw.post(CHAT, json={"model": "echo", "messages": unknown}), 400, param="messages[1].audio.id")
    assert "audio_nope" in error["message"]


def test_tool_call_turn_has_no_audio(voice: OpenAI, raw: httpx.Client) -> None:
    request: dict[str, Any] = {
        "model": "tool-caller",
        "messages": [{"role": "user", "content": "look it up"}],
        "modalities": ["text", "audio"],
        "audio": SPOKEN,
    }
    completion = voice.chat.completions.create(**request)
    message = completion.choices[0].message
    assert message.audio is None
    assert message.tool_calls is not None
    assert completion.choices[0].finish_reason == "tool_calls"
    events = sse_json(raw.post(CHAT, json={**request, "stream": True}).text)
    assert not any("audio" in e["choices"][0]["delta"] for e in events if e["choices"])
    assert events[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_text_only_requests_untouched(voice: OpenAI) -> None:
    completion = voice.chat.completions.create(
        model="echo", messages=[{"role": "user", "content": "plain words"}], modalities=["text"]
    )
    assert completion.choices[0].message.content == "plain words"
    assert completion.choices[0].message.audio is None
