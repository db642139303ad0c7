"""A chat function that hears input audio itself: its conversation is annotated Parameter.Audio."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from modelport import Message, Parameter
from modelport.predictor import ChatSignature, Task, build_spec


def hears(messages: Annotated[list[Message], Parameter.Audio(sample_rate=16_000)]) -> Iterator[str]:
    yield ""


def reads(messages: list[Message]) -> Iterator[str]:
    yield ""


def test_audio_conversation_is_chat_with_its_rate() -> None:
    spec = build_spec(hears)
    assert spec.task is Task.CHAT
    assert isinstance(spec.signature, ChatSignature)
    assert spec.signature.audio_sample_rate == 16_000


def test_plain_conversation_takes_transcripts() -> None:
    signature = build_spec(reads).signature
    assert isinstance(signature, ChatSignature)
    assert signature.audio_sample_rate is None
