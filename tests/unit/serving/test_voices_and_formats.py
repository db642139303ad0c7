"""OpenAI voice names mapped onto a model's voices, and transcripts written as srt, vtt and verbose_json."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelport import InvalidRequestError, Segment, Transcript, Word
from modelport.config import DEFAULT_VOICE_MAP, Settings, load_settings
from modelport.predictor import SpeechSignature
from modelport.serving.speech import resolve_voice, voice_aliases
from modelport.serving.transcript_formats import render, to_srt, to_vtt

HIBARI = SpeechSignature(text="text", voice_param="voice", voices=("heart",), sample_rate=24_000)
BOTH = SpeechSignature(text="text", voice_param="voice", voices=("heart", "joe"), sample_rate=24_000)


def test_every_openai_voice_is_in_the_default_map() -> None:
    names = {"alloy", "ash", "ballad", "coral", "echo", "fable", "onyx", "nova", "sage", "shimmer", "verse"}
    assert set(DEFAULT_VOICE_MAP) == names
    assert Settings().voice_map == DEFAULT_VOICE_MAP


def test_own_voice_wins() -> None:
    assert resolve_voice(HIBARI, "heart", {"heart": ["joe"]}, "m") == "heart"


@pytest.mark.parametrize(("voice", "expected"), [("alloy", "heart"), ("onyx", "joe")])
def test_first_preference_the_model_serves(voice: str, expected: str) -> None:
    assert resolve_voice(BOTH, voice, DEFAULT_VOICE_MAP, "m") == expected
    assert resolve_voice(HIBARI, voice, DEFAULT_VOICE_MAP, "m") == "heart"


def test_unmapped_voice_lists_the_valid_ones() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        resolve_voice(HIBARI, "nobody", {"alloy": ["heart"], "echo": ["joe"]}, "hibari")
    assert caught.value.param == "voice"
    assert "heart, alloy" in str(caught.value)
    assert "echo" not in str(caught.value)


def test_aliases_leave_out_names_with_no_installed_voice() -> None:
    assert voice_aliases(HIBARI, {"alloy": ["heart"], "echo": ["joe"]}) == {"alloy": "heart"}


def test_voice_map_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELPORT_VOICE_MAP", '{"alloy": ["joe"]}')
    assert Settings().voice_map == {"alloy": ["joe"]}


TRANSCRIPT = Transcript(
    text="Hello there. General Kenobi.",
    language="en",
    duration=3725.5,
    segments=(
        Segment(
            text=" Hello there.", start=0.0, end=1.25, words=(Word(" Hello", 0.0, 0.5), Word(" there.", 0.5, 1.25))
        ),
        Segment(text=" General Kenobi.", start=3723.0, end=3725.4567),
    ),
)


def test_srt() -> None:
    assert to_srt(TRANSCRIPT) == (
        "1\n00:00:00,000 --> 00:00:01,250\nHello there.\n\n2\n01:02:03,000 --> 01:02:05,457\nGeneral Kenobi.\n"
    )


def test_vtt() -> None:
    assert to_vtt(TRANSCRIPT) == (
        "WEBVTT\n\n00:00:00.000 --> 00:00:01.250\nHello there.\n\n01:02:03.000 --> 01:02:05.457\nGeneral Kenobi.\n"
    )


def test_verbose_json_words_only_when_asked() -> None:
    plain = render(TRANSCRIPT, "verbose_json", words=False, translation=False)
    with_words = render(TRANSCRIPT, "verbose_json", words=True, translation=False)
    assert not isinstance(plain, str)
    assert not isinstance(with_words, str)
    assert plain.model_dump(exclude_none=True).get("words") is None
    body = with_words.model_dump(exclude_none=True)
    assert [w["word"] for w in body["words"]] == [" Hello", " there."]
    assert body["usage"] == {"type": "duration", "seconds": 3726}
    assert [s["id"] for s in body["segments"]] == [0, 1]


def test_translation_bodies_have_no_usage() -> None:
    body = render(TRANSCRIPT, "json", words=False, translation=True)
    assert not isinstance(body, str)
    assert body.model_dump(exclude_none=True) == {"text": "Hello there. General Kenobi."}


def test_words_without_segments() -> None:
    transcript = Transcript(text="hi", duration=1.0, words=(Word("hi", 0.1, 0.4),))
    assert transcript.all_words() == (Word("hi", 0.1, 0.4),)
    assert to_srt(transcript) == "1\n00:00:00,000 --> 00:00:01,000\nhi\n"


def test_voice_map_from_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "modelport.toml"
    config.write_text('[voice_map]\nalloy = ["joe", "heart"]\n')
    assert load_settings(config).voice_map == {"alloy": ["joe", "heart"]}
