"""The voices of each speech model, as `GET /v1/audio/voices` lists them.

A model served here has the voices its signature lists, and the OpenAI voice names the voice map points at
them. An upstream server's speech model has its voices asked of that server (`GET audio/voices?model=ID`),
read in modelport's shape or in the `{"voices": [...]}` shape other speech servers answer. Asking takes a
hold on the model, as a request does, so an upstream model loads (opens its connection) to be asked. When
the upstream cannot say (no such endpoint, another shape, down or slower than `UPSTREAM_VOICES_TIMEOUT`),
the model is listed with OpenAI's voice names, which OpenAI-compatible speech servers take.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import anyio

from modelport.errors import ModelportError
from modelport.predictor import SpeechSignature, Task
from modelport.protocol.audio import SpeechModelVoices
from modelport.runtime import Predictor, Registry
from modelport.serving.forward import forward_get
from modelport.serving.speech import VoiceMap, voice_aliases

logger = logging.getLogger(__name__)

# OpenAI's voices for its speech models: what an upstream that cannot list its own is listed with.
OPENAI_VOICES = ("alloy", "ash", "ballad", "coral", "echo", "fable", "nova", "onyx", "sage", "shimmer", "verse")
# Seconds to wait for an upstream's voices (its model's load included) before listing the default.
UPSTREAM_VOICES_TIMEOUT = 5.0


async def voice_lists(registry: Registry, voice_map: VoiceMap, model: str | None = None) -> list[SpeechModelVoices]:
    """Each speech model's voices (only those of the model named `model`, when given), in the registry's order."""
    speech = [
        predictor
        for predictor in registry
        if predictor.spec.task is Task.SPEECH and (model is None or model in predictor.spec.names)
    ]
    # The upstreams are asked together: one slow server delays the answer by its timeout, not by a sum.
    return list(await asyncio.gather(*(_voices(registry, predictor, voice_map) for predictor in speech)))


async def _voices(registry: Registry, predictor: Predictor, voice_map: VoiceMap) -> SpeechModelVoices:
    signature = predictor.spec.signature
    if isinstance(signature, SpeechSignature):
        aliases = voice_aliases(signature, voice_map)
        return SpeechModelVoices(model=predictor.name, voices=list(signature.voices), aliases=aliases)
    found = await _ask_upstream(registry, predictor.name) if predictor.spec.forwards else None
    voices, aliases = found or (list(OPENAI_VOICES), {})
    return SpeechModelVoices(model=predictor.name, voices=voices, aliases=aliases)


async def _ask_upstream(registry: Registry, name: str) -> tuple[list[str], dict[str, str]] | None:
    try:
        with anyio.fail_after(UPSTREAM_VOICES_TIMEOUT):
            lease = await registry.acquire(name)
            try:
                served = lease.predictor
                answer = await forward_get(served, "audio/voices", {"model": name})
                return voices_in(answer, served.attribute("upstream_id"))
            finally:
                lease.release()
    except (ModelportError, TimeoutError) as exc:
        reason = exc.message if isinstance(exc, ModelportError) else "no answer in time"
        logger.info("the voices of %s are OpenAI's: its upstream did not list them (%s)", name, reason)
        return None


def voices_in(answer: dict[str, Any], upstream_id: Any) -> tuple[list[str], dict[str, str]] | None:
    """The voices and voice aliases of the model `upstream_id` in an upstream's voices answer, or None.

    modelport's `{"data": [{"model", "voices", "aliases"}]}` (the model's entry, or the only one), or
    `{"voices": [...]}` of names or of objects with an `id`, `voice_id` or `name`.
    """
    data = answer.get("data")
    if isinstance(data, list):
        entries = [entry for entry in data if isinstance(entry, dict)]
        mine = [entry for entry in entries if entry.get("model") == upstream_id]
        entry = mine[0] if mine else (entries[0] if len(entries) == 1 else None)
        if entry is None:
            return None
        raw = entry.get("aliases")
        aliases = raw if isinstance(raw, dict) else {}
        voices = _names(entry.get("voices"))
        kept = {alias: voice for alias, voice in aliases.items() if isinstance(alias, str) and isinstance(voice, str)}
        return (voices, kept) if voices else None
    voices = _names(answer.get("voices"))
    return (voices, {}) if voices else None


def _names(value: Any) -> list[str]:
    names = []
    for item in value if isinstance(value, list) else ():
        if isinstance(item, dict):
            item = next((item[key] for key in ("id", "voice_id", "name") if isinstance(item.get(key), str)), None)
        if isinstance(item, str) and item:
            names.append(item)
    return names
