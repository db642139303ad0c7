"""Encode audio piece by piece, so a response can stream while the rest is still being generated."""

from __future__ import annotations

import struct
from fractions import Fraction

import av
import numpy as np
import soxr
from av.audio.frame import AudioFrame
from av.audio.stream import AudioStream
from av.container import OutputContainer

from modelport.audio.encode import _BITEXACT_CODEC, _CODECS, _supported_rate, _to_int16, _validated
from modelport.audio.formats import AUDIO_FORMATS, PCM_SAMPLE_RATE, AudioFormat
from modelport.audio.resample import to_mono

# Ogg holds packets back for up to a second before writing a page; 20 ms pages let opus stream promptly.
_STREAM_OPTIONS = {"fflags": "+bitexact", "page_duration": "20000"}
_UNKNOWN_SIZE = 0xFFFFFFFF


class _Sink:
    """A write-only file for PyAV: with no `seek`, muxers write as they go and never rewrite a header."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


class AudioStreamEncoder:
    """Turns successive float32 sample arrays into successive byte strings of one file in `format`.

    Concatenating what `encode` returns for each piece, then what `close` returns, gives a complete file:
    wav with its sizes marked unknown (as streaming servers send it), raw pcm (24 kHz s16le mono), or an
    mp3, aac (ADTS), opus (Ogg) or flac stream. Every piece must have the same number of channels.
    """

    def __init__(self, sample_rate: int, format: AudioFormat) -> None:
        if format not in AUDIO_FORMATS:
            raise ValueError(f"unknown audio format {format!r}; expected one of {', '.join(AUDIO_FORMATS)}")
        if sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {sample_rate}")
        self.format = format
        self.sample_rate = sample_rate
        self._channels: int | None = None
        self._rate = sample_rate
        self._resampler: soxr.ResampleStream | None = None
        self._sink = _Sink()
        self._container: OutputContainer | None = None
        self._stream: AudioStream | None = None
        self._pts = 0

    def encode(self, samples: np.ndarray) -> bytes:
        """The bytes for `samples`; may be empty while a codec gathers a full frame."""
        frames = _validated(samples)
        if self.format == "pcm":
            frames = to_mono(frames).reshape(-1, 1)
        header = b"" if self._channels is not None else self._start(frames.shape[1])
        if frames.shape[1] != self._channels:
            raise ValueError(f"every piece needs {self._channels} channels, got {frames.shape[1]}")
        return header + self._write(self._resample(frames, last=False))

    def close(self) -> bytes:
        """The last bytes: what the resampler and the codec still hold, and the container's trailer."""
        if self._channels is None:
            raise ValueError("nothing was encoded")
        tail = self._write(self._resample(np.zeros((0, self._channels), np.float32), last=True))
        if self._container is not None and self._stream is not None:
            self._container.mux(self._stream.encode(None))
            self._container.close()
            self._container = None
        return tail + self._sink.take()

    def _start(self, channels: int) -> bytes:
        self._channels = channels
        if self.format == "pcm":
            self._rate = PCM_SAMPLE_RATE
        elif self.format != "wav":
            codec = _CODECS[self.format]
            if channels > codec.max_channels:
                raise ValueError(f"{self.format} supports at most {codec.max_channels} channels, got {channels}")
            self._rate = _supported_rate(self.sample_rate, codec.rates)
        if self._rate != self.sample_rate:
            self._resampler = soxr.ResampleStream(self.sample_rate, self._rate, channels, dtype="float32")
        if self.format == "wav":
            return _wav_header(self._rate, channels)
        if self.format != "pcm":
            self._open_container(channels)
        return b""

    def _open_container(self, channels: int) -> None:
        codec = _CODECS[self.format]
        options = _STREAM_OPTIONS if codec.container == "ogg" else {"fflags": "+bitexact"}
        container = av.open(self._sink, mode="w", format=codec.container, container_options=options)
        stream = container.add_stream(codec.codec, rate=self._rate, options=_BITEXACT_CODEC)
        if not isinstance(stream, AudioStream):
            raise TypeError(f"{codec.codec} is not an audio encoder")
        stream.layout = f"{channels}c"
        stream.format = codec.sample_format
        if codec.bit_rate_per_channel is not None:
            stream.bit_rate = codec.bit_rate_per_channel * channels
        self._container, self._stream = container, stream

    def _resample(self, frames: np.ndarray, *, last: bool) -> np.ndarray:
        if self._resampler is None:
            return frames
        out = self._resampler.resample_chunk(np.ascontiguousarray(frames, dtype=np.float32), last=last)
        return np.asarray(out, dtype=np.float32).reshape(-1, frames.shape[1])

    def _write(self, frames: np.ndarray) -> bytes:
        if frames.shape[0] == 0:
            return self._sink.take()
        if self.format in ("wav", "pcm"):
            return bytes(_to_int16(frames).astype("<i2").tobytes())
        assert self._container is not None
        assert self._stream is not None
        codec = _CODECS[self.format]
        layout = f"{frames.shape[1]}c"
        if codec.sample_format == "s16":
            frame = AudioFrame.from_ndarray(_to_int16(frames).reshape(1, -1), format="s16", layout=layout)
        else:
            interleaved = np.ascontiguousarray(np.clip(frames, -1.0, 1.0).reshape(1, -1))
            frame = AudioFrame.from_ndarray(interleaved, format="flt", layout=layout)
        frame.sample_rate = self._rate
        frame.time_base = Fraction(1, self._rate)
        frame.pts = self._pts
        self._pts += frames.shape[0]
        self._container.mux(self._stream.encode(frame))
        return self._sink.take()


def _wav_header(rate: int, channels: int) -> bytes:
    """A 16-bit PCM WAV header whose sizes say "unknown", for a body whose length is not known yet."""
    block = channels * 2
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * block, block, 16)
    return (
        b"RIFF"
        + struct.pack("<I", _UNKNOWN_SIZE)
        + b"WAVEfmt "
        + struct.pack("<I", 16)
        + fmt
        + (b"data" + struct.pack("<I", _UNKNOWN_SIZE))
    )
