"""resample() and to_mono()."""

from __future__ import annotations

import numpy as np
import pytest

from modelport.audio import resample, to_mono


def _sine(rate: int, seconds: float = 1.0, freq: float = 440.0) -> np.ndarray:
    t = np.arange(round(rate * seconds)) / rate
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _dominant_frequency(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[np.argmax(spectrum)])


@pytest.mark.parametrize(
    ("from_rate", "to_rate"),
    [(24000, 16000), (16000, 24000), (22050, 16000), (44100, 48000), (48000, 8000), (8000, 44100)],
)
def test_length_scales_by_the_rate_ratio(from_rate: int, to_rate: int) -> None:
    out = resample(_sine(from_rate), from_rate, to_rate)
    assert out.dtype == np.float32
    assert out.ndim == 1
    assert abs(len(out) - to_rate) <= 1
    assert _dominant_frequency(out, to_rate) == pytest.approx(440, abs=2)
    middle = out[len(out) // 4 : -len(out) // 4]
    assert float(np.abs(middle).max()) == pytest.approx(0.5, abs=0.01)


def test_same_rate_is_identity() -> None:
    samples = _sine(16000)
    assert resample(samples, 16000, 16000) is samples


def test_same_rate_still_returns_float32() -> None:
    samples = _sine(16000).astype(np.float64)
    out = resample(samples, 16000, 16000)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, samples.astype(np.float32))


def test_float64_input_gives_float32() -> None:
    assert resample(_sine(24000).astype(np.float64), 24000, 16000).dtype == np.float32


def test_channels_are_kept() -> None:
    stereo = np.stack([_sine(24000), _sine(24000, freq=1000)], axis=1)
    out = resample(stereo, 24000, 16000)
    assert out.shape[1] == 2
    assert abs(out.shape[0] - 16000) <= 1
    assert _dominant_frequency(out[:, 0], 16000) == pytest.approx(440, abs=2)
    assert _dominant_frequency(out[:, 1], 16000) == pytest.approx(1000, abs=2)


def test_non_contiguous_input() -> None:
    stereo = np.stack([_sine(24000), _sine(24000)], axis=1)
    out = resample(stereo[:, 1], 24000, 16000)
    assert abs(len(out) - 16000) <= 1


def test_empty_input() -> None:
    out = resample(np.zeros(0, dtype=np.float32), 24000, 16000)
    assert out.shape == (0,)
    assert out.dtype == np.float32


@pytest.mark.parametrize(("from_rate", "to_rate"), [(0, 16000), (16000, 0), (-1, 16000)])
def test_rejects_non_positive_rates(from_rate: int, to_rate: int) -> None:
    with pytest.raises(ValueError, match="positive"):
        resample(_sine(16000), from_rate, to_rate)


def test_rejects_three_dimensions() -> None:
    with pytest.raises(ValueError, match="frames"):
        resample(np.zeros((10, 2, 2), dtype=np.float32), 24000, 16000)


def test_to_mono_averages_channels() -> None:
    stereo = np.array([[1.0, 0.0], [0.5, -0.5], [-1.0, -0.5]], dtype=np.float32)
    out = to_mono(stereo)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [0.5, 0.0, -0.75])


def test_to_mono_keeps_mono() -> None:
    samples = _sine(16000)
    np.testing.assert_array_equal(to_mono(samples), samples)
    np.testing.assert_array_equal(to_mono(samples[:, np.newaxis]), samples)


def test_to_mono_converts_to_float32() -> None:
    assert to_mono(np.zeros((4, 2), dtype=np.float64)).dtype == np.float32


@pytest.mark.parametrize("shape", [(4, 0), (4, 2, 1)])
def test_to_mono_rejects_bad_shapes(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="frames"):
        to_mono(np.zeros(shape, dtype=np.float32))
