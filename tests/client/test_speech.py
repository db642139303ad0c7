"""Speech-to-text and text-to-speech models against a live modelport, sync and async."""

from __future__ import annotations

import io
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modelport.client import AIFactory, ConfigurationError, SpeechToTextModel, TextToSpeechModel, Transcription

from .conftest import LiveServer


def tone_wav(seconds: float = 0.5, hz: float = 440.0, rate: int = 16_000) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    samples = (0.5 * np.sin(2 * np.pi * hz * t) * 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())
    return buffer.getvalue()


def stt(server: LiveServer, **config: Any) -> SpeechToTextModel:
    return AIFactory.create_speech_to_text(
        "modelport", "audio-length", {"base_url": server.v1, "max_retries": 0, **config}
    )


def tts(server: LiveServer, **config: Any) -> TextToSpeechModel:
    return AIFactory.create_text_to_speech("modelport", "tones", {"base_url": server.v1, "max_retries": 0, **config})


def test_transcribe_a_path(server: LiveServer, tmp_path: Path) -> None:
    path = tmp_path / "tone.wav"
    path.write_bytes(tone_wav())
    with stt(server) as model:
        assert model.transcribe(path) == Transcription(text="0.50 seconds, peak 440 Hz", language=None)
        assert model.transcribe(str(path), language="en").language == "en"


def test_transcribe_an_open_file_with_a_prompt(server: LiveServer, tmp_path: Path) -> None:
    path = tmp_path / "tone.wav"
    path.write_bytes(tone_wav(seconds=0.25))
    with stt(server) as model, path.open("rb") as file:
        assert model.transcribe(file, prompt="heard:").text == "heard: 0.25 seconds, peak 440 Hz"


def test_transcribe_bytes_with_config_defaults(server: LiveServer) -> None:
    with stt(server, prompt="cfg:", language="fr") as model:
        result = model.transcribe(tone_wav())
        assert result == Transcription(text="cfg: 0.50 seconds, peak 440 Hz", language="fr")
        # Arguments win over the config.
        assert model.transcribe(tone_wav(), prompt="arg:").text.startswith("arg: ")


def test_transcribe_a_missing_file(server: LiveServer, tmp_path: Path) -> None:
    with stt(server) as model, pytest.raises(ConfigurationError, match="No audio file at"):
        model.transcribe(tmp_path / "nothing.wav")


@pytest.mark.anyio
async def test_atranscribe(server: LiveServer, tmp_path: Path) -> None:
    path = tmp_path / "tone.wav"
    path.write_bytes(tone_wav())
    async with stt(server) as model:
        result = await model.atranscribe(path, language="de")
    assert result == Transcription(text="0.50 seconds, peak 440 Hz", language="de")


def test_generate_speech(server: LiveServer) -> None:
    with tts(server) as model:
        mp3 = model.generate_speech("hi", "mid")
        wav = model.generate_speech("hi", "mid", format="wav")
    assert mp3[:3] == b"ID3" or mp3[0] == 0xFF
    assert wav[:4] == b"RIFF"


def test_generate_speech_writes_the_file_in_its_format(server: LiveServer, tmp_path: Path) -> None:
    path = tmp_path / "hi.wav"
    with tts(server) as model:
        audio = model.generate_speech("hi", "low", output_file=path)
    assert audio[:4] == b"RIFF"
    assert path.read_bytes() == audio


def test_speed_from_config_and_arguments(server: LiveServer) -> None:
    # 24 kHz 16-bit mono PCM: two letters of 80 ms at speed 1.
    with tts(server, format="pcm", speed=2.0) as model:
        assert len(model.generate_speech("hi", "high")) == 2 * 960 * 2
        assert len(model.generate_speech("hi", "high", speed=1.0)) == 2 * 1920 * 2


def test_speech_round_trip(server: LiveServer) -> None:
    with tts(server) as speaker, stt(server) as listener:
        audio = speaker.generate_speech("hi", "mid", format="flac")
        assert listener.transcribe(audio).text.startswith("0.16 seconds")


@pytest.mark.anyio
async def test_agenerate_speech(server: LiveServer, tmp_path: Path) -> None:
    path = tmp_path / "out.flac"
    async with tts(server) as model:
        audio = await model.agenerate_speech("hi", "mid", output_file=path)
    assert audio[:4] == b"fLaC"
    assert path.read_bytes() == audio


def test_unknown_format_is_refused(server: LiveServer) -> None:
    with tts(server) as model, pytest.raises(ConfigurationError, match="Unknown audio format 'ogg'"):
        model.generate_speech("hi", "mid", format="ogg")
