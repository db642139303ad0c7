"""AudioStreamEncoder: pieces encoded one at a time concatenate to a complete, decodable file."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from modelport.audio import AUDIO_FORMATS, AudioStreamEncoder, decode_audio, encode_audio


def _tone(seconds: float, rate: int, channels: int = 1) -> np.ndarray:
    t = np.arange(round(seconds * rate), dtype=np.float32) / rate
    mono = (0.4 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)
    return mono if channels == 1 else np.stack([mono] * channels, axis=1)


def _stream(rate: int, fmt: str, pieces: list[np.ndarray]) -> tuple[list[bytes], bytes]:
    encoder = AudioStreamEncoder(rate, fmt)  # type: ignore[arg-type]
    parts = [encoder.encode(piece) for piece in pieces]
    parts.append(encoder.close())
    return parts, b"".join(parts)


@pytest.mark.parametrize("fmt", AUDIO_FORMATS)
@pytest.mark.parametrize("rate", [22_050, 24_000])
def test_pieces_make_one_file(fmt: str, rate: int) -> None:
    _, data = _stream(rate, fmt, [_tone(0.5, rate)] * 3)
    if fmt == "pcm":
        seconds = len(data) / 2 / 24_000
        assert seconds == pytest.approx(1.5, abs=0.002)
    else:
        # Streamed mp3 and aac keep their encoder padding: there is no header to say how much to trim.
        seconds = len(decode_audio(data, 16_000)) / 16_000
        assert seconds == pytest.approx(1.5, abs=0.1)


@pytest.mark.parametrize("fmt", ["mp3", "wav", "pcm", "flac", "aac"])
def test_bytes_come_before_the_end(fmt: str) -> None:
    parts, _ = _stream(24_000, fmt, [_tone(0.5, 24_000)] * 3)
    assert all(parts[:3]), [len(p) for p in parts]


def test_opus_pages_are_not_held_back() -> None:
    parts, _ = _stream(24_000, "opus", [_tone(0.5, 24_000)] * 3)
    assert sum(len(p) for p in parts[:2]) > 1000


def test_wav_header_says_unknown_size() -> None:
    _, data = _stream(24_000, "wav", [_tone(0.1, 24_000, channels=2)])
    assert data[:4] == b"RIFF"
    assert struct.unpack("<I", data[4:8])[0] == 0xFFFFFFFF
    assert data[8:16] == b"WAVEfmt "
    channels, rate = struct.unpack("<HI", data[22:28])
    assert (channels, rate) == (2, 24_000)
    assert data[36:40] == b"data"
    assert len(data) == 44 + 2 * 2 * 2400


def test_pcm_matches_the_whole_file_encoder_at_24_khz() -> None:
    pieces = [_tone(0.2, 24_000), _tone(0.3, 24_000)]
    _, data = _stream(24_000, "pcm", pieces)
    assert data == encode_audio(np.concatenate(pieces), 24_000, "pcm")


def test_empty_piece_is_refused() -> None:
    # The speech service leaves empty pieces out before they reach the encoder.
    with pytest.raises(ValueError, match="must not be empty"):
        AudioStreamEncoder(24_000, "wav").encode(np.zeros(0, np.float32))


def test_channels_must_not_change() -> None:
    encoder = AudioStreamEncoder(24_000, "flac")
    encoder.encode(_tone(0.1, 24_000))
    with pytest.raises(ValueError, match="channels"):
        encoder.encode(_tone(0.1, 24_000, channels=2))


def test_close_before_encode() -> None:
    with pytest.raises(ValueError, match="nothing was encoded"):
        AudioStreamEncoder(24_000, "mp3").close()


@pytest.mark.parametrize(("rate", "fmt"), [(0, "wav"), (24_000, "ogg")])
def test_bad_arguments(rate: int, fmt: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        AudioStreamEncoder(rate, fmt)  # type: ignore[arg-type]


def test_too_many_channels_for_mp3() -> None:
    with pytest.raises(ValueError, match="at most 2 channels"):
        AudioStreamEncoder(24_000, "mp3").encode(_tone(0.1, 24_000, channels=3))
