"""Checks on what predictors return (modelport.serving.checks)."""

from typing import Any

import numpy as np
import pytest

from modelport.errors import PredictorError
from modelport.serving.checks import MAX_AUDIO_CHANNELS, check_audio, check_embeddings, check_text


def broken(fragment: str) -> Any:
    """Expect a PredictorError naming the model `m` and containing `fragment`."""
    return pytest.raises(PredictorError, match=rf"^The model `m` broke its contract: .*{fragment}")


def vectors(rows: int, dims: int, dtype: Any = np.float32) -> np.ndarray:
    return np.ones((rows, dims), dtype=dtype)


# Embeddings


def test_embeddings_accepted() -> None:
    value = vectors(3, 8)
    assert check_embeddings("m", value, 3, None) is value
    assert check_embeddings("m", value, 3, 8) is value


@pytest.mark.parametrize(
    "value",
    [vectors(2, 4, np.float64), vectors(2, 4, np.float16), vectors(2, 4, np.int32)],
    ids=["float64", "float16", "int32"],
)
def test_embeddings_wrong_dtype(value: np.ndarray) -> None:
    with broken(rf"float32 array of shape \(N, D\), not an array of dtype {value.dtype}"):
        check_embeddings("m", value, 2, None)


@pytest.mark.parametrize("value", [np.ones(4, dtype=np.float32), np.ones((2, 4, 1), dtype=np.float32)])
def test_embeddings_wrong_ndim(value: np.ndarray) -> None:
    with broken(r"shape \(N, D\)"):
        check_embeddings("m", value, 2, None)


@pytest.mark.parametrize("value", [[[1.0, 2.0]], "vectors", None])
def test_embeddings_not_an_array(value: Any) -> None:
    with broken(f"not a {type(value).__name__}"):
        check_embeddings("m", value, 1, None)


def test_embeddings_wrong_row_count() -> None:
    with broken("it returned 2 vectors for 3 inputs"):
        check_embeddings("m", vectors(2, 4), 3, None)


def test_embeddings_wrong_dims() -> None:
    with broken("it returned vectors of length 16 when 8 were asked for"):
        check_embeddings("m", vectors(2, 16), 2, 8)


def test_embeddings_of_length_zero() -> None:
    with broken("vectors of length 0"):
        check_embeddings("m", vectors(2, 0), 2, None)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_embeddings_not_finite(bad: float) -> None:
    value = vectors(2, 4)
    value[1, 2] = bad
    with broken("NaN or infinite values"):
        check_embeddings("m", value, 2, None)


def test_broken_contract_error_fields() -> None:
    with pytest.raises(PredictorError) as excinfo:
        check_embeddings("my-model", vectors(1, 4), 2, None)
    error = excinfo.value
    assert "`my-model`" in error.message
    assert error.status_code == 500
    assert error.code == "invalid_predictor_output"
    assert error.type == "server_error"


# Audio


@pytest.mark.parametrize(
    "value",
    [np.zeros(10, dtype=np.float32), np.zeros((10, 1), dtype=np.float32), np.zeros((10, 2), dtype=np.float32)],
    ids=["mono", "one-channel", "stereo"],
)
def test_audio_accepted(value: np.ndarray) -> None:
    assert check_audio("m", value) is value


def test_audio_with_the_most_channels_accepted() -> None:
    value = np.zeros((4, MAX_AUDIO_CHANNELS), dtype=np.float32)
    assert check_audio("m", value) is value


@pytest.mark.parametrize(
    "value",
    [np.zeros(10, dtype=np.float64), np.zeros(10, dtype=np.int16), [0.0, 0.1]],
    ids=["float64", "int16", "list"],
)
def test_audio_wrong_dtype(value: Any) -> None:
    with broken(r"float32 samples of shape \(F,\) or \(F, C\)"):
        check_audio("m", value)


@pytest.mark.parametrize("value", [np.float32(0.5) * np.ones(()), np.zeros((2, 2, 2), dtype=np.float32)])
def test_audio_wrong_ndim(value: np.ndarray) -> None:
    with broken(r"float32 samples of shape \(F,\) or \(F, C\)"):
        check_audio("m", value.astype(np.float32))


@pytest.mark.parametrize("shape", [(0,), (0, 2)])
def test_audio_empty(shape: tuple[int, ...]) -> None:
    with broken("it returned no samples"):
        check_audio("m", np.zeros(shape, dtype=np.float32))


@pytest.mark.parametrize("channels", [0, MAX_AUDIO_CHANNELS + 1])
def test_audio_channel_count(channels: int) -> None:
    with broken(f"it returned {channels} channels; at most {MAX_AUDIO_CHANNELS} are supported"):
        check_audio("m", np.zeros((10, channels), dtype=np.float32))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_audio_not_finite(bad: float) -> None:
    value = np.zeros(10, dtype=np.float32)
    value[3] = bad
    with broken("NaN or infinite samples"):
        check_audio("m", value)


# Text


@pytest.mark.parametrize("value", ["", "hello"])
def test_text_accepted(value: str) -> None:
    assert check_text("m", value) == value


@pytest.mark.parametrize("value", [b"hello", None, ["hello"]])
def test_text_wrong_type(value: Any) -> None:
    with broken(f"a transcription function returns str or a Transcript, not a {type(value).__name__}"):
        check_text("m", value)
