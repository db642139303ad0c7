"""Small deterministic audio models for the API tests: a streaming speaker and a timed transcriber."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Annotated, Literal

import numpy as np

from modelport import Parameter, Segment, Transcript, Word, model

from . import faulty_models

SPEECH_RATE = 16_000
SENTENCE_SECONDS = 0.25
TRANSCRIBER_RATE = 16_000


@model("tone-stream")
def speak_sentences(
    text: str,
    voice: Annotated[Literal["heart", "other"], Parameter.AudioVoice()],
    speed: Annotated[float, Parameter.AudioSpeed(min=0.25, max=4.0)] = 1.0,
) -> Iterator[Annotated[np.ndarray, Parameter.Audio(sample_rate=SPEECH_RATE)]]:
    """A quarter-second tone per sentence (split at '.'); a sentence 'fail' raises, 'empty' yields nothing."""
    length = round(SPEECH_RATE * SENTENCE_SECONDS / speed)
    t = np.arange(length, dtype=np.float32) / SPEECH_RATE
    for index, sentence in enumerate(s.strip() for s in text.split(".") if s.strip()):
        if sentence == "fail":
            raise RuntimeError("cannot say fail")
        if sentence == "empty":
            yield np.zeros(0, np.float32)
            continue
        yield (0.5 * np.sin(2 * np.pi * (300 + 100 * index) * t)).astype(np.float32)


@model("timed-words")
def transcribe_words(
    audio: Annotated[np.ndarray, Parameter.Audio(sample_rate=TRANSCRIBER_RATE)],
    language: Literal["en", "fr"] | None = None,
    prompt: str | None = None,
    task: Literal["transcribe", "translate"] = "transcribe",
    word_timestamps: bool = False,
    vad_filter: bool = False,
) -> Transcript:
    """One word per started half second ('one', 'two', ...), in segments of two words.

    With `task="translate"` the words are French numbers said in English, with `vad_filter` the words are
    upper case, and the prompt, if any, is the first segment; what it was asked is in `language`.
    """
    names = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]
    seconds = audio.shape[0] / TRANSCRIBER_RATE
    count = min(len(names), max(1, int(np.ceil(seconds / 0.5))))
    words = [
        Word(
            word=(" " + names[i]).upper() if vad_filter else " " + names[i],
            start=0.5 * i,
            end=min(seconds, 0.5 * i + 0.4),
        )
        for i in range(count)
    ]
    segments = []
    for number, first in enumerate(range(0, count, 2)):
        pair = words[first : first + 2]
        segments.append(
            Segment(
                id=number,
                text="".join(w.word for w in pair),
                start=pair[0].start,
                end=pair[-1].end,
                words=tuple(pair) if word_timestamps else (),
            )
        )
    text = "".join(s.text for s in segments).strip()
    if prompt:
        text = f"{prompt} {text}"
    if task == "translate":
        text = f"translated: {text}"
    return Transcript(text=text, language=f"{language or 'en'}", segments=tuple(segments))


@model("growing-words")
def transcribe_as_it_goes(
    audio: Annotated[np.ndarray, Parameter.Audio(sample_rate=TRANSCRIBER_RATE)],
    language: Literal["en"] | None = None,
) -> Iterator[Transcript]:
    """The transcript of `timed-words`, yielded a segment at a time; a start of silence makes it fail midway."""
    whole = transcribe_words(audio)
    if not np.any(audio[:800]):
        yield Transcript(text=whole.segments[0].text.strip(), segments=whole.segments[:1])
        raise RuntimeError("lost the thread")
    for count in range(1, len(whole.segments) + 1):
        found = whole.segments[:count]
        yield Transcript(text="".join(s.text for s in found).strip(), language="en", segments=found)


@model("slow-speech")
def speak_slowly(
    text: str, voice: Annotated[Literal["heart"], Parameter.AudioVoice()]
) -> Iterator[Annotated[np.ndarray, Parameter.Audio(sample_rate=SPEECH_RATE)]]:
    """A tenth of a second of tone every 50 ms for ten seconds; marks `closed(text)` when closed."""
    try:
        for _ in range(200):
            time.sleep(0.05)
            yield np.full(SPEECH_RATE // 10, 0.1, np.float32)
    finally:
        faulty_models.closed(text).set()


@model("slow-words")
def transcribe_slowly(
    audio: Annotated[np.ndarray, Parameter.Audio(sample_rate=TRANSCRIBER_RATE)], prompt: str | None = None
) -> Iterator[Transcript]:
    """A word every 50 ms for ten seconds, whatever the audio; marks `closed(prompt)` when closed."""
    words = ""
    try:
        for _ in range(200):
            time.sleep(0.05)
            words += " word"
            yield Transcript(text=words.strip())
    finally:
        faulty_models.closed(prompt or "").set()
