"""Where speculative decoding's time goes: the chat engine's steps on the code edits of bench/chat.py.

    .venv/bin/python bench/chat_steps.py [--streams 1 4] [--max-tokens 1024]

Runs the built-in chat model's engine in this process (no server, 8 parallel sequences of 4,096 tokens as
bench/chat.py serves it), sends the code edits of bench/code_edits.py (all at once, for each --streams) and
records every scheduler step: its wall time, the tokens it fed llama.cpp, whether it read a prompt, the
draft tokens it verified and kept, and the seconds the speculation planner expected it to take. Prints the
steps that read prompts apart from the ones that only generate, and the generating ones by how many
sequences they held: how many tokens each step fed and yielded, milliseconds per step and per fed token
(the floor a verified draft token costs), and the tokens per second that made.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections import defaultdict
from dataclasses import dataclass

from code_edits import code_edits

from modelport.builtin.llama import default_model_path
from modelport.builtin.llama.engine import Event, Generation, LlamaEngine
from modelport.builtin.llama.sampling import SamplingParams
from modelport.builtin.llama.slots import Slot
from modelport.config import Settings

SYSTEM = "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"


@dataclass
class Step:
    seconds: float
    fed: int
    sequences: int
    reads_prompt: bool
    drafted: int
    accepted: int
    planned: float


def record(engine: LlamaEngine, steps: list[Step]) -> None:
    """Wrap the engine's step so each one is appended to `steps`."""
    stepper = engine._stepper
    iterate = stepper.iterate
    cost = stepper.cost

    def timed(active: list[Slot]) -> None:
        reads_prompt = any(slot.prefilling for slot in active)
        contexts = {slot.seq_id: len(slot.cached) for slot in active}
        drafted, accepted = engine.stats.draft_tokens, engine.stats.accepted_tokens
        started = time.perf_counter()
        iterate(active)
        seconds = time.perf_counter() - started
        if active:
            fed = int(engine.batch.n_tokens)
            counts: dict[int, int] = defaultdict(int)
            for i in range(fed):
                counts[engine.batch.seq_id[i][0]] += 1
            planned = cost.seconds(counts, engine.n_batch, contexts)
            steps.append(
                Step(
                    seconds,
                    fed,
                    len(active),
                    reads_prompt,
                    engine.stats.draft_tokens - drafted,
                    engine.stats.accepted_tokens - accepted,
                    planned,
                )
            )

    stepper.iterate = timed  # type: ignore[method-assign]


def summary(name: str, steps: list[Step]) -> str:
    if not steps:
        return f"  {name}: none"
    seconds = sum(s.seconds for s in steps)
    fed = sum(s.fed for s in steps)
    drafted = sum(s.drafted for s in steps)
    accepted = sum(s.accepted for s in steps)
    # Each generating sequence yields its sampled token, plus the drafts it kept.
    yielded = sum(s.sequences + s.accepted for s in steps if not s.reads_prompt)
    line = (
        f"  {name}: {len(steps)} steps, {seconds:.1f} s; per step fed {fed / len(steps):.1f}, "
        f"drafts {drafted / len(steps):.1f} ({accepted / max(1, drafted):.0%} kept), "
        f"{1000 * seconds / len(steps):.0f} ms (planned {1000 * statistics.mean(s.planned for s in steps):.0f}), "
        f"{1000 * seconds / fed:.1f} ms per fed token"
    )
    if yielded:
        line += f"; yield {yielded / len(steps):.1f}, {yielded / seconds:.1f} tok/s"
    return line


async def completion_tokens(generation: Generation, started: float, firsts: list[float]) -> int:
    events: list[Event] = []
    async for event in generation.events():
        if not events:
            firsts.append(time.perf_counter() - started)
        events.append(event)
    return events[-1].completion_tokens


async def run(engine: LlamaEngine, batches: list[list[str]], max_tokens: int, steps: list[Step]) -> None:
    """Send each batch of prompts at once, one batch after another; print where the steps' time went."""
    steps.clear()
    params = SamplingParams(temperature=0, max_tokens=max_tokens)
    tokens, wall, prompt_tokens = 0, 0.0, 0
    firsts: list[float] = []
    for prompts in batches:
        started = time.perf_counter()
        generations = [engine.submit(engine.tokenize(prompt), params) for prompt in prompts]
        tokens += sum(await asyncio.gather(*(completion_tokens(g, started, firsts) for g in generations)))
        prompt_tokens += sum(len(g.prompt) - g.cached_tokens for g in generations)
        wall += time.perf_counter() - started
    streams = len(batches[0])
    print(f"\n{streams} stream(s): {tokens} tokens in {wall:.1f} s = {tokens / wall:.1f} tok/s")
    print(f"  {prompt_tokens} prompt tokens read; first tokens at {', '.join(f'{t:.1f}' for t in sorted(firsts))} s")
    print(summary("steps that read a prompt", [s for s in steps if s.reads_prompt]))
    print(summary("steps that only generate", [s for s in steps if not s.reads_prompt]))
    by_count: dict[int, list[Step]] = defaultdict(list)
    for step in steps:
        if not step.reads_prompt:
            by_count[step.sequences].append(step)
    for count, group in sorted(by_count.items()):
        print(summary(f"  with {count} sequence(s)", group))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--max-tokens", type=int, default=1024)
    args = parser.parse_args()
    engine = LlamaEngine(str(default_model_path(Settings().cache_dir)), n_parallel=8, n_ctx_per_sequence=4096)
    engine.start()
    try:
        steps: list[Step] = []
        record(engine, steps)
        print(f"step cost from warm-up: {engine._stepper.cost}, prompt chunks {engine._stepper.prefill_chunk}")
        edits = code_edits()
        prompts = [
            f"{SYSTEM}<|im_start|>user\n{edit.messages()[0]['content']}<|im_end|>\n<|im_start|>assistant\n"
            for edit in edits
        ]
        for streams in args.streams:
            # One stream: the prompts one after another, as bench/chat.py sends them.
            batches = (
                [[prompt] for prompt in prompts]
                if streams == 1
                else [[prompts[i % len(prompts)] for i in range(streams)]]
            )
            await run(engine, batches, args.max_tokens, steps)
    finally:
        engine.stop()


if __name__ == "__main__":
    asyncio.run(main())
