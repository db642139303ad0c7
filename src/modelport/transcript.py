"""What a transcription function may return besides plain text: the text with its timing.

A transcription function returns `str` or a `Transcript`. With a `Transcript` the server can answer every
`response_format` OpenAI has (json, text, srt, vtt, verbose_json) and word timestamps; with a `str` it
answers json and text, and srt, vtt and verbose_json as one segment spanning the whole audio.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Word:
    """One word and when it is spoken, in seconds from the start of the audio."""

    word: str
    start: float
    end: float


@dataclass(frozen=True)
class Segment:
    """A stretch of speech, with the fields of OpenAI's `verbose_json` segments.

    `start` and `end` are seconds from the start of the audio. The decoder statistics (`tokens`,
    `temperature`, `avg_logprob`, `compression_ratio`, `no_speech_prob`) may keep their defaults when an
    engine has no such notion.
    """

    text: str
    start: float
    end: float
    id: int = 0
    seek: int = 0
    tokens: tuple[int, ...] = ()
    temperature: float = 0.0
    avg_logprob: float = 0.0
    compression_ratio: float = 0.0
    no_speech_prob: float = 0.0
    words: tuple[Word, ...] = ()


@dataclass(frozen=True)
class Transcript:
    """A transcription result: the text, and optionally its language, duration, segments and words.

    `language` is what the model heard (a code such as "en" or a name); `duration` is the length of the
    audio in seconds (the server measures it when it is None). Words may be given per segment or, when the
    engine has no segments, in `words`; `all_words()` gathers both.
    """

    text: str
    language: str | None = None
    duration: float | None = None
    segments: tuple[Segment, ...] = ()
    words: tuple[Word, ...] = field(default=())

    def all_words(self) -> tuple[Word, ...]:
        """Every word, from `words` and then from the segments."""
        return self.words + tuple(word for segment in self.segments for word in segment.words)
