"""What a scheduler step feeds llama.cpp: generating sequences with their drafts, prompts in chunks
(modelport.builtin.llama.batching)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from modelport.builtin.llama.batching import plan_step
from modelport.builtin.llama.generation import Generation
from modelport.builtin.llama.sampling import SamplingParams
from modelport.builtin.llama.slots import Slot

N_BATCH = 512
CHUNK = 64


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
    feeds = plan_step(slots, {1: [4, 5, 6]}, N_BATCH, CHUNK)
    assert [(f.tokens, f.start, f.drafts, f.outputs, f.index) for f in feeds] == [
        ([7], 10, 0, 1, 0),
        ([8, 4, 5, 6], 20, 3, 4, 1),
    ]


def test_a_long_prompt_is_read_in_chunks_while_others_generate(loop: asyncio.AbstractEventLoop) -> None:
    long = prompting(2, 3000, loop)
    slots = [generating(0, 7, 10, loop), generating(1, 8, 20, loop), long]
    steps = 0
    while long.prefilling:
        feeds = plan_step(slots, {}, N_BATCH, CHUNK)
        # Every step decodes the others' next tokens beside one chunk of the prompt.
        assert [len(f.tokens) for f in feeds] == [1, 1, min(CHUNK, len(long.pending))]
        (chunk,) = (f for f in feeds if f.slot is long)
        assert chunk.start == len(long.cached)
        assert chunk.outputs == (1 if len(chunk.tokens) == len(long.pending) else 0)
        long.cached += chunk.tokens
        long.pending = long.pending[len(chunk.tokens) :]
        long.prefilling = bool(long.pending)
        steps += 1
    assert steps == -(-3000 // CHUNK)
    assert long.cached == list(range(3000))


def test_alone_a_prompt_fills_the_whole_batch(loop: asyncio.AbstractEventLoop) -> None:
    (feed,) = plan_step([prompting(0, 3000, loop)], {}, N_BATCH, CHUNK)
    assert len(feed.tokens) == N_BATCH
    assert feed.outputs == 0


def test_short_prompts_first_and_the_batch_in_sequence_order(loop: asyncio.AbstractEventLoop) -> None:
    slots = [prompting(0, 500, loop), prompting(1, 30, loop), prompting(2, 40, loop)]
    feeds = plan_step(slots, {}, N_BATCH, CHUNK)
    assert [(f.slot.seq_id, len(f.tokens), f.outputs) for f in feeds] == [(0, 442, 0), (1, 30, 1), (2, 40, 1)]
    assert [f.index for f in feeds] == [0, 442, 472]
