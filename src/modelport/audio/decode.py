"""Decode uploaded audio of any container or codec FFmpeg reads into mono float32 samples."""

from __future__ import annotations

import io
from itertools import groupby

import av
import av.error
import numpy as np
from av.audio.frame import AudioFrame
from av.audio.stream import AudioStream
from av.container import InputContainer

from modelport.audio.formats import AudioDecodeError
from modelport.audio.resample import resample, to_mono

_PREFIX = "could not decode the uploaded file as audio"


def decode_audio(data: bytes, sample_rate: int) -> np.ndarray:
    """Decode an audio file held in memory to mono float32 samples at `sample_rate` Hz.

    Reads whatever FFmpeg (as bundled with PyAV) can demux and decode: wav, mp3, ogg/vorbis, ogg/opus,
    webm, m4a/aac, flac and more. The first audio stream is decoded to float at its native rate, its
    channels are averaged, and the result is resampled with soxr. Corrupt packets are skipped and a
    truncated file yields the audio before the damage, as the `ffmpeg` command line does.

    Raises:
        AudioDecodeError: `data` is empty, is not audio, has no audio stream, or decodes to no samples.
            No other exception escapes for malformed input.
        ValueError: `sample_rate` is not positive.
    """
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    if not data:
        raise AudioDecodeError(f"{_PREFIX}: the file is empty")
    try:
        chunks, error = _decode_chunks(data)
        # A stream may change rate midway (chained ogg, concatenated mp3): resample each run separately.
        runs = [
            resample(np.concatenate([samples for _, samples in run]), rate, sample_rate)
            for rate, run in groupby(chunks, key=lambda chunk: chunk[0])
        ]
    except AudioDecodeError:
        raise
    # FFmpeg and PyAV raise many unrelated types (OSError, EOFError, ValueError, RuntimeError, ...) for
    # malformed input, and callers must be able to answer all of them with a 400.
    except Exception as exc:
        raise AudioDecodeError(f"{_PREFIX}: {_describe(exc)}") from exc
    if not runs:
        reason = _describe(error) if error is not None else "it contains no audio samples"
        raise AudioDecodeError(f"{_PREFIX}: {reason}")
    return np.concatenate(runs) if len(runs) > 1 else runs[0]


def _decode_chunks(data: bytes) -> tuple[list[tuple[int, np.ndarray]], Exception | None]:
    """Decode the first audio stream into `(native_rate, mono_samples)` chunks.

    Also returns the last error skipped along the way, to explain an empty result.
    """
    with av.open(io.BytesIO(data), mode="r", metadata_errors="replace") as container:
        if not container.streams.audio:
            raise AudioDecodeError(f"{_PREFIX}: it contains no audio stream")
        stream = container.streams.audio[0]
        return _decode_stream(container, stream)


def _decode_stream(
    container: InputContainer, stream: AudioStream
) -> tuple[list[tuple[int, np.ndarray]], Exception | None]:
    chunks: list[tuple[int, np.ndarray]] = []
    error: Exception | None = None
    packets = container.demux(stream)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            break
        except av.error.FFmpegError as exc:
            # A demuxer error part way through is almost always a truncated upload: keep what came before.
            error = exc
            break
        try:
            frames = stream.decode(packet)
        except av.error.InvalidDataError as exc:
            error = exc
            continue
        for frame in frames:
            if frame.samples > 0 and frame.sample_rate > 0:
                chunks.append((frame.sample_rate, _frame_to_mono(frame)))
    return chunks, error


def _frame_to_mono(frame: AudioFrame) -> np.ndarray:
    """Convert one decoded frame of any sample format to mono float32 in [-1, 1]."""
    data: np.ndarray = frame.to_ndarray()
    if not frame.format.is_planar:
        # Packed formats come back as one interleaved row: (1, samples * channels).
        data = data.reshape(-1, frame.layout.nb_channels).T
    floats: np.ndarray
    if data.dtype.kind == "u":
        floats = (data.astype(np.float32) - 128.0) / 128.0
    elif data.dtype.kind == "i":
        floats = data.astype(np.float32) / float(2 ** (8 * data.dtype.itemsize - 1))
    else:
        floats = data.astype(np.float32)
    return to_mono(floats.T)


def _describe(exc: Exception) -> str:
    """A short reason for the user, without FFmpeg's errno and pseudo file name."""
    if isinstance(exc, EOFError):
        return "the file ends unexpectedly; it may be truncated"
    strerror = exc.strerror if isinstance(exc, av.error.FFmpegError) else None
    reason = strerror or str(exc) or type(exc).__name__
    return reason[:1].lower() + reason[1:]
