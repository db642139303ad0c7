"""What a scheduler step feeds llama.cpp: generating sequences with their drafts, prompts in chunks sized
by what the step costs (modelport.builtin.llama.batching)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from modelport.builtin.llama.batching import (
    ATTENTION_PARTS_PER_THREAD,
    PREFILL_OVERHEAD,
    Feed,
    PromptChunks,
    PromptCost,
    attention_unit,
    plan_step,
    shared_tokens,
)
from modelport.builtin.llama.generation import Generation
from modelport.builtin.llama.sampling import SamplingParams
from modelport.builtin.llama.slots import Slot
from modelport.builtin.llama.speculation import ATTENTION_TILE, StepCost

N_BATCH = 512
# 4 ms a prompt token, 20% more at 2,000 cached tokens; a decode step of 20 ms and 15 ms a token. Two
# generating sequences cost 50 ms a step, so a step carries 1 s of prompt: 4 tiles at first.
PROMPT = PromptCost(per_token=0.004, growth=1e-4)
# Rounding to whole tiles makes a chunk's seconds off by at most this many tokens' worth.
ROUNDING = ATTENTION_TILE // 2 + 1
CHUNKS = PromptChunks(PROMPT, StepCost(per_step=0.020, per_token=0.015))


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def generating(seq_id: int, last: int, cached: int, loop: asyncio.AbstractEventLoop) -> Slot:
    slot = Slot(seq_id, cached=list(range(cached)), pending=[last])
    slot.generation = Generation([1], SamplingParams(), loop)
    return slot


def prompting(seq_id: int, length: int, loop: asyncio.AbstractEventLoop) -> Slot:
    slot = Slot(seq_id, pending=list(range(length)), prefilling=True)
    slot.generation = Generation([1], SamplingParams(), loop)
    return slot


def test_generating_sequences_feed_their_last_token_and_drafts_all_with_logits(loop: asyncio.AbstractEventLoop) -> None:
    slots = [generating(0, 7, 10, loop), generating(1, 8, 20, loop)]
    feeds = plan_step(slots, {1: [4, 5, 6]}, N_BATCH, CHUNKS)
    assert [(f.tokens, f.start, f.drafts, f.outputs, f.index) for f in feeds] == [
        ([7], 10, 0, 1, 0),
        ([8, 4, 5, 6], 20, 3, 4, 1),
    ]


def test_a_long_prompt_is_read_in_whole_attention_tiles_of_about_the_steps_seconds(
    loop: asyncio.AbstractEventLoop,
) -> None:
    long = prompting(2, 3000, loop)
    slots = [generating(0, 7, 10, loop), generating(1, 8, 20, loop), long]
    chunks = []
    while long.prefilling:
        feeds = plan_step(slots, {}, N_BATCH, CHUNKS)
        # Every step decodes the others' next tokens beside one chunk of the prompt.
        assert [len(f.tokens) for f in feeds[:2]] == [1, 1]
        (chunk,) = (f for f in feeds if f.slot is long)
        assert chunk.start == len(long.cached)
        assert chunk.outputs == (1 if len(chunk.tokens) == len(long.pending) else 0)
        chunks.append((chunk.start, len(chunk.tokens)))
        long.cached += chunk.tokens
        long.pending = long.pending[len(chunk.tokens) :]
        long.prefilling = bool(long.pending)
    assert long.cached == list(range(3000))
    # Sequence 2 follows the generating 0 and 1, so llama.cpp decodes one of its tokens in their ubatch and
    # the rest, whole tiles, in its own.
    *whole, (_, last) = chunks
    assert all((size - 1) % ATTENTION_TILE == 0 for _, size in whole)
    assert last <= 4 * ATTENTION_TILE + 1
    # The others' 50 ms are 5% of a step: each chunk is about 1 s of prompt, within half a tile, and
    # further in, where a token attends to more of the cache, chunks are shorter.
    for start, size in whole:
        assert abs(PROMPT.seconds(size, start) - 1.0) <= PROMPT.seconds(ROUNDING, start)
    assert chunks[0][1] == 4 * ATTENTION_TILE + 1
    assert min(size for _, size in whole) < max(size for _, size in whole)
    assert [size for _, size in whole] == sorted((size for _, size in whole), reverse=True)


def test_the_chunk_grows_with_what_the_others_tokens_cost(loop: asyncio.AbstractEventLoop) -> None:
    """More generating sequences, or longer ones, cost more each step, so each step reads more of the prompt
    and their share of its reading stays PREFILL_OVERHEAD."""
    sizes = []
    for others, cached in ((1, 10), (3, 10), (3, 2000)):
        long = prompting(others, 3000, loop)
        slots = [generating(i, 7, cached, loop) for i in range(others)] + [long]
        decode = StepCost(per_step=0.020, per_token=0.015, per_context=2e-6)
        (chunk,) = (f for f in plan_step(slots, {}, N_BATCH, PromptChunks(PROMPT, decode)) if f.slot is long)
        sizes.append(len(chunk.tokens))
        share = (decode.per_step + others * decode.per_token + others * cached * decode.per_context) / PREFILL_OVERHEAD
        assert abs(PROMPT.seconds(len(chunk.tokens), 0) - share) <= PROMPT.seconds(ROUNDING, 0)
    assert sizes == sorted(sizes)
    assert len(set(sizes)) == 3


def test_the_others_part_of_a_step_is_priced_as_speculation_prices_a_step(loop: asyncio.AbstractEventLoop) -> None:
    """The prompt a step carries follows what the generating sequences' part of it costs by the one pricing
    of a step (`StepCost.seconds`): the ubatches llama.cpp splits their tokens in, and drafts verified a
    whole attention tile at once paying the tiled attention, not the row-by-row one."""
    decode = StepCost(per_step=0.020, per_token=0.015, per_context=2e-5, per_context_tiled=4e-6)
    chunks = PromptChunks(PROMPT, decode)

    def feed(seq_id: int, tokens: int) -> Feed:
        return Feed(generating(seq_id, 7, 1000, loop), [7] * tokens, 1000, drafts=tokens - 1, outputs=tokens)

    row, tiled = decode.per_token + 1000 * decode.per_context, decode.per_token + 1000 * decode.per_context_tiled
    # Consecutive ids, a token each: one ubatch.
    assert chunks.step_seconds([feed(0, 1), feed(1, 1)]) == pytest.approx((0.020 + 2 * row) / PREFILL_OVERHEAD)
    # Ids apart: a ubatch each, each reading the weights.
    assert chunks.step_seconds([feed(0, 1), feed(2, 1)]) == pytest.approx((0.040 + 2 * row) / PREFILL_OVERHEAD)
    # A tile of drafts alone in its ubatch attends 64 queries at once.
    tile = chunks.step_seconds([feed(0, ATTENTION_TILE)])
    assert tile == pytest.approx((0.020 + ATTENTION_TILE * tiled) / PREFILL_OVERHEAD)
    assert tile < (0.020 + ATTENTION_TILE * row) / PREFILL_OVERHEAD


def test_a_prompt_gets_at_least_one_tile_and_a_short_one_is_read_whole(loop: asyncio.AbstractEventLoop) -> None:
    cheap = PromptChunks(PROMPT, StepCost(per_step=0.0001, per_token=0.0001))
    long, short = prompting(1, 3000, loop), prompting(1, 60, loop)
    for prompt, expected in ((long, ATTENTION_TILE + 1), (short, 60)):
        feeds = plan_step([generating(0, 7, 10, loop), prompt], {}, N_BATCH, cheap)
        assert len(feeds[1].tokens) == expected


def test_away_from_the_generating_sequences_a_chunk_is_whole_tiles(loop: asyncio.AbstractEventLoop) -> None:
    # Sequence 5 is not next to 0 and 1: llama.cpp decodes all of its chunk in a ubatch of its own.
    slots = [generating(0, 7, 10, loop), generating(1, 8, 20, loop), prompting(5, 3000, loop)]
    feeds = plan_step(slots, {}, N_BATCH, CHUNKS)
    assert len(feeds[2].tokens) == 4 * ATTENTION_TILE


def test_the_tokens_llama_cpp_decodes_beside_the_generating_ones(loop: asyncio.AbstractEventLoop) -> None:
    def feeds(*spec: tuple[int, int]) -> list[Feed]:
        return [Feed(generating(seq_id, 7, 10, loop), [7] * count, 10) for seq_id, count in spec]

    # Each ubatch is the run of consecutive ids from the lowest one with tokens left, with as many tokens
    # from each as the fewest of them has left.
    assert shared_tokens(2, feeds((0, 1), (1, 1))) == 1
    assert shared_tokens(0, feeds((1, 1), (2, 1))) == 1
    assert shared_tokens(2, feeds((0, 3), (1, 4))) == 4
    assert shared_tokens(2, feeds((0, 1), (1, 3), (3, 2))) == 3
    assert shared_tokens(3, feeds((0, 1), (1, 1))) == 0
    assert shared_tokens(3, feeds((0, 1), (4, 1))) == 1
    assert shared_tokens(0, feeds((2, 1))) == 0


def test_the_attention_unit_cuts_no_tile_among_the_threads() -> None:
    def uncut(tokens: int, n_head: int, n_threads: int) -> bool:
        rows = tokens * n_head
        parts = ATTENTION_PARTS_PER_THREAD * n_threads
        return tokens % ATTENTION_TILE == 0 and rows % parts == 0 and (rows // parts) % ATTENTION_TILE == 0

    # The 0.5B model (14 heads) on two threads: a chunk of 256 tokens, 3,584 rows, 8 parts of 448.
    assert attention_unit(14, 2, N_BATCH) == 256
    for n_head in (8, 12, 14, 16, 32):
        for n_threads in (2, 3, 4):
            unit = attention_unit(n_head, n_threads, N_BATCH)
            fewest = next(t for t in range(ATTENTION_TILE, 8192, ATTENTION_TILE) if uncut(t, n_head, n_threads))
            assert unit == (fewest if fewest <= N_BATCH // 2 else ATTENTION_TILE)
    # One thread computes all rows in one part.
    assert attention_unit(14, 1, N_BATCH) == ATTENTION_TILE


def test_chunks_are_whole_units_beside_the_tokens_shared_with_the_others(loop: asyncio.AbstractEventLoop) -> None:
    long = prompting(2, 3000, loop)
    chunks = PromptChunks(PROMPT, CHUNKS.decode, unit=256)
    feeds = plan_step([generating(0, 7, 10, loop), generating(1, 8, 20, loop), long], {}, N_BATCH, chunks)
    # About 1 s of prompt, 250 tokens: one unit and the token in the others' ubatch.
    assert len(feeds[2].tokens) == 257


def test_prompt_cost_reads_back_the_tokens_of_its_seconds() -> None:
    for position in (0, 1000, 3000):
        for tokens in (1, 64, 300):
            assert PROMPT.tokens(PROMPT.seconds(tokens, position), position) == pytest.approx(tokens)
    assert PROMPT.seconds(100, 2000) == pytest.approx(1.2 * PROMPT.seconds(100, 0), rel=0.01)
    assert PROMPT.tokens(0, 0) == 0


def test_alone_a_prompt_fills_the_whole_batch(loop: asyncio.AbstractEventLoop) -> None:
    (feed,) = plan_step([prompting(0, 3000, loop)], {}, N_BATCH, CHUNKS)
    assert len(feed.tokens) == N_BATCH
    assert feed.outputs == 0


def test_short_prompts_first_and_the_batch_in_sequence_order(loop: asyncio.AbstractEventLoop) -> None:
    slots = [prompting(0, 500, loop), prompting(1, 30, loop), prompting(2, 40, loop)]
    feeds = plan_step(slots, {}, N_BATCH, CHUNKS)
    assert [(f.slot.seq_id, len(f.tokens), f.outputs) for f in feeds] == [(0, 442, 0), (1, 30, 1), (2, 40, 1)]
    assert [f.index for f in feeds] == [0, 442, 472]
