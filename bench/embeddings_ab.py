"""Two modelport servers of MiniLM measured in alternation with C one-sentence clients: this checkout's and
another source tree's (say main's), to read a change of the server's CPU per sentence through the drift of
a shared machine, which moves the model's own speed by up to a fifth between minutes.

    .venv/bin/python bench/embeddings_ab.py --baseline-src /work/main/src [--clients 64] [--rounds 6]
    .venv/bin/python bench/embeddings_ab.py --baseline-src /work/main/src --large 1000

`--clients 1` measures a lone client (its rate is one over its latency); `--large N` one request of N
sentences at a time instead of clients.

Each round measures both servers back to back, the order swapped every round (ABBA), on the same sentences,
and prints each side's rate and CPU ms per sentence: loop (the server's main thread), model (its other
threads), clients (this process). The summary gives the median of the per-round ratios, this tree over the
baseline, in which the drift the two sides of a round share cancels.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import time
from collections.abc import Callable

from embeddings import Cpu, concurrent_rate, cpu_since, large_request_rate, sentences, server, server_cpu
from served import Served

from modelport.builtin.onnx_embeddings import MINILM_NAME


def large(served: Served, texts: list[str]) -> tuple[float, Cpu]:
    """One request of all `texts`: its rate, and the server's CPU ms per sentence (none of the client's)."""
    before, mine = server_cpu(served.process.pid), time.process_time()
    rate = large_request_rate(served, MINILM_NAME, texts)
    return rate, cpu_since(served.process.pid, before, mine, len(texts))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline-src", required=True, help="the src folder of the modelport to compare with")
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--requests", type=int, default=12, help="requests per client in one measure")
    parser.add_argument("--large", type=int, default=0, help="measure one request of this many sentences instead")
    args = parser.parse_args()
    texts = sentences(args.large or args.clients * args.requests, seed=1)

    def measure(served: Served) -> tuple[float, Cpu]:
        if args.large:
            return large(served, texts)
        return concurrent_rate(served, MINILM_NAME, texts, args.clients, args.requests, "raw")

    what = f"1 request x {args.large}" if args.large else f"{args.clients} clients x {args.requests} requests"
    print(f"{what}; load average {os.getloadavg()[0]:.1f}")
    print(f"{'round':>5} {'side':>8} {'rate/s':>7} {'loop':>5} {'model':>6} {'client':>6} {'total':>6} {'batch':>5}")
    results: dict[str, list[tuple[float, Cpu]]] = {"branch": [], "baseline": []}
    with contextlib.ExitStack() as stack:
        servers = {
            "branch": stack.enter_context(server(batching=True, names=[MINILM_NAME])),
            "baseline": stack.enter_context(server(batching=True, names=[MINILM_NAME], source=args.baseline_src)),
        }
        for served in servers.values():
            concurrent_rate(served, MINILM_NAME, texts, max(args.clients, 16), 2, "raw")
        for round_ in range(args.rounds):
            sides = ["branch", "baseline"] if round_ % 2 == 0 else ["baseline", "branch"]
            for side in sides:
                rate, cpu = measure(servers[side])
                results[side].append((rate, cpu))
                total = cpu.loop + cpu.rest + cpu.client
                print(
                    f"{round_:>5} {side:>8} {rate:>7.1f} {cpu.loop:>5.2f} {cpu.rest:>6.2f} {cpu.client:>6.2f} "
                    f"{total:>6.2f} {cpu.batch:>5.1f}",
                    flush=True,
                )
    pairs = list(zip(results["branch"], results["baseline"], strict=True))
    parts: list[tuple[str, Callable[[float, Cpu], float]]] = [
        ("rate", lambda rate, cpu: rate),
        ("loop", lambda rate, cpu: cpu.loop),
        ("model", lambda rate, cpu: cpu.rest),
    ]
    for name, part in parts:
        ratios = [part(*mine) / part(*theirs) for mine, theirs in pairs]
        print(
            f"{name}: branch / baseline, median of rounds {statistics.median(ratios):.3f} "
            f"(range {min(ratios):.3f}-{max(ratios):.3f})"
        )
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
