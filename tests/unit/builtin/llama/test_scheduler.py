"""The scheduler's bookkeeping on a scripted model (modelport.builtin.llama.engine and .step with llama.cpp's
decode replaced): every request that leaves the queue or a slot gets the item that ends its events, also
when it is cancelled while it waits, while its prompt is read in chunks, or while it generates."""

from __future__ import annotations

import asyncio
import ctypes
import threading
import time
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any, cast

import llama_cpp
import numpy as np
import pytest

from modelport.builtin.llama import step
from modelport.builtin.llama.batching import PromptChunks, PromptCost
from modelport.builtin.llama.engine import Event, Generation, LlamaEngine
from modelport.builtin.llama.sampling import SamplingParams
from modelport.builtin.llama.slots import Slot
from modelport.builtin.llama.speculation import ATTENTION_TILE, StepCost

N_VOCAB = 32
N_BATCH = 128
# The generating sequences' tokens cost little beside a prompt's: a prompt is read a tile a step (and the
# token llama.cpp decodes beside the generating ones).
CHUNKS = PromptChunks(PromptCost(per_token=0.01), StepCost(per_step=0.004, per_token=0.001))
CHUNK = ATTENTION_TILE + 1
# Long enough that nothing here ends at the context's end.
N_CTX = 1 << 20
# Seconds to wait for an answer the scheduler owes: far above a step of the scripted model.
PATIENCE = 10.0


class ScriptedLlama:
    """The few llama.cpp calls a step makes, for a model that writes token 4 + (position % 7) at every
    position (so prompt lookup finds drafts, and some are right): the batch is read as llama.cpp would."""

    def __init__(self) -> None:
        self.rows = np.zeros((N_BATCH, N_VOCAB), dtype=np.float32)
        self.decodes = 0

    def llama_get_memory(self, ctx: object) -> None:
        return None

    def llama_memory_seq_rm(self, memory: object, seq_id: int, p0: int, p1: int) -> bool:
        return True

    def llama_vocab_is_eog(self, vocab: object, token: int) -> bool:
        return False

    def llama_decode(self, ctx: object, batch: llama_cpp.llama_batch) -> int:
        self.decodes += 1
        self.rows[:] = -30.0
        for i in range(batch.n_tokens):
            if batch.logits[i]:
                # llama-cpp-python declares `pos` an array of arrays; it is one position per token.
                self.rows[i, 4 + (cast(int, batch.pos[i]) + 1) % 7] = 0.0
        time.sleep(0.001)  # a step takes a moment, as a real one does
        return 0

    def llama_get_logits_ith(self, ctx: object, index: int) -> Any:
        return self.rows[index].ctypes.data_as(ctypes.POINTER(ctypes.c_float))


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> Iterator[LlamaEngine]:
    """An engine whose scheduler runs the real steps over a scripted model with 3 slots."""
    monkeypatch.setattr(step, "llama_cpp", ScriptedLlama())
    engine = LlamaEngine("scripted.gguf", n_parallel=3, n_ctx_per_sequence=N_CTX, n_batch=N_BATCH)
    batch = llama_cpp.llama_batch_init(N_BATCH, 0, 1)
    engine.model = SimpleNamespace(close=lambda: None)  # type: ignore[assignment]
    engine._slots = [Slot(seq_id=i) for i in range(engine.n_parallel)]
    engine._stepper = step.Stepper(
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        batch,
        n_vocab=N_VOCAB,
        n_batch=N_BATCH,
        n_ctx_per_sequence=N_CTX,
        piece=lambda token: b"abcdefghijklmnopqrstuvwxyz012345"[token : token + 1],
        send=engine._send,
        cost=StepCost(per_step=0.004, per_token=0.001),
        prefill_chunk=CHUNKS,
        stats=engine.stats,
    )
    engine._thread = threading.Thread(target=engine._run, name="llama-scheduler", daemon=True)
    engine._thread.start()
    try:
        yield engine
    finally:
        with engine._lock:
            engine._stopping = True
            engine._lock.notify_all()
        engine._thread.join()
        llama_cpp.llama_batch_free(batch)


GREEDY = SamplingParams(temperature=0)


async def read(
    generation: Generation, seen: list[Event] | None = None, *, cancel_after: int | None = None
) -> list[Event]:
    """The generation's events until they end; cancels it after `cancel_after` of them and reads on."""
    events = [] if seen is None else seen
    async for event in generation.events():
        events.append(event)
        if len(events) == cancel_after:
            generation.cancel()
    return events


async def until(condition: Callable[[], bool]) -> None:
    """Wait for the scheduler thread to bring the condition about."""
    deadline = time.monotonic() + PATIENCE
    while not condition():
        assert time.monotonic() < deadline, "the scheduler never got there"
        await asyncio.sleep(0.005)


async def idle(engine: LlamaEngine) -> None:
    """Every slot free and nothing queued: the scheduler let every request go."""
    await until(lambda: not engine.active_count() and not engine.waiting_count())


@pytest.mark.anyio
async def test_requests_cancelled_while_generating_end_their_events_and_free_their_slots(engine: LlamaEngine) -> None:
    generations = engine.submit_all([1, 2, 3, 4], [GREEDY, GREEDY])
    events = await asyncio.wait_for(asyncio.gather(*(read(g, cancel_after=3) for g in generations)), PATIENCE)
    assert all(len(each) >= 3 and each[-1].finish_reason is None for each in events)
    await idle(engine)


@pytest.mark.anyio
async def test_a_request_cancelled_while_it_waits_for_a_slot_ends_its_events(engine: LlamaEngine) -> None:
    busy = engine.submit_all([1, 2, 3], [GREEDY] * 3)
    await until(lambda: engine.active_count() == 3)
    waiting = engine.submit([1, 2, 3], GREEDY)
    assert engine.waiting_count() == 1
    waiting.cancel()
    assert await asyncio.wait_for(read(waiting), PATIENCE) == []
    for generation in busy:
        generation.cancel()
    await asyncio.wait_for(asyncio.gather(*(read(g) for g in busy)), PATIENCE)
    await idle(engine)


@pytest.mark.anyio
async def test_a_request_cancelled_while_its_prompt_is_read_in_chunks_ends_its_events(engine: LlamaEngine) -> None:
    other = engine.submit([1, 2, 3], SamplingParams(temperature=0, max_tokens=400))
    other_events: list[Event] = []
    reading = asyncio.create_task(read(other, other_events))
    long = engine.submit(list(range(3000)), SamplingParams(max_tokens=1))
    # Some steps in, the prompt is still being read a chunk at a time.
    await until(lambda: len(other_events) >= 5)
    assert any(slot.prefilling for slot in engine._slots)
    long.cancel()
    assert await asyncio.wait_for(read(long), PATIENCE) == []
    # The other request runs on to its end.
    events = await asyncio.wait_for(reading, PATIENCE)
    assert events[-1].finish_reason == "length"
    assert events[-1].completion_tokens == 400
    await idle(engine)


@pytest.mark.anyio
async def test_a_long_prompt_is_answered_between_the_others_steps_and_they_end_when_cancelled(
    engine: LlamaEngine,
) -> None:
    # The real-model test's scenario: two requests generate, a 3,000-token prompt is read in chunks
    # between their steps and answered, then the two are cancelled while their readers still read.
    generations = engine.submit_all([1, 2, 3, 4], [GREEDY, GREEDY])
    seen: list[list[Event]] = [[], []]
    tasks = [asyncio.create_task(read(g, seen[i])) for i, g in enumerate(generations)]
    # The scripted model copies its own period-7 text: once it has, drafts are verified and kept (a step
    # that reads a prompt drafts nothing, so on a busy machine the two might not draft before the long one
    # arrives and not after it either).
    await until(lambda: min(len(each) for each in seen) >= 3 and engine.stats.accepted_tokens > 0)
    decodes = step.llama_cpp.decodes  # type: ignore[attr-defined]
    answer = await asyncio.wait_for(read(engine.submit(list(range(3000)), SamplingParams(max_tokens=1))), PATIENCE)
    assert [event.finish_reason for event in answer] == ["length"]
    # Read a chunk a step: as many steps as chunks, each also a step of the two others.
    assert step.llama_cpp.decodes - decodes >= 3000 // CHUNK  # type: ignore[attr-defined]
    # Once no prompt is read, the others draft again and their drafts are kept.
    accepted = engine.stats.accepted_tokens
    await until(lambda: engine.stats.accepted_tokens > accepted)
    for generation in generations:
        generation.cancel()
    await asyncio.wait_for(asyncio.gather(*tasks), PATIENCE)
    await idle(engine)
