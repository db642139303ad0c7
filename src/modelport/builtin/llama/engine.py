"""Continuous batching on llama.cpp: one scheduler thread owns the model and decodes every active
sequence in one batch per step.

A request is a prompt (token ids) and its sampling parameters. The scheduler gives it a slot (a llama.cpp
sequence id), reusing the slot whose cached tokens share the longest prefix with the prompt, feeds the
rest of the prompt in chunks beside the other slots' decode tokens (`batching`), samples each slot's next
token (straight from the logits, or through the request's own llama.cpp sampler chain when it asks for
top-p, penalties, biases or a grammar), and sends text events to the request's asyncio queue. A request
that is cancelled (its client went away) leaves its slot, or the queue, at the next step.

With speculation on, a generating slot also feeds draft tokens found in its own text (`speculation`); the
step verifies them: the token sampled after each position is the one the request would have drawn there
without speculation, and the draft after it is kept only if it is that token. What is not kept is removed
from the cache, so a request's output is the same with speculation as without; it comes sooner.

Every request that leaves the queue or a slot is sent the item that ends its events: its last event, an
error, or `CANCELLED`; none leaves silently, so nobody waits for a request the scheduler has let go.

Failures stay with the requests they concern: a request's sampler is built when it is submitted, so a bad
parameter is that request's error before it takes a slot; a step that fails fails the requests in it and
clears their cached tokens, so llama.cpp's cache and the slots agree again; and if the scheduler thread
itself ends unexpectedly, every request is failed, new ones are refused and `failure` says why.
"""

from __future__ import annotations

import asyncio
import codecs
import collections
import ctypes
import functools
import logging
import os
import threading
import time

import llama_cpp
import numpy as np
from llama_cpp import _internals as internals

from modelport.builtin.llama.batching import PromptChunks, PromptCost, attention_unit, fill_batch
from modelport.builtin.llama.generation import CANCELLED, Event, Generation, TokenLogprob, deliver
from modelport.builtin.llama.sampling import SamplingParams, StopMatcher, build_sampler, seed_generator
from modelport.builtin.llama.slots import Slot, common_prefix, preference
from modelport.builtin.llama.speculation import ATTENTION_TILE, Acceptance, PromptLookup, StepCost
from modelport.builtin.llama.step import DRAFT_BUDGET, EngineStats, Stepper
from modelport.errors import InvalidRequestError, RateLimitError

__all__ = ["EngineStats", "Event", "Generation", "LlamaEngine", "TokenLogprob"]

logger = logging.getLogger(__name__)

# The bounds of a decode step's fixed cost (reading the weights), counted in tokens of batch work: the
# 0.5B model on two quiet cores shows about 0.9 (13 ms a step, 14 ms a token with logits).
STEP_TO_TOKEN = (0.5, 8.0)
# The tokens of the step warm-up times for what a token with logits costs.
WARM_UP_DRAFT = 16
# The cache length at which warm-up times a step, for what each cached token adds to it (the 0.5B model on
# two cores: about 0.014 ms, so a step at 1,000 tokens costs twice one at none).
CONTEXT_PROBE = 512
# The bounds of that cost, as a share of a step at no context. At 256 tokens it was lost in a step's noise
# (0 to 0.044 ms on the same quiet machine), and a run that measured 0 verified 13 draft tokens a step for
# four code edits instead of 41, and made 29% fewer tokens a second. The 0.5B model on two cores shows
# about 0.05% (0.011-0.017 ms of a 25 ms step).
CONTEXT_TO_STEP = (0.0003, 0.0012)


class LlamaEngine:
    """Owns a llama.cpp model and context; `submit` is safe to call from the event loop."""

    def __init__(
        self,
        model_path: str,
        *,
        n_parallel: int = 8,
        n_ctx_per_sequence: int = 4096,
        n_batch: int = 512,
        n_threads: int | None = None,
        max_queue: int = 64,
        speculation: bool = True,
    ) -> None:
        self.model_path = model_path
        # Whether requests draft tokens by prompt lookup; read as each request takes a slot.
        self.speculation = speculation
        self.n_parallel = n_parallel
        self.n_ctx_per_sequence = n_ctx_per_sequence
        self.n_batch = n_batch
        self.n_threads = n_threads or os.cpu_count() or 1
        self.max_queue = max_queue
        self._waiting: collections.deque[Generation] = collections.deque()
        self._lock = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        # Events of the current step, handed to their event loops together when it ends (one wake-up per
        # loop and step instead of one per token).
        self._outbox: list[tuple[Generation, Event | BaseException]] = []
        self.stats = EngineStats()
        # Why the scheduler thread ended while it should serve; None while it serves.
        self.failure: BaseException | None = None

    # Lifecycle

    def start(self) -> None:
        """Load the model on the scheduler thread and return once it serves, or raise why it cannot."""
        # llama.cpp computes with an OpenMP team bound to the thread that calls it. A second thread's team
        # runs beside the first one's idle, spinning workers and decodes about a third slower, so every
        # llama.cpp call that computes (load, warm-up, decode) happens on the scheduler thread.
        ready = threading.Event()
        failure: list[BaseException] = []
        self._thread = threading.Thread(target=self._main, args=(ready, failure), name="llama-scheduler", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread.join()
            self._thread = None
            raise failure[0]

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            self._lock.notify_all()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._close()

    def check(self) -> None:
        """Raise if the engine cannot serve: its scheduler thread ended (or never started)."""
        if self.failure is not None:
            raise RuntimeError(f"the llama.cpp scheduler stopped: {type(self.failure).__name__}: {self.failure}")
        if self._thread is None or not hasattr(self, "model"):
            raise RuntimeError("the llama.cpp engine is not running")

    def _main(self, ready: threading.Event, failure: list[BaseException]) -> None:
        try:
            self._load()
        except BaseException as exc:
            self._close()
            failure.append(exc)
            ready.set()
            return
        ready.set()
        try:
            self._run()
        except BaseException as exc:
            # Only a bug gets here (each step's failures are caught in `_run`). The model stays allocated
            # until `stop()`: tokenizing on the event loop must never touch freed memory.
            logger.exception("the llama scheduler thread failed")
            self._die(exc)
            return
        self._close()

    def _die(self, exc: BaseException) -> None:
        with self._lock:
            self.failure = exc
            waiting, self._waiting = list(self._waiting), collections.deque()
        error = RuntimeError(f"the llama.cpp scheduler stopped: {type(exc).__name__}: {exc}")
        for generation in waiting:
            generation.close()
            self._send(generation, error)
        for slot in self._active():
            self._release(slot, error)
        self._flush()

    def _close(self) -> None:
        """Free what `_load` made, also when it stopped half-way; once, after the scheduler has stopped."""
        if hasattr(self, "batch"):
            llama_cpp.llama_batch_free(self.batch)
            del self.batch
        for name in ("context", "model"):
            if hasattr(self, name):
                getattr(self, name).close()
                delattr(self, name)

    def _load(self) -> None:
        # llama.cpp logs every load detail to stderr through this logger unless it is told otherwise.
        logging.getLogger("llama-cpp-python").setLevel(logging.WARNING)
        llama_cpp.llama_backend_init()
        model_params = llama_cpp.llama_model_default_params()
        self.model = internals.LlamaModel(path_model=self.model_path, params=model_params, verbose=False)
        context_params = llama_cpp.llama_context_default_params()
        context_params.n_ctx = self.n_ctx_per_sequence * self.n_parallel
        context_params.n_batch = self.n_batch
        context_params.n_ubatch = self.n_batch
        context_params.n_seq_max = self.n_parallel
        # A step needs logits for one token per sequence, and for the drafts it verifies; reserving room
        # for a whole batch of them (the default) makes the compute buffer 300 MB instead of 40 and every
        # decode slower.
        context_params.n_outputs_max = self.n_parallel + (DRAFT_BUDGET if self.speculation else 0)
        context_params.n_threads = self.n_threads
        context_params.n_threads_batch = self.n_threads
        # Each sequence gets its own share of the cache, so one long conversation cannot starve the others.
        context_params.kv_unified = False
        self.context = internals.LlamaContext(model=self.model, params=context_params, verbose=False)
        self.memory = llama_cpp.llama_get_memory(self.context.ctx)
        self.batch = llama_cpp.llama_batch_init(self.n_batch, 0, 1)
        self.n_vocab = self.model.n_vocab()
        self._slots = [Slot(seq_id=i) for i in range(self.n_parallel)]
        cost, prefill_chunk = self._warm_up()
        self._stepper = Stepper(
            self.context.ctx,
            self.model.vocab,
            self.batch,
            n_vocab=self.n_vocab,
            n_batch=self.n_batch,
            n_ctx_per_sequence=self.n_ctx_per_sequence,
            piece=self.piece,
            send=self._send,
            cost=cost,
            prefill_chunk=prefill_chunk,
            stats=self.stats,
        )

    def _warm_up(self) -> tuple[StepCost, PromptChunks]:
        """Pay for the first decodes of each shape, several times slower than the rest, before serving;
        and time the later ones, for the cost of a step that speculation and prompt chunks plan with."""
        tokens = self.tokenize("def warm_up(self) -> None:\n    return self.model(tokens=[1, 2, 3])\n", special=False)
        one, many, tiles = [], [], []
        draft = WARM_UP_DRAFT
        # A prompt's tile, read in each round beside the decodes: a chunk's size follows the ratio of the two
        # costs, and on a shared machine a busy moment that slowed only the decodes, timed apart from the
        # tile, would make every chunk as many times longer (four times is two attention units a step
        # instead of one: the others would wait twice as long between tokens).
        tile = (tokens * (ATTENTION_TILE // len(tokens) + 1))[:ATTENTION_TILE]
        for _ in range(3):
            tiles.append(self._timed([(0, tile, 0, 1)]))
            llama_cpp.llama_memory_seq_rm(self.memory, 0, -1, -1)
            self._timed([(0, tokens, 0, 1)])
            position = len(tokens)
            for _ in range(3):
                one.append(self._timed([(0, tokens[:1], position, 1)]))
                # Without speculation the context has no room for the logits of drafts.
                outputs = draft + 1 if self.speculation else 1
                many.append(self._timed([(0, tokens[: draft + 1], position + 1, outputs)]))
                llama_cpp.llama_memory_seq_rm(self.memory, 0, position + 1, -1)
                position += 1
            llama_cpp.llama_memory_seq_rm(self.memory, 0, -1, -1)
        # The fastest of each: the machine may be shared, and a busy moment says nothing of the decode's
        # cost. Speculation plans with the ratio of the two costs alone; a busy machine slows a batch of
        # many tokens more than one of a single token, so the ratio is kept within what a quiet CPU shows.
        per_token = max((min(many) - min(one)) / draft, 1e-5)
        per_step = max(min(one) - per_token, 1e-4)
        low, high = STEP_TO_TOKEN
        cost = StepCost(per_step=min(max(per_step, low * per_token), high * per_token), per_token=per_token)
        # What a prompt token costs read in a chunk of one attention tile, the least a prompt is read in beside
        # generating sequences (the first read of the shape pays for setting it up; the fastest counts).
        prompt = PromptCost(per_token=max(min(tiles) / ATTENTION_TILE, 1e-5))
        if self.speculation:
            # In a tile, attending to the cache costs what it costs a prompt's tokens, which are read in tiles.
            tiled = prompt.per_token * prompt.growth
            cost = StepCost(cost.per_step, cost.per_token, self._context_cost(tokens, min(one)), tiled)
        unit = attention_unit(llama_cpp.llama_model_n_head(self.model.model), self.n_threads, self.n_batch)
        chunks = PromptChunks(prompt, cost, unit=unit, n_ubatch=self.n_batch)
        logger.debug("decode step %s, prompt %s, chunks of %d tokens", cost, chunks.prompt, unit)
        return cost, chunks

    def _context_cost(self, tokens: list[int], short: float) -> float:
        """Seconds a decode step of one token costs more for each token its sequence holds in the cache:
        a step at about CONTEXT_PROBE tokens timed against `short`, one at a few."""
        size = min(CONTEXT_PROBE, self.n_ctx_per_sequence - 8, self.n_batch)
        long = (tokens * (size // len(tokens) + 1))[:size]
        self._timed([(0, long, 0, 1)])
        steps = [self._timed([(0, long[:1], size + i, 1)]) for i in range(5)]
        llama_cpp.llama_memory_seq_rm(self.memory, 0, -1, -1)
        low, high = CONTEXT_TO_STEP
        return min(max((min(steps) - short) / max(1, size - len(tokens)), low * short), high * short)

    def _timed(self, entries: list[tuple[int, list[int], int, int]]) -> float:
        fill_batch(self.batch, entries)
        started = time.perf_counter()
        status = llama_cpp.llama_decode(self.context.ctx, self.batch)
        if status != 0:
            raise RuntimeError(f"llama_decode returned {status} while warming up")
        return time.perf_counter() - started

    # Text

    def tokenize(self, text: str, *, special: bool = True, add_bos: bool | None = None) -> list[int]:
        self.check()
        try:
            data = text.encode()
        except UnicodeEncodeError:
            # A lone surrogate ("\ud800") is valid JSON but no text: nothing can encode it.
            raise InvalidRequestError(
                "The request has text that is not valid Unicode (a lone UTF-16 surrogate such as \\ud800).",
                code="invalid_unicode",
            ) from None
        if add_bos is None:
            add_bos = self.model.add_bos_token()
        tokens: list[int] = self.model.tokenize(data, add_bos, special)
        return tokens

    def piece(self, token: int) -> bytes:
        buffer = ctypes.create_string_buffer(64)
        size = llama_cpp.llama_token_to_piece(self.model.vocab, token, buffer, len(buffer), 0, False)
        if size < 0:
            buffer = ctypes.create_string_buffer(-size)
            size = llama_cpp.llama_token_to_piece(self.model.vocab, token, buffer, len(buffer), 0, False)
        return buffer.raw[:size]

    def metadata(self) -> dict[str, str]:
        return dict(self.model.metadata())

    # Submission

    def submit(self, prompt: list[int], params: SamplingParams) -> Generation:
        """Queue a request; 400 when the prompt does not fit a sequence, 429 when the queue is full."""
        return self.submit_all(prompt, [params])[0]

    def submit_all(self, prompt: list[int], choices: list[SamplingParams]) -> list[Generation]:
        """Queue the choices of one request together, all or none: 400 when they could never fit (the
        prompt is over a sequence's context, or there are more choices than slots and queue places), 429
        when the queue has no room for all of them now."""
        self.check()
        for params in choices:
            self._check_fits(prompt, params)
        room = self.max_queue + self.n_parallel
        if len(choices) > room:
            raise InvalidRequestError(
                f"This model runs at most {room} choices of one request at a time; n={len(choices)} asks for more.",
                param="n",
            )
        loop = asyncio.get_running_loop()
        generations: list[Generation] = []
        try:
            for params in choices:
                generation = Generation(prompt, params, loop)
                generations.append(generation)
                if params.plain:
                    generation.rng = np.random.default_rng(seed_generator(params.seed))
                else:
                    generation.sampler = build_sampler(self.model, params)
            with self._lock:
                self.check()
                # Requests that will find a free slot at the next step are not waiting in the queue.
                free = sum(slot.generation is None for slot in self._slots)
                if len(self._waiting) + len(generations) > self.max_queue + free:
                    raise RateLimitError(
                        "The model is busy: its queue is full. Retry in a moment.", headers={"Retry-After": "1"}
                    )
                self._waiting.extend(generations)
                self._lock.notify()
        except BaseException:
            for generation in generations:
                generation.close()
            raise
        return generations

    def _check_fits(self, prompt: list[int], params: SamplingParams) -> None:
        limit = self.n_ctx_per_sequence
        if len(prompt) >= limit:
            raise InvalidRequestError(
                f"This model's maximum context length is {limit} tokens, but the prompt has {len(prompt)} tokens.",
                param="messages",
                code="context_length_exceeded",
            )
        if params.max_tokens is not None and len(prompt) + params.max_tokens > limit:
            raise InvalidRequestError(
                f"This model's maximum context length is {limit} tokens: the prompt has {len(prompt)} tokens "
                f"and max_tokens asks for {params.max_tokens} more.",
                param="max_tokens",
                code="context_length_exceeded",
            )

    # The scheduler

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._stopping and not self._waiting and not self._active():
                    self._lock.wait()
                if self._stopping:
                    break
                admitted = self._take()
            try:
                for slot, generation in admitted:
                    self._admit(slot, generation)
                self._stepper.iterate(self._live())
            except Exception as exc:  # the thread must survive any one step's failure
                logger.exception("llama scheduler step failed")
                self._fail_active(exc)
            finally:
                self._flush()
        with self._lock:
            waiting, self._waiting = list(self._waiting), collections.deque()
        for generation in waiting:
            generation.close()
            self._send(generation, RuntimeError("the model is shutting down"))
        for slot in self._active():
            self._release(slot, RuntimeError("the model is shutting down"))
        self._flush()

    def _fail_active(self, exc: Exception) -> None:
        """Fail every request in the step and forget what its sequences held: a decode that failed may
        have written part of the batch to the cache, so the cache is cleared rather than trusted."""
        for slot in self._active():
            self._release(slot, exc)
            self._stepper.forget(slot, 0)

    def _send(self, generation: Generation, item: Event | BaseException) -> None:
        self._outbox.append((generation, item))

    def _flush(self) -> None:
        """Hand the step's events to their event loops, one call per loop."""
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[Generation, Event | BaseException]]] = {}
        for generation, item in self._outbox:
            by_loop.setdefault(generation.loop, []).append((generation, item))
        self._outbox = []
        for loop, items in by_loop.items():
            try:
                loop.call_soon_threadsafe(deliver, items)
            except RuntimeError:  # the loop is closed: nobody waits for these events any more
                logger.debug("dropped %d events for a closed event loop", len(items))

    def waiting_count(self) -> int:
        """Requests queued for a free slot."""
        with self._lock:
            return len(self._waiting)

    def active_count(self) -> int:
        """Requests holding a slot now."""
        with self._lock:
            return len(self._active())

    def _active(self) -> list[Slot]:
        return [slot for slot in self._slots if slot.generation is not None]

    def _live(self) -> list[Slot]:
        """The slots whose requests go on; a cancelled one leaves its slot with `CANCELLED`."""
        live = []
        for slot in self._active():
            assert slot.generation is not None
            if slot.generation.cancelled.is_set():
                self._release(slot, CANCELLED)
            else:
                live.append(slot)
        return live

    def _take(self) -> list[tuple[Slot, Generation]]:
        """Pair waiting requests with free slots (under the lock); `_admit` prepares them. Cancelled ones
        leave the queue at once, also when no slot is free: their callers may still read their events,
        and they hold places other requests could have."""
        if any(generation.cancelled.is_set() for generation in self._waiting):
            waiting, self._waiting = self._waiting, collections.deque()
            for generation in waiting:
                if generation.cancelled.is_set():
                    generation.close()
                    self._send(generation, CANCELLED)
                else:
                    self._waiting.append(generation)
        taken: list[tuple[Slot, Generation]] = []
        free = [slot for slot in self._slots if slot.generation is None]
        while self._waiting and free:
            generation = self._waiting.popleft()
            busy = {s.seq_id for s in self._slots if s.generation is not None}
            slot = max(free, key=functools.partial(preference, prompt=generation.prompt, busy=busy))
            free.remove(slot)
            slot.generation = generation
            taken.append((slot, generation))
        return taken

    def _admit(self, slot: Slot, generation: Generation) -> None:
        prompt = generation.prompt
        # Keep the shared prefix in the cache; at least one prompt token must be decoded for logits. A
        # seeded request reads its whole prompt: llama.cpp's logits differ in their last bits between a
        # token decoded in a batch and one decoded alone, so reusing tokens another request decoded could
        # change what the seed draws.
        keep = 0 if generation.params.seed is not None else min(common_prefix(slot.cached, prompt), len(prompt) - 1)
        self._stepper.forget(slot, keep)
        slot.pending = prompt[keep:]
        generation.cached_tokens = keep
        self.stats.requests += 1
        self.stats.prompt_tokens_reused += keep
        self.stats.prompt_tokens_decoded += len(slot.pending)
        slot.prefilling = True
        slot.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        slot.stops = StopMatcher(generation.params.stop)
        slot.completion_tokens = 0
        slot.prompt_tokens = len(prompt)
        slot.lookup = PromptLookup(prompt) if self.speculation else None
        slot.acceptance = Acceptance()

    def _release(self, slot: Slot, end: Event | BaseException | None = None) -> None:
        self._stepper.release(slot, end)
