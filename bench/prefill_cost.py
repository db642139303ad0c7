"""What a prompt chunk costs llama.cpp on this machine, by chunk size and cache position: the numbers the
engine's prompt-chunk sizing (modelport.builtin.llama.batching) is planned from.

    .venv/bin/python bench/prefill_cost.py [--tokens 3000] [--chunks 32 64 128 256 512] [--alone 32 512]
        [--others 3] [--step-chunks 65 129 257 512 --positions 0 1000 2000 2400 --repeats 3]
        [--no-decode-step]

The model and context are the chat engine's own (8 sequences of 4,096 tokens, a batch and ubatch of 512),
driven in this process with no server, on one prompt of --tokens tokens. Three tables:

- with --step-chunks: the step's milliseconds (median of --repeats) reading a chunk of each size at each
  of --positions, alone and beside --others sequences that decode a token each;
- for each of --chunks: the seconds to read the whole prompt in chunks of that size beside the others (and
  alone, for the --alone sizes), and the step's milliseconds at a few positions;
- the milliseconds of a step that decodes the others' tokens alone (unless --no-decode-step).

The machine's speed drifts by 10-20% from one minute to the next: compare rows of one run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import llama_cpp
from local_engine import engine_on_this_thread

from modelport.builtin.llama.engine import LlamaEngine

# Cached tokens each other sequence holds when the prompt starts: a short conversation under way.
OTHERS_CACHED = 200
PROBES = (0, 1000, 2000, 2400)


def read(engine: LlamaEngine, prompt: list[int], chunk: int, others: int) -> tuple[float, dict[int, float]]:
    """Seconds to read `prompt` into sequence `others` in chunks of `chunk`, each step also decoding one
    token of sequences 0..others-1; and the step's seconds at the positions nearest PROBES."""
    seq = others
    chunk = min(chunk, engine.n_batch - others)
    for other in range(others):
        llama_cpp.llama_memory_seq_rm(engine.memory, other, -1, -1)
        engine._timed([(other, prompt[:OTHERS_CACHED], 0, 1)])
    llama_cpp.llama_memory_seq_rm(engine.memory, seq, -1, -1)
    steps: dict[int, float] = {}
    total = 0.0
    position = 0
    decoded = 0
    while position < len(prompt):
        tokens = prompt[position : position + chunk]
        entries = [(other, [prompt[decoded % len(prompt)]], OTHERS_CACHED + decoded, 1) for other in range(others)]
        entries.append((seq, tokens, position, 1 if position + len(tokens) == len(prompt) else 0))
        seconds = engine._timed(entries)
        total += seconds
        for probe in PROBES:
            if position <= probe < position + len(tokens):
                steps[probe] = seconds
        position += len(tokens)
        decoded += 1
    for other in range(others + 1):
        llama_cpp.llama_memory_seq_rm(engine.memory, other, -1, -1)
    return total, steps


def step_costs(
    engine: LlamaEngine, prompt: list[int], chunks: list[int], others: int, repeats: int, probes: list[int]
) -> None:
    """Print the median milliseconds of a step reading a chunk of each size at each of PROBES, read beside
    `others` sequences' decode tokens: the cache is filled up to the position, then each chunk is decoded
    there `repeats` times and removed again."""
    seq = others
    for other in range(others):
        engine._timed([(other, prompt[:OTHERS_CACHED], 0, 1)])
    position = 0
    print(f"\nms per step (median of {repeats}) reading a chunk of the prompt beside {others} decoding sequences")
    print(f"{'chunk':>6}" + "".join(f"{f'@{p}':>9}" for p in probes))
    table: dict[int, list[float]] = {chunk: [] for chunk in chunks}
    for probe in probes:
        while position < probe:
            size = min(engine.n_batch, probe - position)
            engine._timed([(seq, prompt[position : position + size], position, 0)])
            position += size
        for chunk in chunks:
            size = min(chunk, engine.n_batch - others)
            times = []
            for _ in range(repeats):
                entries = [(other, [prompt[0]], OTHERS_CACHED, 1) for other in range(others)]
                entries.append((seq, prompt[position : position + size], position, 0))
                times.append(engine._timed(entries))
                for other in range(others):
                    llama_cpp.llama_memory_seq_rm(engine.memory, other, OTHERS_CACHED, -1)
                llama_cpp.llama_memory_seq_rm(engine.memory, seq, position, -1)
            table[chunk].append(1000 * statistics.median(times))
    for chunk, row in table.items():
        print(f"{chunk:>6}" + "".join(f"{cell:>9.0f}" for cell in row), flush=True)
    for other in range(others + 1):
        llama_cpp.llama_memory_seq_rm(engine.memory, other, -1, -1)


def decode_step(engine: LlamaEngine, prompt: list[int], others: int) -> float:
    """The median seconds of a step that decodes one token of each of `others` sequences and nothing else."""
    for other in range(others):
        engine._timed([(other, prompt[:OTHERS_CACHED], 0, 1)])
    times = [engine._timed([(other, [prompt[i]], OTHERS_CACHED + i, 1) for other in range(others)]) for i in range(20)]
    for other in range(others):
        llama_cpp.llama_memory_seq_rm(engine.memory, other, -1, -1)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=3000)
    parser.add_argument("--chunks", type=int, nargs="*", default=[32, 64, 128, 256, 512])
    parser.add_argument("--others", type=int, default=3)
    parser.add_argument("--step-chunks", type=int, nargs="*", default=[], help="chunk sizes timed at each position")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--positions", type=int, nargs="+", default=list(PROBES), help="where chunks are timed")
    parser.add_argument("--no-decode-step", action="store_true", help="skip timing the others' decode step")
    parser.add_argument("--alone", type=int, nargs="*", default=[32, 512], help="chunk sizes also read alone")
    args = parser.parse_args()

    with engine_on_this_thread() as engine:
        records = (f"Record {i}: the crate in bay {i * 7 % 31} weighs {i * 13 % 97} kilograms." for i in range(600))
        text = " ".join(records)
        prompt = engine.tokenize(text)[: args.tokens]
        print(f"{len(prompt)}-token prompt, {engine.n_threads} threads, load average {os.getloadavg()}")
        for others in sorted({0, args.others}) if args.step_chunks else ():
            step_costs(engine, prompt, args.step_chunks, others, args.repeats, args.positions)
        header = f"\n{'chunk':>6}{'others':>8}{'read (s)':>10}{'tok/s':>8}"
        print(header + "".join(f"{f'step@{p}':>11}" for p in PROBES))
        for chunk in args.chunks:
            for others in sorted({args.others} | ({0} if chunk in args.alone else set())):
                total, steps = read(engine, prompt, chunk, others)
                cells = "".join(f"{1000 * steps.get(p, float('nan')):>9.0f}ms" for p in PROBES)
                print(f"{chunk:>6}{others:>8}{total:>10.2f}{len(prompt) / total:>8.1f}{cells}", flush=True)
        if not args.no_decode_step:
            step = decode_step(engine, prompt, args.others)
            print(f"\na step decoding {args.others} sequences alone: {1000 * step:.1f} ms")
        print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    start = time.perf_counter()
    main()
    print(f"{time.perf_counter() - start:.0f} s")
