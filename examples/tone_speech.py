"""A speech model that turns text into tones: one short beep per letter, silence between words.

    modelport serve examples/tone_speech.py

Its voices are a StrEnum; `speed` shortens or lengthens every beep.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import numpy as np

from modelport import Parameter, model

SAMPLE_RATE = 24_000
BEEP_SECONDS = 0.08


class Voice(StrEnum):
    LOW = "low"
    MID = "mid"
    HIGH = "high"


BASE_PITCH = {Voice.LOW: 220.0, Voice.MID: 440.0, Voice.HIGH: 880.0}


@model("tones")
def speak(
    text: str,
    voice: Annotated[Voice, Parameter.AudioVoice(description="the pitch register")],
    speed: Annotated[float, Parameter.AudioSpeed(min=0.25, max=4.0)] = 1.0,
) -> Annotated[np.ndarray, Parameter.Audio(sample_rate=SAMPLE_RATE)]:
    """One beep per letter, pitched by the letter and the voice."""
    length = max(1, round(SAMPLE_RATE * BEEP_SECONDS / speed))
    t = np.arange(length, dtype=np.float32) / SAMPLE_RATE
    # A short fade at both ends keeps the beeps free of clicks.
    envelope = np.minimum(1.0, np.minimum(t, t[::-1]) * 200).astype(np.float32)
    pieces = []
    for char in text:
        if char.isalnum():
            pitch = BASE_PITCH[voice] * 2 ** ((ord(char.lower()) % 12) / 12)
            pieces.append(0.5 * envelope * np.sin(2 * np.pi * pitch * t, dtype=np.float32))
        else:
            pieces.append(np.zeros(length, dtype=np.float32))
    return np.concatenate(pieces).astype(np.float32)
