"""A `Transcript` written in each of OpenAI's transcription `response_format`s."""

from __future__ import annotations

import math

from openai.types.audio import (
    Transcription,
    TranscriptionSegment,
    TranscriptionVerbose,
    TranscriptionWord,
    Translation,
    TranslationVerbose,
)
from pydantic import BaseModel

from modelport.protocol.audio import TranscriptionFormat
from modelport.transcript import Segment, Transcript


def segments_of(transcript: Transcript) -> tuple[Segment, ...]:
    """The transcript's segments; one spanning the whole audio when the model gave none."""
    if transcript.segments:
        return transcript.segments
    return (Segment(text=transcript.text, start=0.0, end=transcript.duration or 0.0),)


def _timestamp(seconds: float, separator: str) -> str:
    milliseconds = max(0, round(seconds * 1000))
    hours, milliseconds = divmod(milliseconds, 3_600_000)
    minutes, milliseconds = divmod(milliseconds, 60_000)
    whole, milliseconds = divmod(milliseconds, 1000)
    return f"{hours:02d}:{minutes:02d}:{whole:02d}{separator}{milliseconds:03d}"


def to_srt(transcript: Transcript) -> str:
    """SubRip: numbered cues, `HH:MM:SS,mmm --> HH:MM:SS,mmm`, a blank line after each."""
    cues = [
        f"{number}\n{_timestamp(s.start, ',')} --> {_timestamp(s.end, ',')}\n{s.text.strip()}\n"
        for number, s in enumerate(segments_of(transcript), start=1)
    ]
    return "\n".join(cues)


def to_vtt(transcript: Transcript) -> str:
    """WebVTT: a `WEBVTT` header, then cues `HH:MM:SS.mmm --> HH:MM:SS.mmm`."""
    cues = [
        f"{_timestamp(s.start, '.')} --> {_timestamp(s.end, '.')}\n{s.text.strip()}\n" for s in segments_of(transcript)
    ]
    return "WEBVTT\n\n" + "\n".join(cues)


def _verbose_segments(transcript: Transcript) -> list[TranscriptionSegment]:
    return [
        TranscriptionSegment(
            id=index,
            seek=s.seek,
            start=s.start,
            end=s.end,
            text=s.text,
            tokens=list(s.tokens),
            temperature=s.temperature,
            avg_logprob=s.avg_logprob,
            compression_ratio=s.compression_ratio,
            no_speech_prob=s.no_speech_prob,
        )
        for index, s in enumerate(segments_of(transcript))
    ]


def _usage(transcript: Transcript) -> dict[str, object]:
    # OpenAI bills whisper by the second, rounded up, and reports it so.
    return {"type": "duration", "seconds": math.ceil(transcript.duration or 0.0)}


def render(
    transcript: Transcript,
    response_format: TranscriptionFormat,
    *,
    words: bool,
    translation: bool,
    segments: bool = True,
) -> BaseModel | str:
    """The response body: a pydantic model for json and verbose_json, text for text, srt and vtt.

    In verbose_json, `words` adds the words and `segments` the segments: OpenAI leaves the segments out when
    only word timestamps are asked for.
    """
    if response_format == "text":
        return transcript.text
    if response_format == "srt":
        return to_srt(transcript)
    if response_format == "vtt":
        return to_vtt(transcript)
    if response_format == "json":
        if translation:
            return Translation(text=transcript.text)
        return Transcription.model_validate({"text": transcript.text, "usage": _usage(transcript)})
    language = transcript.language or "unknown"
    duration = transcript.duration or 0.0
    if translation:
        return TranslationVerbose(
            text=transcript.text, language=language, duration=duration, segments=_verbose_segments(transcript)
        )
    body: dict[str, object] = {"text": transcript.text, "language": language, "duration": duration}
    if segments:
        body["segments"] = _verbose_segments(transcript)
    verbose = TranscriptionVerbose.model_validate({**body, "usage": _usage(transcript)})
    if words:
        verbose.words = [TranscriptionWord(word=w.word, start=w.start, end=w.end) for w in transcript.all_words()]
    return verbose
