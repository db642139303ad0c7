"""Encode float32 samples into the response formats of OpenAI's `/v1/audio/speech`."""

from __future__ import annotations

import io
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np
from av.audio.frame import AudioFrame
from av.audio.stream import AudioStream

from modelport.audio.formats import AUDIO_FORMATS, PCM_SAMPLE_RATE, AudioFormat
from modelport.audio.resample import resample, to_mono

_MP3_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
_AAC_RATES = (7350, 8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 64000, 88200, 96000)
# libopus also takes 8/12/16 kHz, but Ogg Opus always plays back at 48 kHz; 24 kHz keeps speech fullband.
_OPUS_RATES = (24000, 48000)
_MAX_CHANNELS = 8  # the most FFmpeg has a default channel layout for


@dataclass(frozen=True)
class _Codec:
    container: str
    codec: str
    sample_format: str
    rates: tuple[int, ...] | None = None
    bit_rate_per_channel: int | None = None
    max_channels: int = _MAX_CHANNELS


_CODECS: dict[AudioFormat, _Codec] = {
    "wav": _Codec("wav", "pcm_s16le", "s16"),
    "flac": _Codec("flac", "flac", "s16"),
    "mp3": _Codec("mp3", "libmp3lame", "fltp", _MP3_RATES, 64_000, max_channels=2),
    "aac": _Codec("adts", "aac", "fltp", _AAC_RATES, 64_000),
    "opus": _Codec("ogg", "libopus", "flt", _OPUS_RATES, 48_000, max_channels=2),
}

# Without these, FFmpeg stamps its version into WAV (a LIST chunk), AAC and FLAC output, and Ogg
# picks a random stream serial number: the same samples should give the same bytes. The FLAC muxer
# would also reserve 8 KiB of padding for later tag edits, which a response never gets.
_CONTAINER_OPTIONS = {"fflags": "+bitexact", "metadata_header_padding": "0"}
_BITEXACT_CODEC = {"flags": "+bitexact"}


def encode_audio(samples: np.ndarray, sample_rate: int, format: AudioFormat) -> bytes:
    """Encode `samples` at `sample_rate` Hz as a complete file in `format`.

    `samples` is `(frames,)` mono or `(frames, channels)` of any float dtype with values nominally in
    [-1, 1]; values outside are clipped and NaN becomes silence. Channels are kept, except for `pcm`,
    which is OpenAI's raw 24 kHz mono s16le with no header. Lossy formats are resampled with soxr to
    the nearest rate their codec supports at or above `sample_rate` (mp3, aac; opus uses 24 or 48 kHz).

    Raises:
        ValueError: `samples` is empty, not floating point or has more than two dimensions; too many
            channels for the format; `sample_rate` not positive; unknown `format`.
    """
    if format not in AUDIO_FORMATS:
        raise ValueError(f"unknown audio format {format!r}; expected one of {', '.join(AUDIO_FORMATS)}")
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    frames = _validated(samples)
    if format == "pcm":
        mono = resample(to_mono(frames), sample_rate, PCM_SAMPLE_RATE)
        return _to_int16(mono).astype("<i2").tobytes()

    codec = _CODECS[format]
    channels = frames.shape[1]
    if channels > codec.max_channels:
        raise ValueError(f"{format} supports at most {codec.max_channels} channels, got {channels}")
    rate = _supported_rate(sample_rate, codec.rates)
    frames = resample(frames, sample_rate, rate)
    return _encode_with_pyav(frames, rate, codec)


def _validated(samples: np.ndarray) -> np.ndarray:
    """Check `samples` and return them as clipped, finite float32 shaped (frames, channels)."""
    if not isinstance(samples, np.ndarray):
        raise ValueError(f"samples must be a numpy array, got {type(samples).__name__}")
    if samples.dtype.kind != "f":
        raise ValueError(f"samples must be floating point in [-1, 1], got dtype {samples.dtype}")
    if samples.ndim not in (1, 2):
        raise ValueError(f"samples must be shaped (frames,) or (frames, channels), got {samples.shape}")
    if samples.size == 0:
        raise ValueError(f"samples must not be empty, got shape {samples.shape}")
    frames = samples.reshape(-1, 1) if samples.ndim == 1 else samples
    if frames.shape[1] > _MAX_CHANNELS:
        raise ValueError(f"at most {_MAX_CHANNELS} channels are supported, got {frames.shape[1]}")
    finite = np.nan_to_num(frames.astype(np.float32), nan=0.0, posinf=1.0, neginf=-1.0)
    return np.clip(finite, -1.0, 1.0)


def _to_int16(samples: np.ndarray) -> np.ndarray:
    # Clip again: resampling can overshoot a full-scale input slightly.
    scaled: np.ndarray = np.rint(np.clip(samples, -1.0, 1.0) * 32767.0)
    return scaled.astype(np.int16)


def _supported_rate(rate: int, supported: tuple[int, ...] | None) -> int:
    """`rate` if the codec takes it, else the nearest supported rate above it, else the highest."""
    if supported is None or rate in supported:
        return rate
    return min((r for r in supported if r > rate), default=max(supported))


def _encode_with_pyav(frames: np.ndarray, rate: int, codec: _Codec) -> bytes:
    channels = frames.shape[1]
    layout = f"{channels}c"  # FFmpeg's default layout for that many channels: mono, stereo, 5.1, ...
    if codec.sample_format == "s16":
        frame = AudioFrame.from_ndarray(_to_int16(frames).reshape(1, -1), format="s16", layout=layout)
    else:
        interleaved = np.ascontiguousarray(np.clip(frames, -1.0, 1.0).reshape(1, -1))
        frame = AudioFrame.from_ndarray(interleaved, format="flt", layout=layout)
    frame.sample_rate = rate
    frame.time_base = Fraction(1, rate)
    frame.pts = 0

    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=codec.container, container_options=_CONTAINER_OPTIONS) as output:
        stream = output.add_stream(codec.codec, rate=rate, options=_BITEXACT_CODEC)
        if not isinstance(stream, AudioStream):
            raise TypeError(f"{codec.codec} is not an audio encoder")
        stream.layout = layout
        stream.format = codec.sample_format
        if codec.bit_rate_per_channel is not None:
            stream.bit_rate = codec.bit_rate_per_channel * channels
        # The stream's codec context re-chunks the frame to the codec's frame size and converts the
        # sample format; encode(None) then drains both that re-chunker and the encoder's delay.
        output.mux(stream.encode(frame))
        output.mux(stream.encode(None))
    return buffer.getvalue()
