"""A transcription model that reports how long the audio is and its strongest pitch.

    modelport serve examples/length_transcriber.py

The server decodes whatever format is uploaded and resamples it to 16 kHz mono before the call.
"""

from __future__ import annotations

from typing import Annotated

import numpy as np

from modelport import Parameter, model

SAMPLE_RATE = 16_000


@model("audio-length")
def transcribe(
    audio: Annotated[np.ndarray, Parameter.Audio(sample_rate=SAMPLE_RATE)],
    language: str | None = None,
    prompt: str | None = None,
) -> str:
    """'<seconds> seconds, peak <hz> Hz', with the prompt in front when one is given."""
    seconds = len(audio) / SAMPLE_RATE
    spectrum = np.abs(np.fft.rfft(audio))
    peak = float(np.fft.rfftfreq(len(audio), 1 / SAMPLE_RATE)[int(np.argmax(spectrum))])
    text = f"{seconds:.2f} seconds, peak {peak:.0f} Hz"
    return f"{prompt} {text}" if prompt else text
