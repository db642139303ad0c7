"""What verifying draft tokens costs llama.cpp on this machine, by draft length, sequences and cache length:
the numbers speculation's planner (modelport.builtin.llama.speculation) weighs drafts with.

    .venv/bin/python bench/draft_cost.py [--sequences 1 4] [--contexts 100 1000 1600]
        [--lengths 1 16 32 48 63 64 65 96 128] [--repeats 3]

The model and context are the chat engine's own (8 sequences of 4,096 tokens, a batch and ubatch of 512, room
for the logits of a whole batch), driven in this process with no server. Each of --sequences sequences holds
--contexts tokens of code; a step feeds each of them --lengths tokens, all with logits (a sequence's next
token and its drafts), and the table gives the step's milliseconds (the fastest of --repeats) and the
milliseconds per fed token. llama.cpp's CPU attention computes a sequence's queries in tiles of 64 when a
ubatch holds at least 64 of its tokens and one row at a time when fewer: compare the columns around 64.

On the project's two quiet cores (ms per step / per fed token; the first step of a shape pays for setting it
up, as the 64 at 100 cached tokens did here):

     seqs context   1        16        32        63        64        65        128
        1    1000   35/34.8  322/20.1  655/20.5 1071/17.0  721/11.3  977/15.0 1817/14.2
        1    1600   38/37.8  405/25.3  805/25.2 1425/22.6  825/12.9 1051/16.2 1759/13.7
        4    1000   95/23.8 1081/16.9 2158/16.9 3969/15.7 3175/12.4 3143/12.1 6079/11.9
        4    1600  153/38.2 1759/27.5 3432/26.8 6251/24.8 3881/15.2 4560/17.5 6236/12.2
"""

from __future__ import annotations

import argparse
import os
import time

import llama_cpp
from local_engine import engine_on_this_thread

from modelport.builtin.llama import engine as engine_module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sequences", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--contexts", type=int, nargs="+", default=[100, 1000, 1600])
    parser.add_argument("--lengths", type=int, nargs="+", default=[1, 16, 32, 48, 63, 64, 65, 96, 128])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    # Room for the logits of every token of a batch, so any length can be verified.
    setattr(engine_module, "DRAFT_BUDGET", 512)  # noqa: B010 (the engine reads it from its own module)
    with engine_on_this_thread() as engine:
        with open(engine_module.__file__) as file:
            source = file.read()
        tokens = engine.tokenize(source * 3, special=False)
        print(f"{engine.n_threads} threads, load average {os.getloadavg()}")
        header = f"{'seqs':>5}{'context':>8}" + "".join(f"{n:>11}" for n in args.lengths)
        for sequences in args.sequences:
            for context in args.contexts:
                for seq in range(sequences):
                    llama_cpp.llama_memory_seq_rm(engine.memory, seq, -1, -1)
                    for start in range(0, context, engine.n_batch):
                        chunk = tokens[start : min(context, start + engine.n_batch)]
                        engine._timed([(seq, chunk, start, 0)])
                cells = []
                for length in args.lengths:
                    if length * sequences > engine.n_batch:
                        cells.append(f"{'-':>11}")
                        continue
                    times = []
                    for _ in range(args.repeats):
                        fed = tokens[context : context + length]
                        times.append(engine._timed([(seq, fed, context, length) for seq in range(sequences)]))
                        for seq in range(sequences):
                            llama_cpp.llama_memory_seq_rm(engine.memory, seq, context, -1)
                    best = min(times)
                    cells.append(f"{1000 * best:>5.0f}/{1000 * best / (length * sequences):>4.1f}")
                if context == args.contexts[0] and sequences == args.sequences[0]:
                    print("ms per step / per fed token")
                    print(header)
                print(f"{sequences:>5}{context:>8}" + "".join(cells), flush=True)
        print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    start = time.perf_counter()
    main()
    print(f"{time.perf_counter() - start:.0f} s")
