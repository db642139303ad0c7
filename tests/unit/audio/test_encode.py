"""encode_audio(), checked by decoding its output again."""

from __future__ import annotations

import io
import struct

import av
import numpy as np
import pytest

from modelport.audio import AUDIO_FORMATS, AudioFormat, decode_audio, encode_audio, resample

DECODE_RATE = 16000
AMPLITUDE = 0.5
SINE_RMS = AMPLITUDE / np.sqrt(2)
CODEC_FORMATS: tuple[AudioFormat, ...] = tuple(f for f in AUDIO_FORMATS if f != "pcm")

# ADTS cannot record the AAC encoder's 1024-sample priming delay, so decoders play it back as leading
# silence, plus the padding of the last 1024-sample frame: about 7% extra on a 1 s clip at 22-24 kHz.
# mp3 (LAME tag), Ogg Opus (pre-skip and end granule), FLAC and WAV record the exact length.
LENGTH_TOLERANCE: dict[AudioFormat, tuple[float, float]] = {
    "aac": (0.0, 0.08),
    "mp3": (-0.01, 0.01),
    "opus": (-0.01, 0.01),
    "flac": (0.0, 0.0),
    "wav": (0.0, 0.0),
}


def _sine(rate: int, seconds: float = 1.0, freq: float = 440.0, amplitude: float = AMPLITUDE) -> np.ndarray:
    t = np.arange(round(rate * seconds)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _dominant_frequency(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[np.argmax(spectrum)])


def _rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))


def _stream_info(data: bytes) -> tuple[str, str, int, int]:
    """(container, codec, sample rate, channels) of the first audio stream, as FFmpeg sees them."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        return container.format.name, stream.codec_context.name, stream.rate, stream.channels


def _opus_input_rate(data: bytes) -> int:
    """The input sample rate recorded in the OpusHead packet (playback is always 48 kHz)."""
    head = data.index(b"OpusHead")
    (rate,) = struct.unpack_from("<I", data, head + 12)
    return int(rate)


@pytest.mark.parametrize("rate", [22050, 24000])
@pytest.mark.parametrize("fmt", CODEC_FORMATS)
def test_sine_survives_a_round_trip(fmt: AudioFormat, rate: int) -> None:
    encoded = encode_audio(_sine(rate), rate, fmt)
    decoded = decode_audio(encoded, DECODE_RATE)

    low, high = LENGTH_TOLERANCE[fmt]
    assert DECODE_RATE * (1 + low) - 1 <= len(decoded) <= DECODE_RATE * (1 + high) + 1
    assert _dominant_frequency(decoded, DECODE_RATE) == pytest.approx(440, abs=3)
    # LAME decodes a few percent quieter than its input; AAC adds leading silence.
    assert _rms(decoded) == pytest.approx(SINE_RMS, rel=0.1)
    assert float(np.abs(decoded).max()) < 0.6


@pytest.mark.parametrize("rate", [22050, 24000])
def test_pcm_is_raw_24khz_s16le_mono(rate: int) -> None:
    samples = _sine(rate)
    encoded = encode_audio(samples, rate, "pcm")

    assert len(encoded) == 24000 * 2
    values = np.frombuffer(encoded, dtype="<i2")
    expected = np.clip(resample(samples, rate, 24000), -1, 1) * 32767
    assert np.abs(values - expected).max() <= 1
    # And independently of the resampler: the same sine, sampled at 24 kHz (edges excepted).
    ideal = _sine(24000) * 32767
    assert np.abs(values[100:-100] - ideal[100:-100]).max() < 0.002 * 32767


def test_pcm_at_24khz_is_exact() -> None:
    samples = np.array([0.0, 0.5, -0.5, 1.0, -1.0, 1e-5], dtype=np.float32)
    encoded = encode_audio(samples, 24000, "pcm")
    assert np.frombuffer(encoded, dtype="<i2").tolist() == [0, 16384, -16384, 32767, -32767, 0]


def test_pcm_mixes_stereo_to_mono() -> None:
    stereo = np.stack([_sine(24000), np.zeros(24000, dtype=np.float32)], axis=1)
    values = np.frombuffer(encode_audio(stereo, 24000, "pcm"), dtype="<i2")
    assert len(values) == 24000
    assert np.abs(values.astype(np.float32) / 32767 - _sine(24000) / 2).max() < 1e-4


@pytest.mark.parametrize("fmt", CODEC_FORMATS)
def test_stereo_is_kept_and_decodes_to_mono(fmt: AudioFormat) -> None:
    left = _sine(24000)
    stereo = np.stack([left, 0.5 * left], axis=1)
    encoded = encode_audio(stereo, 24000, fmt)

    assert _stream_info(encoded)[3] == 2
    decoded = decode_audio(encoded, DECODE_RATE)
    assert decoded.ndim == 1
    assert _dominant_frequency(decoded, DECODE_RATE) == pytest.approx(440, abs=3)
    assert _rms(decoded) == pytest.approx(0.75 * SINE_RMS, rel=0.1)


@pytest.mark.parametrize(
    ("fmt", "container", "codec"),
    [
        ("wav", "wav", "pcm_s16le"),
        ("flac", "flac", "flac"),
        ("mp3", "mp3", "mp3float"),
        ("aac", "aac", "aac"),
        ("opus", "ogg", "opus"),
    ],
)
def test_containers_and_codecs(fmt: AudioFormat, container: str, codec: str) -> None:
    encoded = encode_audio(_sine(24000), 24000, fmt)
    assert _stream_info(encoded)[:2] == (container, codec)


def test_file_signatures() -> None:
    sine = _sine(24000)
    wav = encode_audio(sine, 24000, "wav")
    assert wav[:4] == b"RIFF"
    assert wav[8:16] == b"WAVEfmt "
    assert wav[36:40] == b"data", "a plain 44-byte header, without FFmpeg's LIST chunk"
    assert struct.unpack_from("<HHIIHH", wav, 20) == (1, 1, 24000, 48000, 2, 16)
    assert encode_audio(sine, 24000, "flac")[:4] == b"fLaC"
    assert encode_audio(sine, 24000, "opus")[:4] == b"OggS"
    assert encode_audio(sine, 24000, "mp3")[:3] == b"ID3"
    adts = encode_audio(sine, 24000, "aac")
    assert adts[0] == 0xFF
    assert adts[1] & 0xF0 == 0xF0


@pytest.mark.parametrize(
    ("fmt", "rate", "expected"),
    [
        ("wav", 37000, 37000),
        ("flac", 37000, 37000),
        ("mp3", 22050, 22050),
        ("mp3", 8000, 8000),
        ("mp3", 30000, 32000),
        ("mp3", 96000, 48000),
        ("aac", 24000, 24000),
        ("aac", 20000, 22050),
        ("aac", 192000, 96000),
    ],
)
def test_rate_is_kept_or_raised_to_a_supported_one(fmt: AudioFormat, rate: int, expected: int) -> None:
    encoded = encode_audio(_sine(rate, seconds=0.25), rate, fmt)
    assert _stream_info(encoded)[2] == expected


@pytest.mark.parametrize(("rate", "expected"), [(8000, 24000), (16000, 24000), (24000, 24000), (44100, 48000)])
def test_opus_encodes_at_24_or_48khz(rate: int, expected: int) -> None:
    encoded = encode_audio(_sine(rate, seconds=0.25), rate, "opus")
    assert _opus_input_rate(encoded) == expected
    assert _stream_info(encoded)[2] == 48000


@pytest.mark.parametrize("fmt", CODEC_FORMATS)
def test_encoder_is_flushed(fmt: AudioFormat) -> None:
    """A tone only in the last 20 ms must survive: it sits in the encoder's delay line at the end.

    The odd length leaves a partial last frame, which only a flush encodes.
    """
    rate = 24000
    samples = np.zeros(rate // 2 + 7, dtype=np.float32)
    tail = round(0.02 * rate)
    samples[-tail:] = _sine(rate, seconds=0.02)

    decoded = decode_audio(encode_audio(samples, rate, fmt), rate)
    energy = float(np.sum(np.square(decoded, dtype=np.float64)))
    expected = float(np.sum(np.square(samples, dtype=np.float64)))
    assert energy == pytest.approx(expected, rel=0.2)


@pytest.mark.parametrize("fmt", AUDIO_FORMATS)
def test_output_is_deterministic(fmt: AudioFormat) -> None:
    sine = _sine(24000, seconds=0.5)
    assert encode_audio(sine, 24000, fmt) == encode_audio(sine, 24000, fmt)


@pytest.mark.parametrize("fmt", AUDIO_FORMATS)
def test_very_short_input(fmt: AudioFormat) -> None:
    assert encode_audio(np.array([0.25], dtype=np.float32), 24000, fmt)


@pytest.mark.parametrize("dtype", [np.float64, np.float16])
def test_any_float_dtype_is_accepted(dtype: type[np.floating]) -> None:
    samples = _sine(24000).astype(dtype)
    decoded = decode_audio(encode_audio(samples, 24000, "wav"), 24000)
    np.testing.assert_allclose(decoded, samples.astype(np.float32), atol=1e-3)


def test_out_of_range_values_are_clipped_not_wrapped() -> None:
    loud = _sine(24000, amplitude=2.0)
    decoded = decode_audio(encode_audio(loud, 24000, "wav"), 24000)
    assert float(decoded.max()) == pytest.approx(1.0, abs=1e-3)
    assert float(decoded.min()) == pytest.approx(-1.0, abs=1e-3)
    clear = np.abs(loud) > 1e-3  # away from zero crossings, where rounding may give 0
    np.testing.assert_array_equal(np.sign(decoded[clear]), np.sign(loud[clear]))


def test_nan_and_inf_become_silence_and_full_scale() -> None:
    samples = np.array([np.nan, np.inf, -np.inf, 0.5], dtype=np.float32)
    values = np.frombuffer(encode_audio(samples, 24000, "pcm"), dtype="<i2")
    assert values.tolist() == [0, 32767, -32767, 16384]


@pytest.mark.parametrize(
    "samples",
    [
        pytest.param(np.zeros(100, dtype=np.int16), id="int16"),
        pytest.param(np.zeros(100, dtype=np.int32), id="int32"),
        pytest.param(np.zeros(100, dtype=np.uint8), id="uint8"),
        pytest.param(np.zeros(100, dtype=bool), id="bool"),
        pytest.param(np.zeros(100, dtype=np.complex64), id="complex"),
        pytest.param(np.zeros((100, 2, 1), dtype=np.float32), id="3d"),
        pytest.param(np.zeros(0, dtype=np.float32), id="empty"),
        pytest.param(np.zeros((0, 2), dtype=np.float32), id="no-frames"),
        pytest.param(np.zeros((100, 0), dtype=np.float32), id="no-channels"),
        pytest.param(np.zeros((100, 9), dtype=np.float32), id="nine-channels"),
    ],
)
@pytest.mark.parametrize("fmt", ["wav", "pcm"])
def test_rejects_bad_samples(samples: np.ndarray, fmt: AudioFormat) -> None:
    with pytest.raises(ValueError, match=r"samples|channels"):
        encode_audio(samples, 24000, fmt)


def test_rejects_a_list() -> None:
    with pytest.raises(ValueError, match="numpy array"):
        encode_audio([0.0, 0.1], 24000, "wav")  # type: ignore[arg-type]


@pytest.mark.parametrize("fmt", ["mp3", "opus"])
def test_rejects_more_channels_than_the_codec_takes(fmt: AudioFormat) -> None:
    with pytest.raises(ValueError, match="at most 2 channels"):
        encode_audio(np.zeros((1000, 3), dtype=np.float32), 24000, fmt)


@pytest.mark.parametrize("fmt", ["wav", "flac", "aac"])
def test_six_channels(fmt: AudioFormat) -> None:
    samples = np.repeat(_sine(24000, seconds=0.25)[:, np.newaxis], 6, axis=1)
    encoded = encode_audio(samples, 24000, fmt)
    assert _stream_info(encoded)[3] == 6


def test_rejects_unknown_format() -> None:
    with pytest.raises(ValueError, match="unknown audio format"):
        encode_audio(_sine(24000), 24000, "ogg")  # type: ignore[arg-type]


@pytest.mark.parametrize("rate", [0, -24000])
def test_rejects_non_positive_rate(rate: int) -> None:
    with pytest.raises(ValueError, match="sample_rate"):
        encode_audio(_sine(24000), rate, "wav")
