"""What one scheduler step feeds llama.cpp: each sequence's tokens, in one batch.

Sequences that are generating come first, each with its last token and the draft tokens chosen for it (all
of which get logits, so the drafts can be verified). Prompts fill the rest of the batch; while other
sequences generate, a prompt gets a chunk a step (`PromptChunks`), so a long prompt is read over several
steps and the others get a token after each.

A chunk is as long as makes the others' tokens a small, fixed share of the step (`PREFILL_OVERHEAD`): the
others wait one step for each token, and the prompt is read almost as fast as alone. Each step costs the
others' tokens about the same whatever the chunk, so chunks that each take the same time (shorter further
into the prompt, where each token attends to more) wait least for a given share. And a chunk is cut so
that llama.cpp's attention computes it in whole tiles (`attention_unit`): a cut tile costs a whole one,
and at 2,000 cached tokens and more attention is most of a prompt token's cost.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import llama_cpp

from modelport.builtin.llama.slots import Slot
from modelport.builtin.llama.speculation import ATTENTION_TILE, StepCost

# llama.cpp's CPU flash attention computes a sequence's queries in tiles of ATTENTION_TILE when its ubatch
# holds that many of its tokens, and one row at a time when fewer: beside three generating sequences, at
# 2,000 cached tokens, a prompt token costs 19.5 ms in a chunk of 64 (63 in its own ubatch) and 12.0 ms in a
# chunk of 65 (bench/prefill_cost.py).
# And it splits the rows of an attention (a query token for each head) among its threads in this many
# parts per thread; a tile cut by a part's end is computed twice, once in each part.
ATTENTION_PARTS_PER_THREAD = 4
# The share of a prompt's reading that goes to the generating sequences' tokens, about: the chunk is as
# long as makes their part of the step this small.
PREFILL_OVERHEAD = 0.05
# How much more a prompt token costs for each token already cached, as a fraction of its cost at the
# start: read in chunks of 512, 10% to 55% more at 2,400 tokens in runs of bench/prefill_cost.py.
ATTENTION_GROWTH = 1.5e-4


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


@dataclass(frozen=True)
class PromptCost:
    """Seconds a prompt token costs read in whole attention tiles at the start of its sequence's cache,
    and the fraction more for each token cached before it."""

    per_token: float
    growth: float = ATTENTION_GROWTH

    def seconds(self, tokens: int, position: int) -> float:
        """What reading `tokens` prompt tokens from cache position `position` costs."""
        return tokens * self.per_token * (1 + self.growth * (position + tokens / 2))

    def tokens(self, seconds: float, position: int) -> float:
        """How many prompt tokens from `position` cost `seconds` (the inverse of `seconds`)."""
        if seconds <= 0:
            return 0.0
        # seconds = t * per_token * (1 + growth * position) + t^2 * per_token * growth / 2
        a = self.per_token * self.growth / 2
        b = self.per_token * (1 + self.growth * position)
        if a == 0:
            return seconds / b
        return (math.sqrt(b * b + 4 * a * seconds) - b) / (2 * a)


def attention_unit(n_head: int, n_threads: int, n_batch: int) -> int:
    """The fewest prompt tokens whose attention llama.cpp computes in whole tiles: each head's rows whole
    tiles, and each thread's parts too, so that no tile is cut (the 0.5B model's 14 heads on two threads:
    256 tokens, whose 3,584 rows make 8 parts of 448). Just the tile where that is over half the batch."""
    if n_threads <= 1:
        return ATTENTION_TILE
    parts = ATTENTION_PARTS_PER_THREAD * n_threads
    unit = ATTENTION_TILE * parts // math.gcd(n_head, ATTENTION_TILE * parts)
    unit = math.lcm(unit, ATTENTION_TILE)
    return unit if unit <= n_batch // 2 else ATTENTION_TILE


@dataclass(frozen=True)
class PromptChunks:
    """How much of a prompt a step reads while other sequences generate: about as much as costs their
    tokens' part of the step divided by PREFILL_OVERHEAD, in whole attention units."""

    prompt: PromptCost
    decode: StepCost
    overhead: float = PREFILL_OVERHEAD
    # The tokens a chunk's own ubatch holds a multiple of (`attention_unit`).
    unit: int = ATTENTION_TILE
    # The most tokens llama.cpp computes at once (the context's n_ubatch), for pricing the others' part.
    n_ubatch: int = 512

    def step_seconds(self, generating: list[Feed]) -> float:
        """The seconds of prompt a step carries beside the generating sequences' feeds: their part of the
        step, priced as speculation prices a step (`StepCost.seconds`: the ubatches llama.cpp splits them
        in, the drafts with them and the attention path each takes), over the overhead share."""
        fed = {feed.slot.seq_id: len(feed.tokens) for feed in generating}
        contexts = {feed.slot.seq_id: feed.start for feed in generating}
        return self.decode.seconds(fed, self.n_ubatch, contexts) / self.overhead

    def size(self, seconds: float, position: int, pending: int, shared: int, *, first: bool) -> int:
        """Tokens of a prompt at cache `position` with `pending` tokens left to read in about `seconds`:
        all of them if they fit, else whole units (at least one for the step's `first` prompt, so every step
        reads some) and the `shared` tokens llama.cpp puts in the generating sequences' ubatch rather than
        in the prompt's own."""
        affordable = self.prompt.tokens(seconds, position)
        if pending <= max(affordable, self.unit + shared if first else 0):
            return pending
        units = round((affordable - shared) / self.unit)
        if units < 1:
            if not first:
                return 0
            units = 1
        return min(pending, units * self.unit + shared)


def shared_tokens(seq_id: int, generating: list[Feed]) -> int:
    """The tokens of a prompt read in sequence `seq_id` that llama.cpp decodes in ubatches shared with the
    generating sequences rather than in one of its own. With a cache per sequence it splits a batch into
    ubatches of as many tokens from each sequence in them: each takes the run of consecutive sequence ids
    from the lowest one with tokens left, as many tokens from each as the fewest of them has left."""
    left: dict[int, float] = {feed.slot.seq_id: len(feed.tokens) for feed in generating}
    left[seq_id] = math.inf
    shared = 0
    while True:
        ids = sorted(other for other, count in left.items() if count > 0)
        run = [ids[0]]
        for other in ids[1:]:
            if other != run[-1] + 1:
                break
            run.append(other)
        if run == [seq_id]:
            return shared
        tokens = min(left[other] for other in run)
        if seq_id in run:
            shared += int(tokens)
        for other in run:
            left[other] -= tokens


def plan_step(
    active: list[Slot], drafts: dict[int, list[int]], n_batch: int, prefill_chunk: PromptChunks
) -> list[Feed]:
    """The step's feeds in sequence-id order (llama.cpp decodes consecutive ids in one ubatch)."""
    feeds: list[Feed] = []
    for slot in active:
        if not slot.prefilling:
            extra = drafts.get(slot.seq_id, [])
            tokens = slot.pending + extra
            feeds.append(Feed(slot, tokens, len(slot.cached), drafts=len(extra), outputs=len(tokens)))
    generating = list(feeds)
    room = n_batch - sum(len(feed.tokens) for feed in feeds)
    # Alone, prompts fill the batch.
    seconds = prefill_chunk.step_seconds(generating) if generating else math.inf
    # The shortest prompts first: they finish in this step and start generating.
    for slot in sorted((s for s in active if s.prefilling), key=lambda s: len(s.pending)):
        if room <= 0:
            break
        position = len(slot.cached)
        size = len(slot.pending)
        if generating:
            shared = shared_tokens(slot.seq_id, generating)
            size = prefill_chunk.size(seconds, position, size, shared, first=len(feeds) == len(generating))
            if size == 0:
                break
        chunk = slot.pending[: min(size, room)]
        last = len(chunk) == len(slot.pending)
        feeds.append(Feed(slot, chunk, position, outputs=1 if last else 0))
        room -= len(chunk)
        seconds -= prefill_chunk.prompt.seconds(len(chunk), position)
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
