"""How the scheduler picks a slot for a new prompt, hands events to event loops, and reports a failed load
(modelport.builtin.llama.engine, modelport.builtin.llama.slots)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from modelport.builtin.llama.engine import Event, Generation, LlamaEngine
from modelport.builtin.llama.sampling import SamplingParams
from modelport.builtin.llama.slots import Slot, common_prefix, preference


def best(slots: list[Slot], prompt: list[int], busy: set[int]) -> int:
    return max(slots, key=lambda slot: preference(slot, prompt=prompt, busy=busy)).seq_id


def testcommon_prefix() -> None:
    assert common_prefix([1, 2, 3], [1, 2, 4]) == 2
    assert common_prefix([], [1]) == 0
    assert common_prefix([1, 2], [1, 2, 3]) == 2


def test_the_longest_cached_prefix_wins() -> None:
    slots = [Slot(0, cached=[9]), Slot(5, cached=[1, 2, 3])]
    assert best(slots, [1, 2, 3, 4], busy={1}) == 5


def test_a_shared_system_prompt_does_not_overwrite_another_conversation() -> None:
    # Slot 0 holds a conversation that starts with the same system prompt: a new one takes the empty slot
    # (reading the system prompt again) rather than overwrite 60 tokens to save 4.
    system, conversation = [1, 2, 3, 4], [5] * 60
    slots = [Slot(0, cached=system + conversation, last_used=3), Slot(1)]
    assert best(slots, [*system, 6, 7, 8], busy=set()) == 1
    # A conversation's next turn, or its prompt sent again, still finds its own cache.
    assert best(slots, [*system, *conversation, 9], busy=set()) == 0
    assert best(slots, system + conversation[:40], busy=set()) == 0


def test_a_prompt_sent_again_finds_its_cache_whatever_its_answer_overwrites() -> None:
    # The answer cached after a short prompt is longer than the prompt, yet it is the same conversation's.
    prompt = [1, 2, 3, 4, 5]
    slots = [Slot(0, cached=[*prompt, *[7] * 128], prompt_tokens=len(prompt), last_used=3), Slot(1)]
    assert best(slots, prompt, busy=set()) == 0
    # Another short prompt that starts the same way is another conversation.
    assert best(slots, [1, 2, 3, 4, 6], busy=set()) == 1


def test_prompts_sent_one_after_another_stay_cached_for_all_of_them_at_once() -> None:
    # As bench/chat.py's code edits: each prompt, sent alone and answered, keeps its own slot, so when all
    # are sent again together each finds its whole prompt cached.
    system = list(range(20))
    prompts = [system + [100 * i + j for j in range(200)] for i in range(1, 5)]
    slots = [Slot(i) for i in range(8)]
    for step, prompt in enumerate(prompts, start=1):
        slot = slots[best(slots, prompt, busy=set())]
        slot.cached, slot.prompt_tokens, slot.last_used = [*prompt, *[7] * 150], len(prompt), step
    busy: set[int] = set()
    for prompt in prompts:
        chosen = best([slot for slot in slots if slot.seq_id not in busy], prompt, busy)
        assert common_prefix(slots[chosen].cached, prompt) == len(prompt)
        busy.add(chosen)
    assert busy == {0, 1, 2, 3}


def test_then_a_slot_next_to_a_busy_one() -> None:
    # Sequences with consecutive ids share a ubatch; a slot beside the busy ones keeps the batch whole.
    slots = [Slot(0), Slot(3), Slot(6)]
    assert best(slots, [1, 2], busy={4, 5}) == 3
    assert best(slots, [1, 2], busy={7}) == 6


def test_then_the_least_recently_used() -> None:
    slots = [Slot(0, last_used=5), Slot(4, last_used=2)]
    assert best(slots, [1], busy=set()) == 4


def test_a_model_that_fails_to_load_raises_from_start(tmp_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"not a gguf file")
    engine = LlamaEngine(str(broken), n_parallel=1, n_ctx_per_sequence=64)
    with pytest.raises(ValueError, match=r"broken\.gguf"):
        engine.start()
    engine.stop()  # stopping an engine that never started is harmless


@pytest.mark.anyio
async def test_a_steps_events_reach_their_generations_in_order() -> None:
    engine = LlamaEngine("unused.gguf")
    loop = asyncio.get_running_loop()
    first, second = (Generation([1], SamplingParams(), loop) for _ in range(2))
    engine._send(first, Event("a"))
    engine._send(second, Event("b", finish_reason="stop"))
    engine._send(first, Event("c", finish_reason="length"))
    # The scheduler thread flushes; the events arrive through the loop.
    await asyncio.to_thread(engine._flush)
    assert [event.text async for event in first.events()] == ["a", "c"]
    assert [event.text async for event in second.events()] == ["b"]


def test_events_for_a_closed_loop_are_dropped() -> None:
    engine = LlamaEngine("unused.gguf")
    loop = asyncio.new_event_loop()
    loop.close()
    engine._send(Generation([1], SamplingParams(), loop), Event("lost"))
    engine._flush()  # does not raise: nobody waits on a closed loop
    assert engine._outbox == []
