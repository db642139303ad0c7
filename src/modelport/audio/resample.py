"""Sample-rate conversion and channel mixing on float32 numpy arrays."""

from __future__ import annotations

import numpy as np
import soxr


def resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Resample `samples` from `from_rate` to `to_rate` Hz with soxr.

    `samples` is `(frames,)` or `(frames, channels)`; the result has the same layout, is float32 and
    has about `frames * to_rate / from_rate` frames. When the rates are equal the input is returned
    as it is (converted to float32 only if it was not already).
    """
    if from_rate <= 0 or to_rate <= 0:
        raise ValueError(f"sample rates must be positive, got {from_rate} and {to_rate}")
    if samples.ndim not in (1, 2):
        raise ValueError(f"expected samples shaped (frames,) or (frames, channels), got {samples.shape}")
    floats = np.asarray(samples, dtype=np.float32)
    if from_rate == to_rate:
        return floats
    if floats.shape[0] == 0:
        return floats.copy()
    resampled = soxr.resample(np.ascontiguousarray(floats), from_rate, to_rate)
    return np.asarray(resampled, dtype=np.float32)


def to_mono(samples: np.ndarray) -> np.ndarray:
    """Mix `(frames, channels)` down to `(frames,)` float32 by averaging the channels.

    A 1-D array is already mono and is returned as float32.
    """
    if samples.ndim == 1:
        return np.asarray(samples, dtype=np.float32)
    if samples.ndim != 2 or samples.shape[1] == 0:
        raise ValueError(f"expected samples shaped (frames,) or (frames, channels), got {samples.shape}")
    if samples.shape[1] == 1:
        return np.asarray(samples[:, 0], dtype=np.float32)
    return np.asarray(samples.mean(axis=1, dtype=np.float32), dtype=np.float32)
