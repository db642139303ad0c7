"""Whisper base for real: a clip whose language is detected is encoded once, and transcribed as if it were given."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from modelport.builtin.hibari import SAMPLE_RATE as SPEECH_RATE
from modelport.builtin.hibari import HibariSpeech
from modelport.builtin.whisper import SAMPLE_RATE, WhisperTranscriber, base_model_files

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    """A sentence spoken by hibari, at Whisper's 16 kHz."""
    voice = HibariSpeech()
    voice.load()
    samples = np.concatenate(list(voice("Please sum up the plan in one sentence.", voice="heart")))
    at = np.arange(0, samples.size, SPEECH_RATE / SAMPLE_RATE)
    resampled: np.ndarray = np.interp(at, np.arange(samples.size), samples).astype(np.float32)
    return resampled


@pytest.fixture(scope="module")
def whisper() -> Iterator[tuple[WhisperTranscriber, list[np.ndarray]]]:
    """Whisper base, with every input its encoder gets recorded."""
    model = WhisperTranscriber(base_model_files, identifier="whisper-base")
    model.load()
    encoder: Any = model._encoder
    encode = encoder._encode
    encoded: list[np.ndarray] = []

    def recording(features: np.ndarray) -> Any:
        encoded.append(features)
        return encode(features)

    encoder._encode = recording
    yield model, encoded
    model.unload()


def test_a_detected_language_costs_no_second_encoding(
    whisper: tuple[WhisperTranscriber, list[np.ndarray]], speech: np.ndarray
) -> None:
    model, encoded = whisper
    encoded.clear()
    detected = list(model(speech))[-1]
    assert len(encoded) == 1
    encoded.clear()
    given = list(model(speech, language="en"))[-1]
    assert len(encoded) == 1
    assert detected.language == given.language == "english"
    assert detected.text == given.text
    assert "sum up the plan" in detected.text.lower()


def test_with_voice_detection_the_cut_audio_is_encoded_as_faster_whisper_does(
    whisper: tuple[WhisperTranscriber, list[np.ndarray]], speech: np.ndarray
) -> None:
    model, encoded = whisper
    encoded.clear()
    transcript = list(model(speech, vad_filter=True))[-1]
    assert len(encoded) == 2  # faster-whisper's own detection, then the window transcribed
    assert "sum up the plan" in transcript.text.lower()
