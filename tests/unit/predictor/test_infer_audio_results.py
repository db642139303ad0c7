"""The contract's audio extensions: speech functions that yield pieces, transcriptions that return a Transcript."""

from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any, Literal

import numpy as np
import pytest

from modelport import Parameter, SignatureError, Task, Transcript
from modelport.predictor import SpeechSignature, TranscriptionSignature, build_spec

Speech = Annotated[np.ndarray, Parameter.Audio(sample_rate=22_050)]
Audio16k = Annotated[np.ndarray, Parameter.Audio(sample_rate=16_000)]
Voice = Annotated[Literal["joe"], Parameter.AudioVoice()]


def test_speech_yielding_arrays_streams() -> None:
    def speak(text: str, voice: Voice) -> Iterator[Speech]:
        yield np.zeros(1, np.float32)

    spec = build_spec(speak)
    assert spec.task is Task.SPEECH
    assert isinstance(spec.signature, SpeechSignature)
    assert spec.signature.streams
    assert spec.signature.sample_rate == 22_050


def test_speech_marker_on_the_iterator() -> None:
    def speak(text: str, voice: Voice) -> Annotated[Iterator[np.ndarray], Parameter.Audio(sample_rate=8000)]:
        yield np.zeros(1, np.float32)

    spec = build_spec(speak, task="speech")
    assert isinstance(spec.signature, SpeechSignature)
    assert spec.signature.streams
    assert spec.signature.sample_rate == 8000


def test_async_speech_generator() -> None:
    async def speak(text: str, voice: Voice) -> AsyncIterator[Speech]:
        yield np.zeros(1, np.float32)

    spec = build_spec(speak)
    assert spec.is_async
    assert isinstance(spec.signature, SpeechSignature)
    assert spec.signature.streams


def test_one_array_does_not_stream() -> None:
    def speak(text: str, voice: Voice) -> Speech:
        return np.zeros(1, np.float32)

    signature = build_spec(speak).signature
    assert isinstance(signature, SpeechSignature)
    assert not signature.streams


def test_async_generator_annotated_as_sync_iterator() -> None:
    async def speak(text: str, voice: Voice) -> Iterator[Speech]:  # type: ignore[misc]
        yield np.zeros(1, np.float32)

    with pytest.raises(SignatureError, match="AsyncIterator"):
        build_spec(speak)


def test_iterator_of_something_else() -> None:
    def speak(text: str, voice: Voice) -> Iterator[str]:
        yield ""

    with pytest.raises(SignatureError, match="or an iterator of such arrays"):
        build_spec(speak, task="speech")


@pytest.mark.parametrize("returns", [Transcript, str | Transcript, Annotated[Transcript, "doc"]])
def test_transcription_may_return_a_transcript(returns: Any) -> None:
    def transcribe(audio: Audio16k) -> Any:
        return Transcript(text="")

    transcribe.__annotations__["return"] = returns
    spec = build_spec(transcribe)
    assert spec.task is Task.TRANSCRIPTION
    assert spec.signature == TranscriptionSignature(audio="audio", sample_rate=16_000)
