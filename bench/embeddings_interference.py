"""What sharing the cores with an event loop costs the model: MiniLM's own CPU per sentence at direct batch 64,
alone and beside a thread that does what the server's loop does at 64 one-sentence clients (~0.45 ms of
Python touching memory every ~3.5 ms), measured in alternating pairs.

    .venv/bin/python bench/embeddings_interference.py [--rounds 10]

The model's CPU is the thread CPU time spent inside its onnxruntime calls (`_run`), so the other thread's
own CPU is not in it: what rises is the model's cost of the same work, from caches and cores shared. The
summary is the median of the per-pair ratios, beside over alone. This is the reference point for the server's
"model" column in `bench/embeddings.py`: the direct rows run without a loop beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import threading
import time

import numpy as np
from embeddings import sentences

from modelport.builtin.onnx_embeddings import OnnxSentenceEmbedder, minilm

BATCH = 64


class Timed:
    """MiniLM whose onnxruntime calls add their thread CPU time to `seconds`."""

    def __init__(self) -> None:
        self.embedder: OnnxSentenceEmbedder = minilm()
        self.seconds = 0.0
        self._lock = threading.Lock()
        run = self.embedder._run

        def timed(sequences: list[list[int]], session: object = None) -> np.ndarray:
            start = time.thread_time()
            rows = run(sequences, session)
            with self._lock:
                self.seconds += time.thread_time() - start
            return rows

        # Before load: the embedder hands its workers the method it finds there.
        self.embedder._run = timed  # type: ignore[method-assign]
        self.embedder.load()


def busy_loop(stop: threading.Event, work: float, pause: float) -> None:
    """Python that allocates and walks objects, like request handling, for `work` s every `pause` s."""
    rng = random.Random(0)
    records = [{f"field{i}": [rng.random() for _ in range(20)], "text": "x" * 50} for i in range(400)]
    while not stop.is_set():
        end = time.perf_counter() + work
        while time.perf_counter() < end:
            start = rng.randrange(300)
            json.loads(json.dumps(records[start : start + 40]))
        time.sleep(pause)


def model_ms(timed: Timed, token_ids: list[list[int]], beside: bool) -> float:
    stop = threading.Event()
    other = threading.Thread(target=busy_loop, args=(stop, 0.00045, 0.003)) if beside else None
    if other is not None:
        other.start()
    timed.seconds = 0.0
    for start in range(0, len(token_ids), BATCH):
        timed.embedder.embed_tokens(token_ids[start : start + BATCH])
    stop.set()
    if other is not None:
        other.join()
    return 1000 * timed.seconds / len(token_ids)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--sentences", type=int, default=BATCH * 12)
    args = parser.parse_args()
    timed = Timed()
    token_ids = timed.embedder.tokenize(sentences(args.sentences, seed=1))
    print(f"MiniLM, direct batch {BATCH}, {len(token_ids)} sentences; load average {os.getloadavg()[0]:.1f}")
    model_ms(timed, token_ids, beside=False)
    results: dict[bool, list[float]] = {False: [], True: []}
    for round_ in range(args.rounds):
        for beside in (False, True) if round_ % 2 == 0 else (True, False):
            results[beside].append(model_ms(timed, token_ids, beside))
    print("model CPU ms a sentence, per round")
    print("  alone   " + " ".join(f"{ms:5.2f}" for ms in results[False]))
    print("  beside  " + " ".join(f"{ms:5.2f}" for ms in results[True]))
    ratios = [beside / alone for alone, beside in zip(results[False], results[True], strict=True)]
    print(
        f"beside / alone: median {statistics.median(ratios):.3f} (range {min(ratios):.3f}-{max(ratios):.3f}); "
        f"load average at the end {os.getloadavg()[0]:.1f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
