"""Seeded sampling on the built-in chat model: how often a seeded answer repeats, alone and under load.

    .venv/bin/python bench/seeds.py [--seeds 10] [--max-tokens 48] [--others 3]

For each seed, a request at temperature 1 runs alone twice (with other requests run in between), then
once while `--others` different requests decode in the same batches. Printed: how many of the seeds gave
the same text alone both times, and how many gave that text under load, with the first token's
log-probability alone and under load: a difference there is llama.cpp's batched arithmetic, not sampling.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from pathlib import Path

from modelport.builtin.llama import default_model_path
from modelport.builtin.llama.chat import LlamaChat

SEA = [{"role": "user", "content": "Write one sentence about the sea."}]
OTHERS = ["Name a colour.", "Count to twenty.", "Describe a cat.", "Write a haiku about rain."]


async def answer(
    chat: LlamaChat, messages: list[dict[str, str]], seed: int | None, max_tokens: int
) -> tuple[str, float]:
    text, first = "", 0.0
    async for chunk in chat(messages, temperature=1.0, seed=seed, max_tokens=max_tokens, logprobs=True):  # type: ignore[arg-type]
        for choice in chunk.choices:
            text += choice.delta.content or ""
            content = choice.logprobs.content if choice.logprobs else None
            if content and not first:
                first = content[0].logprob
    return text, first


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--others", type=int, default=3)
    args = parser.parse_args()
    cache = Path(os.environ.get("MODELPORT_CACHE_DIR", Path.home() / ".cache" / "modelport"))
    chat = LlamaChat(lambda: default_model_path(cache), n_parallel=args.others + 1, n_ctx_per_sequence=1024)
    await asyncio.to_thread(chat.load)
    repeated = under_load = 0
    deltas: list[float] = []
    try:
        for seed in range(args.seeds):
            alone, first_alone = await answer(chat, SEA, seed, args.max_tokens)
            await answer(chat, [{"role": "user", "content": OTHERS[0]}], None, 8)
            again, _ = await answer(chat, SEA, seed, args.max_tokens)
            others = [
                answer(chat, [{"role": "user", "content": OTHERS[i % len(OTHERS)]}], None, args.max_tokens)
                for i in range(args.others)
            ]
            (loaded, first_loaded), *_ = await asyncio.gather(answer(chat, SEA, seed, args.max_tokens), *others)
            repeated += again == alone
            under_load += loaded == alone
            deltas.append(abs(first_loaded - first_alone))
    finally:
        chat.unload()
    print(f"seeds: {args.seeds}, {args.max_tokens} tokens at temperature 1, {args.others} other requests under load")
    print(f"same text alone, twice:        {repeated}/{args.seeds}")
    print(f"same text under load as alone: {under_load}/{args.seeds}")
    mean = sum(deltas) / len(deltas)
    print(f"first token's |Δ log-probability|, alone vs under load: max {max(deltas):.2e}, mean {mean:.2e}")


if __name__ == "__main__":
    asyncio.run(main())
