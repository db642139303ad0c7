"""Text to speech with hibari: one small ONNX voice, "heart" (American English, female), 24 kHz."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, Literal

import numpy as np

from modelport.builtin import MissingDependencyError
from modelport.builtin._pieces import FIRST_PIECE_WORDS, nothing_to_speak, speech_pieces
from modelport.config import Settings
from modelport.parameters import Parameter
from modelport.predictor import ModelSpec, build_spec

SAMPLE_RATE = 24_000
_EXTRA = "speech"


class HibariSpeech:
    """hibari behind the speech contract: yields one array per sentence as soon as it is synthesized.

    Only "heart" ships inside the package (hibari downloads its other voices, which modelport never does).
    `seed` fixes hibari's noise component, so the same text gives the same audio. A long first sentence is
    spoken in two pieces (see `speech_pieces`) so that streamed audio starts sooner.
    """

    def __init__(self, seed: int = 0, threads: int = 1, first_piece_words: int = FIRST_PIECE_WORDS) -> None:
        self.seed = seed
        self.threads = threads
        self.first_piece_words = first_piece_words
        self._tts: Any = None

    def load(self) -> None:
        from hibari import Hibari

        self._tts = Hibari(voice="heart", threads=self.threads)

    def unload(self) -> None:
        self._tts = None

    def __call__(
        self,
        text: str,
        voice: Annotated[Literal["heart"], Parameter.AudioVoice(description="American English, female")],
        speed: Annotated[float, Parameter.AudioSpeed(min=0.25, max=4.0)] = 1.0,
    ) -> Iterator[Annotated[np.ndarray, Parameter.Audio(sample_rate=SAMPLE_RATE)]]:
        """Speak `text`, a sentence at a time."""
        if self._tts is None:
            raise RuntimeError("the model is not loaded")
        spoken = False
        for piece in speech_pieces(text, self.first_piece_words):
            for samples in self._tts.stream(piece, speed=speed, seed=self.seed):
                array = np.asarray(samples, dtype=np.float32)
                spoken = spoken or array.size > 0
                yield array
        if not spoken:
            raise nothing_to_speak("hibari", "American English")


def models(settings: Settings) -> list[ModelSpec]:
    """hibari, also served as `tts-1`."""
    try:
        import hibari  # noqa: F401
    except ImportError as exc:
        raise MissingDependencyError(f"hibari speech ({exc.name})", _EXTRA) from exc
    return [
        build_spec(
            HibariSpeech(),
            name="hibari",
            aliases=["tts-1"],
            description="hibari text to speech (Apache-2.0): voice heart, 24 kHz.",
        )
    ]
