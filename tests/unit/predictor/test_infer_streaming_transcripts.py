"""Transcription functions that yield their transcript as it grows."""

from collections.abc import AsyncIterator, Iterator
from typing import Annotated

import numpy as np
import pytest

from modelport import Parameter, SignatureError, Transcript
from modelport.predictor import TranscriptionSignature, build_spec

Audio16k = Annotated[np.ndarray, Parameter.Audio(sample_rate=16_000)]


def test_iterator_of_transcripts_streams() -> None:
    def transcribe(audio: Audio16k) -> Iterator[Transcript]:
        yield Transcript(text="")

    assert build_spec(transcribe).signature == TranscriptionSignature(audio="audio", sample_rate=16_000, streams=True)


def test_async_iterator_of_transcripts_streams() -> None:
    async def transcribe(audio: Audio16k) -> AsyncIterator[Transcript]:
        yield Transcript(text="")

    spec = build_spec(transcribe)
    assert spec.is_async
    assert isinstance(spec.signature, TranscriptionSignature)
    assert spec.signature.streams


def test_plain_transcript_does_not_stream() -> None:
    def transcribe(audio: Audio16k) -> Transcript:
        return Transcript(text="")

    signature = build_spec(transcribe).signature
    assert isinstance(signature, TranscriptionSignature)
    assert not signature.streams


def test_generator_annotated_async() -> None:
    def transcribe(audio: Audio16k) -> AsyncIterator[Transcript]:  # type: ignore[misc]
        yield Transcript(text="")

    with pytest.raises(SignatureError, match="plain generator"):
        build_spec(transcribe)
