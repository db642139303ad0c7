"""Transcription and translation: an upload decoded and resampled to the predictor's rate, then transcribed.

Request fields reach the predictor's optional parameters of the same name (`language`, `prompt`,
`temperature`, `vad_filter`); the server also sets `task="translate"` for `/v1/audio/translations` and
`word_timestamps=True` when word timestamps are asked for, for predictors that take those parameters.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Mapping
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.to_thread
import numpy as np
from openai.types.audio import TranscriptionTextDeltaEvent, TranscriptionTextDoneEvent
from pydantic import BaseModel

from modelport.audio import AudioDecodeError, decode_audio
from modelport.errors import InvalidRequestError, PredictorError
from modelport.predictor import TranscriptionSignature
from modelport.protocol.audio import TranscriptionForm, TranslationForm
from modelport.runtime import Predictor
from modelport.serving.arguments import optional_arguments
from modelport.serving.checks import check_transcript, check_transcript_update, no_transcript
from modelport.serving.forward import ForwardedEvent, forward_events, forward_json, forwards
from modelport.transcript import Segment, Transcript, Word

_SERVER_FIELDS = {"model", "file", "response_format", "timestamp_granularities", "stream"}


async def _decode(data: bytes, sample_rate: int) -> np.ndarray:
    if not data:
        raise InvalidRequestError("The uploaded file is empty.", param="file", code="empty_file")
    try:
        return await anyio.to_thread.run_sync(decode_audio, data, sample_rate)
    except AudioDecodeError as exc:
        raise InvalidRequestError(str(exc), param="file", code="invalid_audio") from None


def _check_granularities(form: TranslationForm) -> bool:
    """Whether word timestamps are asked for; they need `verbose_json`, as at OpenAI (segment timestamps,
    the default granularity, are accepted with any format)."""
    words = isinstance(form, TranscriptionForm) and "word" in form.timestamp_granularities
    if words and form.response_format != "verbose_json":
        raise InvalidRequestError(
            "timestamp_granularities[] 'word' needs response_format 'verbose_json'.",
            param="timestamp_granularities",
        )
    return words


@dataclass(frozen=True)
class TimeLimit:
    """How long transcribing may take: `floor` seconds plus `per_second` for each second of audio. A model
    is stopped at its next step past the limit (a streaming model steps once per segment)."""

    floor: float = 60.0
    per_second: float = 2.0

    def seconds(self, duration: float) -> float:
        return self.floor + self.per_second * duration


async def _bounded(items: AsyncIterator[Any], seconds: float, model: str, duration: float) -> AsyncIterator[Any]:
    """The items of `items` until `seconds` have passed; then the model is stopped and that is a 500."""
    deadline = anyio.current_time() + seconds
    async with contextlib.aclosing(items) as steps:  # type: ignore[type-var]
        while True:
            try:
                with anyio.fail_after(max(0.0, deadline - anyio.current_time())):
                    item = await anext(steps)
            except StopAsyncIteration:
                return
            except TimeoutError:
                raise PredictorError(
                    f"The model `{model}` took longer than {seconds:.0f} seconds, the limit for {duration:.1f} "
                    "seconds of audio, and was stopped.",
                    code="processing_timeout",
                ) from None
            yield item


async def _transcripts(
    predictor: Predictor, form: TranslationForm, data: bytes, *, translate: bool, limit: TimeLimit
) -> AsyncIterator[Transcript]:
    """The transcript as it grows (just the whole one from a predictor that returns it), duration set."""
    signature = predictor.spec.signature
    assert isinstance(signature, TranscriptionSignature)
    words = _check_granularities(form)
    optional = predictor.spec.optional_params()
    if translate and "task" not in optional:
        raise InvalidRequestError(
            f"The model `{form.model}` does not translate; use /v1/audio/transcriptions.",
            param="model",
            code="model_not_supported",
        )
    audio = await _decode(data, signature.sample_rate)
    values = form.model_dump(exclude_unset=True, exclude={"timestamp_granularities"})
    if translate:
        values["task"] = "translate"
    if words:
        values["word_timestamps"] = True
    arguments = optional_arguments(predictor.spec, values, skip=_SERVER_FIELDS | {signature.audio})
    arguments[signature.audio] = audio
    duration = audio.shape[0] / signature.sample_rate
    seconds = limit.seconds(duration)
    if not signature.streams:
        result = await anext(_bounded(_once(predictor.call(**arguments)), seconds, predictor.name, duration))
        yield _with_duration(check_transcript(predictor.name, result), duration)
        return
    produced = False
    async for value in _bounded(predictor.stream(**arguments), seconds, predictor.name, duration):
        produced = True
        yield _with_duration(check_transcript_update(predictor.name, value), duration)
    if not produced:
        raise no_transcript(predictor.name)


async def _once(result: Awaitable[Any]) -> AsyncIterator[Any]:
    yield await result


def _with_duration(transcript: Transcript, duration: float) -> Transcript:
    if transcript.duration is not None:
        return transcript
    return dataclasses.replace(transcript, duration=duration)


async def transcribe(
    predictor: Predictor,
    form: TranslationForm,
    data: bytes,
    *,
    translate: bool = False,
    limit: TimeLimit = TimeLimit(),
    filename: str | None = None,
) -> Transcript:
    """The transcript of the uploaded audio (in English when `translate`), its duration always set (unless a
    forwarding predictor's server leaves it out). `filename` tells a forwarded upload's format."""
    if forwards(predictor):
        return await _forwarded(predictor, form, data, translate=translate, filename=filename)
    last: Transcript | None = None
    async for transcript in _transcripts(predictor, form, data, translate=translate, limit=limit):
        last = transcript
    assert last is not None
    return last


def _delta(before: Transcript | None, after: Transcript) -> str:
    """The text `after` adds to `before`: the new tail of the text, or the text of the new segments."""
    if before is None:
        return after.text
    if after.text.startswith(before.text):
        return after.text[len(before.text) :]
    return "".join(segment.text for segment in after.segments[len(before.segments) :])


def _forwarded_fields(form: TranslationForm) -> dict[str, Any]:
    # The form model also holds the upload (as an unknown field); it is sent as the file, not as a field.
    return {key: value for key, value in form.model_dump(by_alias=True, exclude_unset=True).items() if key != "file"}


async def _forwarded(
    predictor: Predictor, form: TranslationForm, data: bytes, *, translate: bool, filename: str | None
) -> Transcript:
    fields = _forwarded_fields(form)
    # Segments are needed to render srt, vtt and verbose_json here; plain text needs only text.
    wanted = form.response_format
    fields["response_format"] = "verbose_json" if wanted in ("srt", "vtt", "verbose_json") else wanted
    endpoint = "audio/translations" if translate else "audio/transcriptions"
    answer = await forward_json(predictor, endpoint, fields, file=(filename or "audio", data))
    return transcript_from(answer)


def transcript_from(answer: Mapping[str, Any]) -> Transcript:
    """A `Transcript` from OpenAI's json or verbose_json transcription body."""

    def words(items: Any) -> tuple[Word, ...]:
        return tuple(
            Word(word=str(w.get("word", "")), start=float(w.get("start", 0)), end=float(w.get("end", 0)))
            for w in items or ()
            if isinstance(w, dict)
        )

    def number(item: Mapping[str, Any], key: str) -> float:
        value = item.get(key)
        return float(value) if isinstance(value, int | float) else 0.0

    segments = tuple(
        Segment(
            text=str(item.get("text", "")),
            start=number(item, "start"),
            end=number(item, "end"),
            id=int(number(item, "id")),
            seek=int(number(item, "seek")),
            tokens=tuple(item.get("tokens") or ()),
            temperature=number(item, "temperature"),
            avg_logprob=number(item, "avg_logprob"),
            compression_ratio=number(item, "compression_ratio"),
            no_speech_prob=number(item, "no_speech_prob"),
            words=words(item.get("words")),
        )
        for item in answer.get("segments") or ()
        if isinstance(item, dict)
    )
    duration = answer.get("duration")
    return Transcript(
        text=str(answer.get("text", "")),
        language=answer.get("language") if isinstance(answer.get("language"), str) else None,
        duration=float(duration) if isinstance(duration, int | float) else None,
        segments=segments,
        words=words(answer.get("words")),
    )


async def transcript_events(
    predictor: Predictor,
    form: TranslationForm,
    data: bytes,
    filename: str | None = None,
    *,
    limit: TimeLimit = TimeLimit(),
) -> AsyncIterator[BaseModel]:
    """`transcript.text.delta` as the transcript grows, then `transcript.text.done` with the whole text.

    A predictor that returns its transcript at once gets one delta per segment, all after it finished; a
    forwarding one relays its server's events.
    """
    if forwards(predictor):
        fields = {**_forwarded_fields(form), "stream": True}
        async for event in forward_events(predictor, "audio/transcriptions", fields, file=(filename or "audio", data)):
            yield ForwardedEvent(**event)
        return
    last: Transcript | None = None
    async for transcript in _transcripts(predictor, form, data, translate=False, limit=limit):
        deltas = [_delta(last, transcript)]
        if last is None and len(transcript.segments) > 1 and not _streams(predictor):
            deltas = [segment.text for segment in transcript.segments]
        for delta in deltas:
            if delta:
                yield TranscriptionTextDeltaEvent(type="transcript.text.delta", delta=delta)
        last = transcript
    assert last is not None
    yield TranscriptionTextDoneEvent(type="transcript.text.done", text=last.text)


def _streams(predictor: Predictor) -> bool:
    signature = predictor.spec.signature
    return isinstance(signature, TranscriptionSignature) and signature.streams
