"""What one scheduler step feeds llama.cpp: each sequence's tokens, in one batch.

Sequences that are generating come first, each with its last token and the draft tokens chosen for it (all
of which get logits, so the drafts can be verified). Prompts fill the rest of the batch; while other
sequences generate, a prompt gets at most a chunk a step, so a long prompt is read over several steps and
the others keep their pace between them.
"""

from __future__ import annotations

from dataclasses import dataclass

import llama_cpp

from modelport.builtin.llama.slots import Slot


@dataclass
class Feed:
    """One sequence's tokens in a step's batch."""

    slot: Slot
    tokens: list[int]
    # The cache position of the first token, and its index in the batch.
    start: int
    index: int = 0
    # Trailing tokens that are drafts to verify, and trailing tokens whose logits are computed.
    drafts: int = 0
    outputs: int = 0


def plan_step(active: list[Slot], drafts: dict[int, list[int]], n_batch: int, prefill_chunk: int) -> list[Feed]:
    """The step's feeds in sequence-id order (llama.cpp decodes consecutive ids in one ubatch)."""
    feeds: list[Feed] = []
    for slot in active:
        if not slot.prefilling:
            extra = drafts.get(slot.seq_id, [])
            tokens = slot.pending + extra
            feeds.append(Feed(slot, tokens, len(slot.cached), drafts=len(extra), outputs=len(tokens)))
    budget = n_batch - sum(len(feed.tokens) for feed in feeds)
    if feeds:
        budget = min(budget, prefill_chunk)
    # The shortest prompts first: they finish in this step and start generating.
    for slot in sorted((s for s in active if s.prefilling), key=lambda s: len(s.pending)):
        if budget <= 0:
            break
        chunk = slot.pending[:budget]
        last = len(chunk) == len(slot.pending)
        feeds.append(Feed(slot, chunk, len(slot.cached), outputs=1 if last else 0))
        budget -= len(chunk)
    feeds.sort(key=lambda feed: feed.slot.seq_id)
    index = 0
    for feed in feeds:
        feed.index = index
        index += len(feed.tokens)
    return feeds


def fill_batch(batch: llama_cpp.llama_batch, feeds: list[tuple[int, list[int], int, int]]) -> None:
    """Write (sequence id, tokens, first position, trailing tokens with logits) entries into `batch`."""
    n = 0
    for seq_id, tokens, start, outputs in feeds:
        first_output = len(tokens) - outputs
        for offset, token in enumerate(tokens):
            batch.token[n] = token
            # llama-cpp-python declares `pos` an array of arrays; it is one position per token.
            batch.pos[n] = start + offset  # type: ignore[call-overload]
            batch.n_seq_id[n] = 1
            batch.seq_id[n][0] = seq_id
            batch.logits[n] = offset >= first_output
            n += 1
    batch.n_tokens = n
