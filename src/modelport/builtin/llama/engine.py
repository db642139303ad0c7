"""Continuous batching on llama.cpp: one scheduler thread owns the model and decodes every active
sequence in one batch per step.

A request is a prompt (token ids) and its sampling parameters. The scheduler gives it a slot (a llama.cpp
sequence id), reusing the slot whose cached tokens share the longest prefix with the prompt, feeds the
rest of the prompt in chunks beside the other slots' single decode tokens, samples each slot's next token
(straight from the logits, or through the request's own llama.cpp sampler chain when it asks for top-p,
penalties, biases or a grammar), and sends text events to the request's asyncio queue. A request that is
cancelled (its client went away) leaves its slot at the next step.

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
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import llama_cpp
import numpy as np
from llama_cpp import _internals as internals

from modelport.builtin.llama.sampling import (
    LogitSampler,
    SamplingParams,
    StopMatcher,
    build_sampler,
    seed_generator,
    token_logprobs,
)
from modelport.errors import InvalidRequestError, RateLimitError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TokenLogprob:
    token: str
    bytes: list[int]
    logprob: float
    top: list[tuple[str, list[int], float]]


@dataclass(frozen=True)
class Event:
    """New text for one request; the last event of a request carries its finish reason. Every event has
    the request's token counts so far, so a consumer that ends a request early knows its usage."""

    text: str
    logprobs: list[TokenLogprob] = field(default_factory=list)
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    # Prompt tokens whose cache entries were reused from an earlier request instead of decoded.
    cached_tokens: int = 0
    stop: str | None = None
    """The stop string that ended the text, when one did."""


class Generation:
    """A submitted request: iterate it for events; `cancel()` frees its slot at the next step."""

    def __init__(self, prompt: list[int], params: SamplingParams, loop: asyncio.AbstractEventLoop) -> None:
        self.prompt = prompt
        self.params = params
        self.loop = loop
        self._queue: asyncio.Queue[Event | BaseException] = asyncio.Queue()
        self.cancelled = threading.Event()
        # The request's own llama.cpp sampler chain, or, for plain sampling, its random generator: made at
        # submission, so nothing about the request can fail once it holds a slot.
        self.sampler: internals.LlamaSampler | None = None
        self.rng: np.random.Generator | None = None
        self.cached_tokens = 0

    def close(self) -> None:
        """Free the sampler chain; the scheduler calls it when the request leaves (or never gets) a slot."""
        if self.sampler is not None:
            self.sampler.close()
            self.sampler = None

    def cancel(self) -> None:
        self.cancelled.set()

    def deliver(self, item: Event | BaseException) -> None:
        """Called on the generation's event loop."""
        self._queue.put_nowait(item)

    async def events(self) -> AsyncIterator[Event]:
        try:
            while True:
                item = await self._queue.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
                if item.finish_reason is not None:
                    return
        finally:
            self.cancel()


@dataclass
class _Slot:
    seq_id: int
    cached: list[int] = field(default_factory=list)
    pending: list[int] = field(default_factory=list)
    generation: Generation | None = None
    decoder: codecs.IncrementalDecoder | None = None
    stops: StopMatcher | None = None
    completion_tokens: int = 0
    last_used: int = 0


@dataclass
class EngineStats:
    """Counters for tests and benchmarks: how much prompt work the prefix cache saved."""

    prompt_tokens_decoded: int = 0
    prompt_tokens_reused: int = 0
    requests: int = 0


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
    ) -> None:
        self.model_path = model_path
        self.n_parallel = n_parallel
        self.n_ctx_per_sequence = n_ctx_per_sequence
        self.n_batch = n_batch
        self.n_threads = n_threads or os.cpu_count() or 1
        self.max_queue = max_queue
        self._waiting: collections.deque[Generation] = collections.deque()
        self._lock = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._step = 0
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
            self._release(slot, error=error)
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
        # A step needs logits for at most one token per sequence; reserving room for a whole batch of them
        # (the default) makes the compute buffer 300 MB instead of 40 and every decode slower.
        context_params.n_outputs_max = self.n_parallel
        context_params.n_threads = self.n_threads
        context_params.n_threads_batch = self.n_threads
        # Each sequence gets its own share of the cache, so one long conversation cannot starve the others.
        context_params.kv_unified = False
        self.context = internals.LlamaContext(model=self.model, params=context_params, verbose=False)
        self.memory = llama_cpp.llama_get_memory(self.context.ctx)
        self.batch = llama_cpp.llama_batch_init(self.n_batch, 0, 1)
        self.n_vocab = self.model.n_vocab()
        self._logit_sampler = LogitSampler(self.n_vocab)
        self._slots = [_Slot(seq_id=i) for i in range(self.n_parallel)]
        self._warm_up()

    def _warm_up(self) -> None:
        # The first decodes of each shape are several times slower than the rest; pay for a prompt's and a
        # decode step's before serving.
        tokens = self.tokenize("Hello, warm-up.", special=False)
        for _ in range(2):
            self._fill_batch([(0, tokens, 0, True)])
            llama_cpp.llama_decode(self.context.ctx, self.batch)
            for step in range(4):
                self._fill_batch([(0, tokens[:1], len(tokens) + step, True)])
                llama_cpp.llama_decode(self.context.ctx, self.batch)
            llama_cpp.llama_memory_seq_rm(self.memory, 0, -1, -1)

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
                self._iterate()
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
            self._release(slot, error=RuntimeError("the model is shutting down"))
        self._flush()

    def _fail_active(self, exc: Exception) -> None:
        """Fail every request in the step and forget what its sequences held: a decode that failed may
        have written part of the batch to the cache, so the cache is cleared rather than trusted."""
        for slot in self._active():
            self._release(slot, error=exc)
            llama_cpp.llama_memory_seq_rm(self.memory, slot.seq_id, -1, -1)
            slot.cached = []

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
                loop.call_soon_threadsafe(_deliver, items)
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

    def _active(self) -> list[_Slot]:
        return [slot for slot in self._slots if slot.generation is not None]

    def _take(self) -> list[tuple[_Slot, Generation]]:
        """Pair waiting requests with free slots (under the lock); `_admit` prepares them."""
        taken: list[tuple[_Slot, Generation]] = []
        free = [slot for slot in self._slots if slot.generation is None]
        while self._waiting and free:
            generation = self._waiting.popleft()
            if generation.cancelled.is_set():
                generation.close()
                continue
            busy = {s.seq_id for s in self._slots if s.generation is not None}
            slot = max(free, key=functools.partial(_preference, prompt=generation.prompt, busy=busy))
            free.remove(slot)
            slot.generation = generation
            taken.append((slot, generation))
        return taken

    def _admit(self, slot: _Slot, generation: Generation) -> None:
        prompt = generation.prompt
        # Keep the shared prefix in the cache; at least one prompt token must be decoded for logits. A
        # seeded request reads its whole prompt: llama.cpp's logits differ in their last bits between a
        # token decoded in a batch and one decoded alone, so reusing tokens another request decoded could
        # change what the seed draws.
        keep = 0 if generation.params.seed is not None else min(_common_prefix(slot.cached, prompt), len(prompt) - 1)
        llama_cpp.llama_memory_seq_rm(self.memory, slot.seq_id, keep, -1)
        slot.cached = prompt[:keep]
        slot.pending = prompt[keep:]
        generation.cached_tokens = keep
        self.stats.requests += 1
        self.stats.prompt_tokens_reused += keep
        self.stats.prompt_tokens_decoded += len(slot.pending)
        slot.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        slot.stops = StopMatcher(generation.params.stop)
        slot.completion_tokens = 0

    def _iterate(self) -> None:
        self._step += 1
        budget = self.n_batch
        feeds: dict[int, list[int]] = {}
        # Slots that are decoding take one token each first; prompts fill the rest of the batch.
        for slot in sorted(self._active(), key=lambda s: len(s.pending)):
            assert slot.generation is not None
            if slot.generation.cancelled.is_set():
                self._release(slot)
                continue
            if budget == 0:
                break
            feeds[slot.seq_id] = slot.pending[:budget]
            budget -= len(feeds[slot.seq_id])
        if not feeds:
            return
        # In the batch, sequences go in id order, so consecutive ids can share one ubatch.
        entries: list[tuple[int, list[int], int, bool]] = []
        sampling: list[tuple[_Slot, int]] = []
        position = 0
        for seq_id in sorted(feeds):
            slot, feed = self._slots[seq_id], feeds[seq_id]
            done = len(feed) == len(slot.pending)
            entries.append((seq_id, feed, len(slot.cached), done))
            position += len(feed)
            if done:
                sampling.append((slot, position - 1))
        self._fill_batch(entries)
        status = llama_cpp.llama_decode(self.context.ctx, self.batch)
        if status != 0:
            raise RuntimeError(f"llama_decode returned {status}")
        for seq_id, feed, _, _ in entries:
            slot = self._slots[seq_id]
            slot.cached.extend(feed)
            slot.pending = slot.pending[len(feed) :]
        for slot, index in sampling:
            self._sample(slot, index)

    def _fill_batch(self, entries: list[tuple[int, list[int], int, bool]]) -> None:
        batch = self.batch
        n = 0
        for seq_id, tokens, start, wants_logits in entries:
            for offset, token in enumerate(tokens):
                batch.token[n] = token
                batch.pos[n] = start + offset
                batch.n_seq_id[n] = 1
                batch.seq_id[n][0] = seq_id
                batch.logits[n] = wants_logits and offset == len(tokens) - 1
                n += 1
        batch.n_tokens = n

    def _sample(self, slot: _Slot, index: int) -> None:
        generation, decoder, stops = slot.generation, slot.decoder, slot.stops
        assert generation is not None
        assert decoder is not None
        assert stops is not None
        params = generation.params
        logits = None
        if params.logprobs is not None or generation.rng is not None:
            pointer = llama_cpp.llama_get_logits_ith(self.context.ctx, index)
            logits = np.ctypeslib.as_array(pointer, shape=(self.n_vocab,))
        if logits is not None and generation.rng is not None:
            token = self._logit_sampler.draw(logits, params.temperature, generation.rng)
        else:
            assert generation.sampler is not None
            token = llama_cpp.llama_sampler_sample(generation.sampler.sampler, self.context.ctx, index)
        slot.completion_tokens += 1
        slot.last_used = self._step
        if llama_cpp.llama_vocab_is_eog(self.model.vocab, token):
            self._finish(slot, stops.flush() + decoder.decode(b"", final=True), "stop")
            return
        raw = self.piece(token)
        text, stopped = stops.feed(decoder.decode(raw))
        details = []
        if logits is not None and params.logprobs is not None:
            chosen, top = token_logprobs(logits, token, params.logprobs)
            alternatives = [(self._text(t), list(self.piece(t)), lp) for t, lp in top]
            details.append(TokenLogprob(self._text(token), list(raw), chosen, alternatives))
        if stopped:
            self._finish(slot, text, "stop", details, stop=stops.matched)
            return
        room = self.n_ctx_per_sequence - len(slot.cached) - 1
        if (params.max_tokens is not None and slot.completion_tokens >= params.max_tokens) or room <= 0:
            self._finish(slot, text + stops.flush(), "length", details)
            return
        slot.pending = [token]
        if text or details:
            self._send(generation, self._event(slot, text, details))

    def _text(self, token: int) -> str:
        return self.piece(token).decode("utf-8", errors="replace")

    def _event(
        self,
        slot: _Slot,
        text: str,
        details: list[TokenLogprob] | None = None,
        reason: str | None = None,
        stop: str | None = None,
    ) -> Event:
        generation = slot.generation
        assert generation is not None
        return Event(
            text,
            details or [],
            finish_reason=reason,
            prompt_tokens=len(generation.prompt),
            completion_tokens=slot.completion_tokens,
            cached_tokens=generation.cached_tokens,
            stop=stop,
        )

    def _finish(
        self, slot: _Slot, text: str, reason: str, details: list[TokenLogprob] | None = None, stop: str | None = None
    ) -> None:
        assert slot.generation is not None
        self._send(slot.generation, self._event(slot, text, details, reason, stop))
        self._release(slot)

    def _release(self, slot: _Slot, error: BaseException | None = None) -> None:
        if slot.generation is not None:
            if error is not None:
                self._send(slot.generation, error)
            slot.generation.close()
        slot.generation = slot.decoder = slot.stops = None
        slot.pending = []


def _deliver(items: list[tuple[Generation, Event | BaseException]]) -> None:
    for generation, item in items:
        generation.deliver(item)


def _preference(slot: _Slot, *, prompt: list[int], busy: set[int]) -> tuple[int, bool, int]:
    """How well a free slot suits a prompt: the longest cached prefix first; then a slot next to a busy one,
    since llama.cpp decodes only consecutive sequence ids in one ubatch and scattered slots would split a
    step into several; then the least recently used."""
    return _common_prefix(slot.cached, prompt), bool({slot.seq_id - 1, slot.seq_id + 1} & busy), -slot.last_used


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i
