"""Audio into chat: `input_audio` parts transcribed (or decoded for a chat function that hears audio itself),
and spoken answers sent back by `audio.id` turned into their transcripts.

Transcripts are cached by the audio's content hash, so a conversation that sends its recordings again with
every turn transcribes each one once.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections import OrderedDict
from typing import Any

import anyio.to_thread

from modelport.audio import AudioDecodeError, decode_audio
from modelport.errors import InvalidRequestError, ModelNotFoundError
from modelport.predictor import Task
from modelport.protocol.audio import TranscriptionForm
from modelport.runtime import Predictor, Registry
from modelport.serving.transcription import transcribe
from modelport.serving.voice_store import AudioStore

DEFAULT_TRANSCRIPTION_MODEL = "whisper-base"


class TranscriptCache:
    """Transcripts by (model, audio content hash), the least recently used dropped past `size`."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[tuple[str, str], str] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple[str, str]) -> str | None:
        text = self._items.get(key)
        if text is None:
            self.misses += 1
            return None
        self.hits += 1
        self._items.move_to_end(key)
        return text

    def put(self, key: tuple[str, str], text: str) -> None:
        if self.size <= 0:
            return
        self._items[key] = text
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)


def _lookup(registry: Registry, name: str) -> Predictor | None:
    try:
        return registry.get(name)
    except ModelNotFoundError:
        return None


def chosen_model(
    registry: Registry, task: Task, field: str, requested: str | None, configured: str | None, default: str
) -> Predictor:
    """The model the request's `field` names, else the configured one, else `default`, else the first model
    of `task` served; a name that is not a `task` model is a 400 naming the field."""
    name = requested or configured
    if name is not None:
        predictor = _lookup(registry, name)
        if predictor is None or not (predictor.spec.task is task or predictor.spec.forwards):
            served = ", ".join(p.name for p in registry if p.spec.task is task) or "none"
            raise InvalidRequestError(
                f"'{field}' names no {task} model served here: `{name}`. {task.capitalize()} models: {served}.",
                param=field,
                code="model_not_found",
            )
        return predictor
    fallback = _lookup(registry, default)
    if fallback is not None and fallback.spec.task is task:
        return fallback
    first = next((p for p in registry if p.spec.task is task), None)
    if first is None:
        raise InvalidRequestError(f"No {task} model is served here; '{field}' cannot be chosen.", param=field)
    return first


def _audio_bytes(part: dict[str, Any], where: str, limit: int) -> tuple[bytes, str]:
    audio = part.get("input_audio") or {}
    try:
        data = base64.b64decode(audio.get("data", ""), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequestError(
            f"{where}: the input_audio data is not valid base64.", param=f"{where}.input_audio.data"
        ) from None
    if not data:
        raise InvalidRequestError(f"{where}: the input_audio data is empty.", param=f"{where}.input_audio.data")
    if len(data) > limit:
        raise InvalidRequestError(
            f"{where}: the input_audio is {len(data)} bytes, over the limit of {limit}.",
            param=f"{where}.input_audio.data",
            code="audio_too_large",
        )
    return data, str(audio.get("format") or "wav")


class AudioInput:
    """Rewrites a conversation's audio into what its chat model takes."""

    def __init__(self, cache: TranscriptCache, store: AudioStore, max_bytes: int) -> None:
        self.cache = cache
        self.store = store
        self.max_bytes = max_bytes

    async def rewrite(
        self, messages: list[dict[str, Any]], transcriber: Predictor | None, sample_rate: int | None
    ) -> None:
        """In place: each `input_audio` part becomes a text part with its transcript (or, with `sample_rate`,
        gains `samples` at that rate and `sample_rate`); an assistant's `audio.id` becomes its transcript."""
        for i, message in enumerate(messages):
            audio = message.get("audio")
            if message.get("role") == "assistant" and isinstance(audio, dict) and "id" in audio:
                transcript = self.store.transcript(str(audio["id"]), f"messages[{i}].audio.id")
                if not message.get("content"):
                    message["content"] = transcript
                del message["audio"]
            content = message.get("content")
            if not isinstance(content, list):
                continue
            for j, part in enumerate(content):
                if isinstance(part, dict) and part.get("type") == "input_audio":
                    where = f"messages[{i}].content[{j}]"
                    content[j] = await self._part(part, where, transcriber, sample_rate)

    async def _part(
        self, part: dict[str, Any], where: str, transcriber: Predictor | None, sample_rate: int | None
    ) -> dict[str, Any]:
        data, audio_format = _audio_bytes(part, where, self.max_bytes)
        if sample_rate is not None:
            try:
                samples = await anyio.to_thread.run_sync(decode_audio, data, sample_rate)
            except AudioDecodeError as exc:
                raise InvalidRequestError(f"{where}: {exc}.", param=f"{where}.input_audio.data") from None
            return {**part, "input_audio": {**part["input_audio"], "samples": samples, "sample_rate": sample_rate}}
        assert transcriber is not None
        key = (transcriber.name, hashlib.sha256(data).hexdigest())
        text = self.cache.get(key)
        if text is None:
            form = TranscriptionForm(model=transcriber.name)
            try:
                text = (await transcribe(transcriber, form, data, filename=f"audio.{audio_format}")).text.strip()
            except InvalidRequestError as exc:
                if exc.param != "file":
                    raise
                raise InvalidRequestError(
                    f"{where}: {exc.message}", param=f"{where}.input_audio.data", code=exc.code
                ) from None
            self.cache.put(key, text)
        return {"type": "text", "text": text}
