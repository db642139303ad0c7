"""The format table other modules build responses from."""

from __future__ import annotations

from typing import get_args

import modelport.audio as audio
from modelport.audio import AUDIO_FORMATS, MEDIA_TYPES, PCM_SAMPLE_RATE, AudioDecodeError, AudioFormat


def test_audio_formats_match_the_literal() -> None:
    assert set(AUDIO_FORMATS) == set(get_args(AudioFormat))
    assert len(AUDIO_FORMATS) == len(set(AUDIO_FORMATS))


def test_media_types_cover_every_format() -> None:
    assert MEDIA_TYPES == {
        "mp3": "audio/mpeg",
        "opus": "audio/ogg",
        "aac": "audio/aac",
        "flac": "audio/flac",
        "wav": "audio/wav",
        "pcm": "audio/pcm",
    }


def test_pcm_rate_is_openais() -> None:
    assert PCM_SAMPLE_RATE == 24_000


def test_decode_error_is_a_value_error() -> None:
    assert issubclass(AudioDecodeError, ValueError)


def test_all_names_are_exported() -> None:
    for name in audio.__all__:
        assert hasattr(audio, name), name
