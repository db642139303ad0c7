"""decode_audio() on files from other encoders, and on uploads that are not audio at all."""

from __future__ import annotations

import io
from collections.abc import Callable
from fractions import Fraction

import av
import numpy as np
import pytest

from modelport.audio import AudioDecodeError, AudioFormat, decode_audio, encode_audio

DECODE_RATE = 16000
SINE_RMS = 0.5 / np.sqrt(2)


def _sine(rate: int, seconds: float = 1.0, freq: float = 440.0) -> np.ndarray:
    t = np.arange(round(rate * seconds)) / rate
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _dominant_frequency(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[np.argmax(spectrum)])


def _rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))


def _write_with_pyav(
    container: str,
    codec: str,
    rate: int,
    *,
    layout: str = "stereo",
    options: dict[str, str] | None = None,
) -> bytes:
    """One second of a 440 Hz sine in every channel, written by PyAV with the given muxer and encoder."""
    channels = av.AudioLayout(layout).nb_channels
    interleaved = np.repeat(_sine(rate), channels).reshape(1, -1)
    frame = av.AudioFrame.from_ndarray(interleaved, format="flt", layout=layout)
    frame.sample_rate = rate
    frame.time_base = Fraction(1, rate)
    frame.pts = 0
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=container) as output:
        stream = output.add_stream(codec, rate=rate, options=options or {})
        assert isinstance(stream, av.audio.stream.AudioStream)
        stream.layout = layout
        output.mux(stream.encode(frame))
        output.mux(stream.encode(None))
    return buffer.getvalue()


def _assert_is_the_sine(decoded: np.ndarray, length_tolerance: float = 0.03) -> None:
    assert decoded.dtype == np.float32
    assert decoded.ndim == 1
    assert abs(len(decoded) - DECODE_RATE) <= DECODE_RATE * length_tolerance
    assert _dominant_frequency(decoded, DECODE_RATE) == pytest.approx(440, abs=3)
    assert _rms(decoded) == pytest.approx(SINE_RMS, rel=0.1)


def test_ogg_vorbis() -> None:
    try:
        av.codec.Codec("vorbis", "w")
    except av.codec.codec.UnknownCodecError:
        pytest.skip("the bundled FFmpeg has no vorbis encoder")
    # FFmpeg's native vorbis encoder is marked experimental and refuses to open without this.
    data = _write_with_pyav("ogg", "vorbis", 44100, options={"strict": "experimental"})
    _assert_is_the_sine(decode_audio(data, DECODE_RATE))


def test_webm_opus() -> None:
    data = _write_with_pyav("webm", "libopus", 48000)
    assert data[:4] == b"\x1a\x45\xdf\xa3"  # EBML
    _assert_is_the_sine(decode_audio(data, DECODE_RATE))


@pytest.mark.parametrize("container", ["mp4", "ipod"])
def test_m4a_aac(container: str) -> None:
    data = _write_with_pyav(container, "aac", 44100)
    assert data[4:8] == b"ftyp"
    _assert_is_the_sine(decode_audio(data, DECODE_RATE))


@pytest.mark.parametrize(
    ("codec", "sample_format"),
    [
        ("pcm_u8", "u8"),
        ("pcm_s16le", "s16"),
        ("pcm_s24le", "s32"),
        ("pcm_s32le", "s32"),
        ("pcm_f32le", "flt"),
        ("pcm_f64le", "dbl"),
    ],
)
def test_wav_sample_formats(codec: str, sample_format: str) -> None:
    data = _write_with_pyav("wav", codec, 22050, layout="mono")
    with av.open(io.BytesIO(data), mode="r") as container:
        assert next(container.decode(audio=0)).format.name == sample_format
    decoded = decode_audio(data, DECODE_RATE)
    _assert_is_the_sine(decoded, length_tolerance=0.001)
    np.testing.assert_allclose(decoded[100:-100], _sine(DECODE_RATE)[100:-100], atol=0.01)


@pytest.mark.parametrize(("container", "codec"), [("matroska", "flac"), ("ogg", "flac"), ("mp3", "libmp3lame")])
def test_other_containers(container: str, codec: str) -> None:
    _assert_is_the_sine(decode_audio(_write_with_pyav(container, codec, 44100), DECODE_RATE))


@pytest.mark.parametrize("rate", [8000, 16000, 44100, 48000])
def test_output_rate(rate: int) -> None:
    wav = encode_audio(_sine(22050), 22050, "wav")
    decoded = decode_audio(wav, rate)
    assert abs(len(decoded) - rate) <= 1
    assert _dominant_frequency(decoded, rate) == pytest.approx(440, abs=2)


def test_native_rate_is_not_resampled() -> None:
    samples = _sine(24000)
    decoded = decode_audio(encode_audio(samples, 24000, "wav"), 24000)
    np.testing.assert_allclose(decoded, samples, atol=1 / 32767)


def test_channels_are_averaged() -> None:
    stereo = np.stack([_sine(16000), np.zeros(16000, dtype=np.float32)], axis=1)
    decoded = decode_audio(encode_audio(stereo, 16000, "wav"), 16000)
    np.testing.assert_allclose(decoded, _sine(16000) / 2, atol=1 / 32767)


def test_rate_change_midway() -> None:
    """Two mp3 files back to back, at 24 and 16 kHz: each part is resampled from its own rate."""
    data = encode_audio(_sine(24000), 24000, "mp3") + encode_audio(_sine(16000), 16000, "mp3")
    decoded = decode_audio(data, DECODE_RATE)
    # The second file's encoder delay is not trimmed mid-stream, hence the slack.
    assert 2 * DECODE_RATE <= len(decoded) <= 2.1 * DECODE_RATE
    assert _dominant_frequency(decoded, DECODE_RATE) == pytest.approx(440, abs=3)
    half = len(decoded) // 2
    assert _rms(decoded[:half]) == pytest.approx(_rms(decoded[half:]), rel=0.1)


def test_truncated_file_keeps_the_audio_before_the_cut() -> None:
    wav = encode_audio(_sine(16000), 16000, "wav")
    decoded = decode_audio(wav[: 44 + 16000], DECODE_RATE)  # header and the first half second
    assert len(decoded) == 8000


def test_corrupt_packet_in_the_middle_is_skipped() -> None:
    mp3 = bytearray(encode_audio(_sine(24000), 24000, "mp3"))
    middle = len(mp3) // 2
    mp3[middle : middle + 200] = bytes(200)
    decoded = decode_audio(bytes(mp3), DECODE_RATE)
    assert len(decoded) > 0.8 * DECODE_RATE
    assert _dominant_frequency(decoded, DECODE_RATE) == pytest.approx(440, abs=3)


def _truncated(fmt: AudioFormat, length: int) -> bytes:
    return encode_audio(_sine(24000), 24000, fmt)[:length]


def _random_bytes() -> bytes:
    return np.random.default_rng(1234).bytes(4096)


@pytest.mark.parametrize(
    ("make_data", "reason"),
    [
        pytest.param(lambda: b"", "empty", id="empty"),
        pytest.param(lambda: b"hello world", "invalid data", id="text"),
        pytest.param(lambda: b"hello world\n" * 1000, "invalid data", id="long-text"),
        pytest.param(_random_bytes, "invalid data", id="random-4k"),
        pytest.param(lambda: bytes(4096), "invalid data", id="zeros"),
        pytest.param(lambda: _truncated("wav", 20), "invalid data", id="wav-header-cut"),
        pytest.param(lambda: _truncated("wav", 44), "no audio samples", id="wav-header-only"),
        pytest.param(lambda: _truncated("flac", 20), "invalid data", id="flac-streaminfo-cut"),
        pytest.param(lambda: _truncated("opus", 30), "truncated", id="ogg-opushead-cut"),
        pytest.param(lambda: _truncated("mp3", 10), "invalid data", id="mp3-id3-only"),
        pytest.param(lambda: _truncated("aac", 5), "invalid data", id="adts-header-cut"),
        pytest.param(lambda: b"WEBVTT\n\n00:00.000 --> 00:01.000\nhello\n", "no audio stream", id="subtitles-only"),
    ],
)
def test_not_audio(make_data: Callable[[], bytes], reason: str) -> None:
    with pytest.raises(AudioDecodeError, match=reason) as info:
        decode_audio(make_data(), DECODE_RATE)
    assert str(info.value).startswith("could not decode the uploaded file as audio: ")


def test_fuzzed_files_raise_only_decode_errors() -> None:
    """Damaged copies of every format either decode or raise AudioDecodeError, nothing else."""
    rng = np.random.default_rng(7)
    formats: tuple[AudioFormat, ...] = ("wav", "flac", "mp3", "aac", "opus")
    for fmt in formats:
        original = np.frombuffer(encode_audio(_sine(16000, seconds=0.25), 16000, fmt), dtype=np.uint8)
        for _ in range(30):
            damaged = original.copy()
            damaged[rng.integers(0, len(damaged), size=16)] = rng.integers(0, 256, size=16)
            cut = int(rng.integers(1, len(damaged) + 1))
            try:
                decoded = decode_audio(damaged[:cut].tobytes(), DECODE_RATE)
            except AudioDecodeError:
                continue
            assert decoded.dtype == np.float32
            assert decoded.ndim == 1
            assert len(decoded) > 0


def test_video_only_file_has_no_audio_stream() -> None:
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="matroska") as output:
        stream = output.add_stream("ffv1", rate=10)
        assert isinstance(stream, av.video.stream.VideoStream)
        stream.width, stream.height, stream.pix_fmt = 16, 16, "yuv420p"
        frame = av.VideoFrame.from_ndarray(np.zeros((16, 16, 3), dtype=np.uint8), format="rgb24")
        output.mux(stream.encode(frame))
        output.mux(stream.encode(None))
    with pytest.raises(AudioDecodeError, match="no audio stream"):
        decode_audio(buffer.getvalue(), DECODE_RATE)


def test_decode_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="could not decode"):
        decode_audio(b"hello world", DECODE_RATE)


@pytest.mark.parametrize("rate", [0, -16000])
def test_rejects_non_positive_rate(rate: int) -> None:
    wav = encode_audio(_sine(16000), 16000, "wav")
    with pytest.raises(ValueError, match="sample_rate") as info:
        decode_audio(wav, rate)
    assert not isinstance(info.value, AudioDecodeError)
