"""Speculative decoding and chunked prompts on the real chat model (modelport.builtin.llama): the output is
the one decoding without speculation gives, drafts are really accepted, and a long prompt does not stall
the requests that are generating."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from modelport.builtin.llama import default_model_path, step
from modelport.builtin.llama.engine import Event, Generation, LlamaEngine
from modelport.builtin.llama.sampling import SamplingParams
from modelport.builtin.llama.speculation import ATTENTION_TILE, Acceptance, Offer, PromptLookup

# About 150 tokens given back: long enough for drafts to carry most of the answer, short enough that the
# module runs in seconds. The model (0.5B) gives it back unchanged, whatever the edit asked.
FUNCTION = '''def summarize_orders(orders, include_cancelled=False):
    """Total and average of the orders per customer."""
    totals = {}
    counts = {}
    for order in orders:
        if order.get("status") == "cancelled" and not include_cancelled:
            continue
        customer = order["customer"]
        totals[customer] = totals.get(customer, 0.0) + order["amount"]
        counts[customer] = counts.get(customer, 0) + 1
    report = []
    for customer in sorted(totals):
        total = round(totals[customer], 2)
        report.append({"customer": customer, "total": total, "average": round(total / counts[customer], 2)})
    return report
'''
EDIT = (
    "<|im_start|>user\nRename the variable `report` to `rows_out` in this function. Reply with the whole "
    f"function and nothing else.\n\n```python\n{FUNCTION}```<|im_end|>\n<|im_start|>assistant\n"
)
STORY = "<|im_start|>user\nWrite a long story about a lighthouse keeper.<|im_end|>\n<|im_start|>assistant\n"
# The whole answer, to its end of text.
WHOLE = SamplingParams(temperature=0, max_tokens=300, logprobs=0)


@pytest.fixture(scope="module")
def engine(cache_dir: Path) -> Iterator[LlamaEngine]:
    engine = LlamaEngine(str(default_model_path(cache_dir)), n_parallel=3, n_ctx_per_sequence=4096)
    engine.start()
    yield engine
    engine.stop()


@pytest.fixture(scope="module")
def plain(cache_dir: Path) -> Iterator[LlamaEngine]:
    """The engine as `--no-chat-speculation` runs it: its context has no room for drafts' logits."""
    engine = LlamaEngine(str(default_model_path(cache_dir)), n_parallel=1, n_ctx_per_sequence=4096, speculation=False)
    engine.start()
    yield engine
    engine.stop()


@pytest.fixture(scope="module")
def without_speculation(plain: LlamaEngine) -> Callable[[SamplingParams], Awaitable[list[bytes]]]:
    """The tokens the engine without speculation answers EDIT with, decoded once per sampling."""
    answers: dict[str, list[bytes]] = {}

    async def answer(params: SamplingParams) -> list[bytes]:
        key = repr(params)  # the params hold a dict: not hashable
        if key not in answers:
            answers[key] = await tokens_of(plain, EDIT, params)
        assert plain.stats.draft_tokens == 0
        return answers[key]

    return answer


async def tokens_of(engine: LlamaEngine, prompt: str, params: SamplingParams) -> list[bytes]:
    """The completion's tokens (from their log-probability details)."""
    return (await answer_of(engine, prompt, params))[0]


async def answer_of(engine: LlamaEngine, prompt: str, params: SamplingParams) -> tuple[list[bytes], str]:
    """The completion's tokens (from their log-probability details) and its text."""
    events = [event async for event in engine.submit(engine.tokenize(prompt), params).events()]
    tokens = [bytes(item.bytes) for event in events for item in event.logprobs]
    assert events[-1].completion_tokens == len(tokens) + (events[-1].finish_reason == "stop" and not events[-1].stop)
    return tokens, "".join(event.text for event in events)


@pytest.mark.anyio
async def test_greedy_output_is_token_for_token_the_same_and_drafts_are_accepted(
    engine: LlamaEngine, without_speculation: Callable[[SamplingParams], Awaitable[list[bytes]]]
) -> None:
    # The function given back to its end.
    expected = await without_speculation(WHOLE)
    drafted, accepted = engine.stats.draft_tokens, engine.stats.accepted_tokens
    speculative = await tokens_of(engine, EDIT, WHOLE)
    accepted = engine.stats.accepted_tokens - accepted
    assert speculative == expected
    # The model copies the function: most of its tokens came from drafts it accepted.
    assert accepted >= len(expected) // 2, (accepted, engine.stats.draft_tokens - drafted, len(expected))


@pytest.mark.anyio
async def test_greedy_output_is_the_same_verifying_a_whole_attention_tile_at_once(
    engine: LlamaEngine,
    without_speculation: Callable[[SamplingParams], Awaitable[list[bytes]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Whatever the planner would choose: every step verifies as many drafts as make a tile (llama.cpp then
    # attends to the cache 64 queries at once, another path of its computation than fewer take).
    def tiles(offers: list[Offer], **_: object) -> list[int]:
        return [min(offer.available, ATTENTION_TILE - 1) for offer in offers]

    monkeypatch.setattr(step, "plan", tiles)
    expected = await without_speculation(WHOLE)
    assert await tokens_of(engine, EDIT, WHOLE) == expected
    assert engine.stats.longest_draft == ATTENTION_TILE - 1


@pytest.mark.anyio
async def test_greedy_output_ends_at_a_stop_string_inside_an_accepted_draft(
    engine: LlamaEngine, without_speculation: Callable[[SamplingParams], Awaitable[list[bytes]]]
) -> None:
    # The stop string is in the middle of a line the drafts copy: the text ends before it, as the whole
    # answer without speculation does there, and no draft token after it is sent.
    whole = b"".join(await without_speculation(WHOLE)).decode()
    stop = "round(total"
    params = SamplingParams(temperature=0, max_tokens=400, stop=(stop,), logprobs=0)
    accepted = engine.stats.accepted_tokens
    _, text = await answer_of(engine, EDIT, params)
    assert stop in whole
    assert text == whole[: whole.index(stop)]
    assert engine.stats.accepted_tokens - accepted >= 20


@pytest.mark.anyio
async def test_greedy_output_is_the_same_when_drafts_are_rejected(
    engine: LlamaEngine,
    without_speculation: Callable[[SamplingParams], Awaitable[list[bytes]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The model copies the function verbatim, so honest drafts are nearly all accepted and the test above
    # sees too few rejected to prove verification. Here every draft is believed and the third token of each
    # is wrong: each step keeps two drafts, must reject the third and draw the model's own token there, and
    # must drop the rejected token from the cache before the next step builds on it.
    monkeypatch.setattr(Acceptance, "rate", lambda self, match: 0.99)
    lookup = PromptLookup.draft

    def wrong_third(self: PromptLookup, limit: int) -> list[int]:
        draft = lookup(self, limit)
        return [*draft[:2], draft[2] + 1] if len(draft) >= 3 else draft

    monkeypatch.setattr(PromptLookup, "draft", wrong_third)
    expected = await without_speculation(WHOLE)
    drafted, accepted = engine.stats.draft_tokens, engine.stats.accepted_tokens
    assert await tokens_of(engine, EDIT, WHOLE) == expected
    drafted, accepted = engine.stats.draft_tokens - drafted, engine.stats.accepted_tokens - accepted
    assert drafted - accepted >= len(expected) // 5, (drafted, accepted, len(expected))
    assert accepted >= len(expected) // 3, (drafted, accepted, len(expected))


@pytest.mark.anyio
async def test_a_seeded_sample_is_the_same_with_speculation(
    engine: LlamaEngine, without_speculation: Callable[[SamplingParams], Awaitable[list[bytes]]]
) -> None:
    params = SamplingParams(temperature=0.7, seed=3, max_tokens=80, logprobs=0)
    accepted = engine.stats.accepted_tokens
    assert await tokens_of(engine, EDIT, params) == await without_speculation(params)
    assert engine.stats.accepted_tokens - accepted >= 20


@pytest.mark.anyio
async def test_a_long_prompt_is_read_in_chunks_while_the_others_keep_generating(
    engine: LlamaEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    loop = asyncio.get_running_loop()
    arrivals: list[list[float]] = [[], []]
    going = [asyncio.Event(), asyncio.Event()]

    async def generate(index: int) -> None:
        async for _ in generation[index].events():
            arrivals[index].append(loop.time())
            if len(arrivals[index]) == 3:
                going[index].set()

    story = engine.tokenize(STORY)
    generation = [engine.submit(story, SamplingParams(temperature=0.8, max_tokens=3000)) for _ in range(2)]
    # How much prompt the engine had read when it sent each of the streams' events, taken on the scheduler
    # thread as it sends them: a count of the schedule's own, which a busy machine slows but cannot change.
    read_at: list[list[int]] = [[], []]
    send = engine._stepper.send

    def sending(to: Generation, item: Event | BaseException) -> None:
        if to in generation:
            read_at[generation.index(to)].append(engine.stats.prompt_tokens_read)
        send(to, item)

    monkeypatch.setattr(engine._stepper, "send", sending)
    tasks = [asyncio.create_task(generate(i)) for i in range(2)]
    try:
        await asyncio.gather(*(event.wait() for event in going))
        text = " ".join(f"Item {i} weighs {i * 7 % 13} kilograms and costs {i * 11 % 17} euros." for i in range(400))
        long = engine.tokenize(text)[:3000]
        assert len(long) == 3000
        for counts in read_at:
            counts.clear()
        before = engine.stats.prompt_tokens_read
        started = loop.time()
        events: list[Event] = [event async for event in engine.submit(long, SamplingParams(max_tokens=1)).events()]
        read = loop.time()
    finally:
        for one in generation:
            one.cancel()
        await asyncio.gather(*tasks)
    assert events[-1].finish_reason == "length"
    after = engine.stats.prompt_tokens_read
    assert after - before == 3000
    for times, counts in zip(arrivals, read_at, strict=True):
        # Each generating stream was sent a token after every chunk of the prompt, and no chunk was more than
        # a tenth of it: chunks of about 257 tokens on two threads (one attention unit and the token that
        # shares the others' ubatch), 65 on four. Read in the batch's 510 free tokens a step, as without
        # chunks, the others would wait for a sixth of the prompt between tokens; read as llama-server reads
        # it, for all of it.
        waits = [b - a for a, b in zip([before, *counts], [*counts, after], strict=True)]
        assert max(waits) <= len(long) // 10, waits
        # And the client got those tokens as they came, not in a burst at the end: most of them while the
        # prompt was read, none of its waits half the read. (The time bound is loose on purpose: one step
        # stalled by a busy machine, or the event loop held up, moves a few seconds; the schedule is what the
        # waits above check.)
        arrived = [t for t in times if started <= t <= read]
        gaps = [b - a for a, b in zip([started, *arrived], [*arrived, read], strict=True)]
        assert len(arrived) >= 8, (len(arrived), read - started)
        assert max(gaps) < (read - started) / 2, (max(gaps), read - started)
