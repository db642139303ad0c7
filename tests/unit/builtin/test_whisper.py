"""The first-window encoder hands a kept output only to the very window it was made from."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np

from modelport.builtin.whisper import _FirstWindowEncoder

FRAMES = 3000


class _Extractor:
    nb_max_frames = FRAMES

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        return np.tile(audio[:1], (80, audio.size // 160 + 1)).astype(np.float32)


def _model() -> tuple[Any, list[np.ndarray]]:
    encoded: list[np.ndarray] = []

    def encode(features: np.ndarray) -> str:
        encoded.append(features)
        return f"output of {features.sum():.0f}"

    languages = SimpleNamespace(detect_language=lambda output: [[("<|de|>", 0.9), ("<|en|>", 0.1)]])
    return SimpleNamespace(encode=encode, feature_extractor=_Extractor(), model=languages), encoded


def _window(audio: np.ndarray) -> np.ndarray:
    """The first window as faster-whisper transcribes it: the features but the last frame, padded with zeros."""
    features = _Extractor()(audio)[:, :-1]
    return np.pad(features, ((0, 0), (0, FRAMES - features.shape[-1])))


def test_the_detected_window_is_encoded_once() -> None:
    model, encoded = _model()
    encoder = _FirstWindowEncoder(model)
    audio = np.ones(16_000, dtype=np.float32)
    assert encoder.detect(audio) == "de"
    assert model.encode(_window(audio)) == "output of 8000"
    assert len(encoded) == 1


def test_another_window_is_encoded_and_the_kept_output_dropped() -> None:
    model, encoded = _model()
    encoder = _FirstWindowEncoder(model)
    audio = np.ones(16_000, dtype=np.float32)
    encoder.detect(audio)
    other = _window(2 * audio)
    assert model.encode(other) == "output of 16000"
    assert model.encode(_window(audio)) == "output of 8000"
    assert len(encoded) == 3


def test_forgetting_drops_the_kept_output() -> None:
    model, encoded = _model()
    encoder = _FirstWindowEncoder(model)
    audio = np.ones(16_000, dtype=np.float32)
    encoder.detect(audio)
    encoder.forget()
    model.encode(_window(audio))
    assert len(encoded) == 2
