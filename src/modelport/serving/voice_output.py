"""Audio out of chat: each choice's answer spoken by a speech model into one audio file.

Streamed, a choice's text goes out as `delta.audio.transcript` pieces while each complete sentence (the
first clause, for the first piece) is spoken as soon as it is written, so the first audio arrives while
the rest of the answer is generated.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
import numpy as np
from openai.types.chat import ChatCompletion, ChatCompletionAudio, ChatCompletionChunk
from openai.types.chat import chat_completion_chunk as chunk_types

from modelport.audio import PCM_SAMPLE_RATE, AudioFormat, AudioStreamEncoder
from modelport.predictor import SpeechSignature
from modelport.protocol.audio import MAX_SPEECH_INPUT, SpeechRequest
from modelport.runtime import Predictor
from modelport.serving.forward import forward_bytes, forwards
from modelport.serving.speech import VoiceMap, speech_samples
from modelport.serving.voice_store import AudioStore

# Chat's audio formats (OpenAI's names) -> the speech endpoint's.
OUTPUT_FORMATS: dict[str, AudioFormat] = {
    "wav": "wav",
    "mp3": "mp3",
    "flac": "flac",
    "opus": "opus",
    "aac": "aac",
    "pcm16": "pcm",
}

# Where a sentence ends: . ! ? or an ellipsis (and any closing quote or bracket) before a space, or a line break.
_SENTENCE_END = re.compile("(?<=[.!?\u2026])[\"')\\]\u201d\u2019]*\\s+|\\n+")
# Where a clause ends: a comma, semicolon, colon or dash before a space. The first piece of a streamed answer
# may end there, once it has a few words: its audio then starts after a clause, not a whole sentence, and
# the rest is spoken while it plays. Fewer words than that sound clipped.
_CLAUSE_END = re.compile("(?<=[,;:\u2014])\\s+")
_FIRST_PIECE_WORDS = 4
_SILENCE_SECONDS = 0.1


@dataclass(frozen=True)
class AudioOutput:
    """What a request asked to hear: the speech model, its voice and the format."""

    predictor: Predictor
    voice: str
    format: AudioFormat
    voice_map: VoiceMap


def _pieces(text: str) -> list[str]:
    """The text in pieces the speech model takes: sentences, long ones cut at a space under its input limit."""
    pieces: list[str] = []
    for sentence in _SENTENCE_END.split(text):
        sentence = sentence.strip()
        while len(sentence) > MAX_SPEECH_INPUT:
            cut = sentence.rfind(" ", 0, MAX_SPEECH_INPUT)
            cut = cut if cut > 0 else MAX_SPEECH_INPUT
            pieces.append(sentence[:cut])
            sentence = sentence[cut:].strip()
        if sentence:
            pieces.append(sentence)
    return pieces


def ready_to_speak(pending: str, *, first: bool) -> int:
    """How much of a streamed answer's unspoken text can go to the speech model now: up to its last
    complete sentence, or, for the answer's first piece, up to its first clause of a few words."""
    ends = [match.end() for match in _SENTENCE_END.finditer(pending)]
    if ends:
        return ends[-1]
    if first:
        for match in _CLAUSE_END.finditer(pending):
            if len(pending[: match.end()].split()) >= _FIRST_PIECE_WORDS:
                return match.end()
    return 0


class Speaker:
    """Speaks text, a piece at a time, into one file in the asked format."""

    def __init__(self, output: AudioOutput) -> None:
        self.output = output
        signature = output.predictor.spec.signature
        # A forwarding speech model is asked for raw pcm (24 kHz s16le), which is re-encoded here.
        rate = signature.sample_rate if isinstance(signature, SpeechSignature) else PCM_SAMPLE_RATE
        self._encoder = AudioStreamEncoder(rate, output.format)
        self._rate = rate
        self._spoken = False

    async def _samples(self, text: str) -> AsyncIterator[np.ndarray]:
        predictor = self.output.predictor
        request = SpeechRequest(model=predictor.name, input=text, voice=self.output.voice, response_format="pcm")
        if forwards(predictor):
            fields = request.model_dump(exclude_unset=True)
            pcm = b"".join([data async for data in forward_bytes(predictor, "audio/speech", fields)])
            yield np.frombuffer(pcm[: len(pcm) // 2 * 2], "<i2").astype(np.float32) / 32768
            return
        async for samples in speech_samples(predictor, request, self.output.voice_map):
            yield samples

    async def say(self, text: str) -> bytes:
        """The encoded audio of `text` (may be empty while a codec fills a frame)."""
        parts = []
        for piece in _pieces(text):
            async for samples in self._samples(piece):
                if samples.shape[0]:
                    self._spoken = True
                    parts.append(await anyio.to_thread.run_sync(self._encoder.encode, samples))
        return b"".join(parts)

    async def close(self) -> bytes:
        """The last bytes of the file; an answer with nothing to say is a moment of silence."""
        head = b""
        if not self._spoken:
            silence = np.zeros(int(self._rate * _SILENCE_SECONDS), np.float32)
            head = await anyio.to_thread.run_sync(self._encoder.encode, silence)
        return head + await anyio.to_thread.run_sync(self._encoder.close)


async def speak_whole(output: AudioOutput, text: str) -> bytes:
    speaker = Speaker(output)
    return await speaker.say(text) + await speaker.close()


async def with_audio(response: ChatCompletion, output: AudioOutput, store: AudioStore) -> ChatCompletion:
    """Each choice's answer spoken into `message.audio` (content moved to its transcript); a choice that ends
    in tool calls has no audio."""

    async def speak(choice: Any) -> None:
        message = choice.message
        if message.tool_calls:
            return
        text = message.content or ""
        data = await speak_whole(output, text)
        audio_id = store.new_id()
        expires_at = store.keep(audio_id, text)
        message.audio = ChatCompletionAudio(
            id=audio_id, data=base64.b64encode(data).decode("ascii"), expires_at=expires_at, transcript=text
        )
        message.content = None

    await asyncio.gather(*(speak(choice) for choice in response.choices))
    return response


_VOICE_DONE = object()


class _ChoiceVoice:
    """One streamed choice: its transcript so far, the sentences waiting for speech, and the task speaking them."""

    def __init__(self, index: int, output: AudioOutput, store: AudioStore, out: asyncio.Queue[Any]) -> None:
        self.index = index
        self.id = store.new_id()
        self._store = store
        self._out = out
        self._speaker = Speaker(output)
        self._sentences: asyncio.Queue[str | None] = asyncio.Queue()
        self._pending = ""
        self._queued = False  # whether a piece has gone to the speaker yet
        self._transcript: list[str] = []
        self._envelope: ChatCompletionChunk | None = None
        self._finish_chunk: Any = None
        self._id_sent = False
        self.tool_calls = False
        self.finished = False
        self.task = asyncio.create_task(self._speak())

    def chunk(self, envelope: ChatCompletionChunk, delta: chunk_types.ChoiceDelta, finish_reason: Any = None) -> Any:
        self._envelope = envelope
        choice = chunk_types.Choice(index=self.index, delta=delta, finish_reason=finish_reason)
        return envelope.model_copy(update={"choices": [choice]})

    def add_text(self, text: str) -> None:
        self._transcript.append(text)
        self._pending += text
        end = ready_to_speak(self._pending, first=not self._queued)
        if end:
            sentences, self._pending = self._pending[:end].strip(), self._pending[end:]
            if sentences:
                self._queued = True
                self._sentences.put_nowait(sentences)

    def finish(self, finish_chunk: Any) -> None:
        """No more text: speak what is left, then send the last audio delta and the finish chunk."""
        self.finished = True
        self._finish_chunk = finish_chunk
        if self.tool_calls:
            # A turn that ends in tool calls has no audio.
            self.task.cancel()
            if finish_chunk is not None:
                self._out.put_nowait(finish_chunk)
            self._out.put_nowait(_VOICE_DONE)
            return
        if self._pending.strip():
            self._sentences.put_nowait(self._pending.strip())
        self._pending = ""
        self._sentences.put_nowait(None)

    def audio(self, **fields: Any) -> chunk_types.ChoiceDeltaAudio:
        """An audio delta: the first of a choice carries the id, as OpenAI's do."""
        if not self._id_sent:
            self._id_sent = True
            fields["id"] = self.id
        return chunk_types.ChoiceDeltaAudio(**fields)

    def _audio_chunk(self, **fields: Any) -> Any:
        assert self._envelope is not None
        return self.chunk(self._envelope, chunk_types.ChoiceDelta(audio=self.audio(**fields)))

    async def _speak(self) -> None:
        try:
            while (sentence := await self._sentences.get()) is not None:
                data = await self._speaker.say(sentence)
                if data:
                    self._out.put_nowait(self._audio_chunk(data=base64.b64encode(data).decode("ascii")))
            tail = await self._speaker.close()
            if tail:
                self._out.put_nowait(self._audio_chunk(data=base64.b64encode(tail).decode("ascii")))
            # The last audio delta holds only the expiry, as OpenAI's does.
            expires_at = self._store.keep(self.id, "".join(self._transcript))
            self._out.put_nowait(self._audio_chunk(expires_at=expires_at))
            if self._finish_chunk is not None:
                self._out.put_nowait(self._finish_chunk)
            self._out.put_nowait(_VOICE_DONE)
        except Exception as exc:
            self._out.put_nowait(exc)


def _delta_fields(delta: chunk_types.ChoiceDelta) -> dict[str, Any]:
    # The delta's fields but its text, as the source set them.
    return {key: getattr(delta, key) for key in delta.model_fields_set if key != "content"}


async def spoken_chunks(
    source: AsyncIterator[ChatCompletionChunk], output: AudioOutput, store: AudioStore
) -> AsyncIterator[ChatCompletionChunk]:
    """The chat stream with each choice's text as `delta.audio.transcript` and its speech as `delta.audio.data`,
    interleaved as they are made; each choice's last audio delta carries `expires_at`, then its finish reason."""
    out: asyncio.Queue[Any] = asyncio.Queue()
    voices: dict[int, _ChoiceVoice] = {}
    held: list[ChatCompletionChunk] = []
    pump_done = object()

    async def pump() -> None:
        try:
            async with contextlib.aclosing(source) as chunks:  # type: ignore[type-var]
                async for chunk in chunks:
                    if not chunk.choices:
                        held.append(chunk)  # the usage: it stays last
                        continue
                    for choice in chunk.choices:
                        voice = voices.get(choice.index)
                        if voice is None:
                            voice = voices[choice.index] = _ChoiceVoice(choice.index, output, store, out)
                        _route(voice, chunk, choice, out)
        except Exception as exc:
            out.put_nowait(exc)
        finally:
            out.put_nowait(pump_done)

    pumping = asyncio.create_task(pump())
    try:
        pumping_now, done = True, 0
        while pumping_now or done < len(voices):
            item = await out.get()
            if item is pump_done:
                pumping_now = False
                for voice in voices.values():
                    if not voice.finished:
                        voice.finish(None)
            elif item is _VOICE_DONE:
                done += 1
            elif isinstance(item, Exception):
                raise item
            elif item is not None:
                yield item
        for chunk in held:
            yield chunk
    finally:
        pumping.cancel()
        for voice in voices.values():
            voice.task.cancel()


def _route(
    voice: _ChoiceVoice, chunk: ChatCompletionChunk, choice: chunk_types.Choice, out: asyncio.Queue[Any]
) -> None:
    delta = choice.delta
    fields = _delta_fields(delta)
    if delta.tool_calls:
        voice.tool_calls = True
    if delta.content:
        voice.add_text(delta.content)
        fields["audio"] = voice.audio(transcript=delta.content)
    if fields or choice.finish_reason is None:
        out.put_nowait(voice.chunk(chunk, chunk_types.ChoiceDelta(**fields)))
    if choice.finish_reason is not None:
        voice.finish(voice.chunk(chunk, chunk_types.ChoiceDelta(), choice.finish_reason))
