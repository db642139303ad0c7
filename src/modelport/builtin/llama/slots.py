"""The scheduler's sequences: what each llama.cpp sequence holds, and which free one suits a new prompt."""

from __future__ import annotations

import codecs
from dataclasses import dataclass, field

from modelport.builtin.llama.generation import Generation
from modelport.builtin.llama.sampling import StopMatcher
from modelport.builtin.llama.speculation import Acceptance, PromptLookup


@dataclass
class Slot:
    """One llama.cpp sequence: the tokens in its cache, the ones to feed next, and the request it serves."""

    seq_id: int
    cached: list[int] = field(default_factory=list)
    pending: list[int] = field(default_factory=list)
    generation: Generation | None = None
    # True until the request's whole prompt is in the cache.
    prefilling: bool = False
    decoder: codecs.IncrementalDecoder | None = None
    stops: StopMatcher | None = None
    completion_tokens: int = 0
    # The prompt tokens of the request the slot last served (the start of `cached`); 0 when unknown.
    prompt_tokens: int = 0
    last_used: int = 0
    # Prompt-lookup speculation: the request's text so far, and how well its drafts have done; None when
    # the engine does not speculate.
    lookup: PromptLookup | None = None
    acceptance: Acceptance = field(default_factory=Acceptance)


# What a token of another request's cache that a new prompt overwrites counts for, against a token of the
# prompt read now: it is read again only if its conversation comes back (its next turn, or the same prompt
# sent again), which is likely but not sure.
OVERWRITE_COST = 0.5


def preference(slot: Slot, *, prompt: list[int], busy: set[int]) -> tuple[float, bool, int]:
    """How well a free slot suits a prompt: first what its cache saves, the tokens of the prompt's start it
    holds less what the prompt would overwrite of another conversation (`OVERWRITE_COST`), when that is
    positive; then a slot next to a busy one, since llama.cpp decodes only consecutive sequence ids in one
    ubatch and scattered slots would split a step into several; then the least recently used.

    A prompt that starts with the whole prompt of the slot's last request continues its conversation (its
    next turn, or the same prompt sent again) and overwrites nothing of another. A new conversation that
    shares only a system prompt with a slot's cached one takes another slot rather than overwrite it
    (reading the few tokens of the shared start again), so that conversation still finds its tokens."""
    prefix = common_prefix(slot.cached, prompt)
    continues = 0 < slot.prompt_tokens <= prefix
    overwritten = 0 if continues else len(slot.cached) - prefix
    saved = prefix - OVERWRITE_COST * overwritten
    return max(saved, 0.0), bool({slot.seq_id - 1, slot.seq_id + 1} & busy), -slot.last_used


def common_prefix(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i
