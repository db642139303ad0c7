"""One scheduler step: the batch it feeds, the tokens it samples, the drafts it keeps, the events it sends."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import llama_cpp
import numpy as np

from modelport.builtin.llama.batching import Feed, PromptChunks, fill_batch, plan_step
from modelport.builtin.llama.generation import Event, Generation, TokenLogprob
from modelport.builtin.llama.sampling import LogitSampler, token_logprobs
from modelport.builtin.llama.slots import Slot
from modelport.builtin.llama.speculation import ATTENTION_TILE, MAX_DRAFT, Offer, StepCost, plan

# Most draft tokens verified in one step, over all sequences: they all need logits, which llama.cpp
# reserves room for up front (4 bytes a vocabulary entry: 0.6 MB a token for the 0.5B model). Four
# sequences may verify a whole attention tile each.
DRAFT_BUDGET = 4 * ATTENTION_TILE


@dataclass
class EngineStats:
    """Counters for tests and benchmarks: how much prompt work the prefix cache saved, and how much
    speculation proposed and kept."""

    prompt_tokens_decoded: int = 0
    prompt_tokens_reused: int = 0
    # Prompt tokens in the cache so far: `prompt_tokens_decoded` counts a prompt's whole when it takes a
    # slot, this its chunks as the steps read them.
    prompt_tokens_read: int = 0
    requests: int = 0
    draft_tokens: int = 0
    accepted_tokens: int = 0
    # The most draft tokens one sequence verified in one step.
    longest_draft: int = 0


class Stepper:
    """Runs the scheduler's steps on a loaded llama.cpp context (on the scheduler thread only)."""

    def __init__(
        self,
        context: llama_cpp.llama_context_p,
        vocab: llama_cpp.llama_vocab_p,
        batch: llama_cpp.llama_batch,
        *,
        n_vocab: int,
        n_batch: int,
        n_ctx_per_sequence: int,
        piece: Callable[[int], bytes],
        send: Callable[[Generation, Event | BaseException], None],
        cost: StepCost,
        prefill_chunk: PromptChunks,
        stats: EngineStats,
    ) -> None:
        self.ctx = context
        self.memory = llama_cpp.llama_get_memory(context)
        self.vocab = vocab
        self.batch = batch
        self.n_vocab = n_vocab
        self.n_batch = n_batch
        self.n_ctx_per_sequence = n_ctx_per_sequence
        self.piece = piece
        self.send = send
        self.cost = cost
        self.prefill_chunk = prefill_chunk
        self.stats = stats
        self.sampler = LogitSampler(n_vocab)
        self.step = 0

    def iterate(self, active: list[Slot]) -> None:
        """One step over the slots that hold a request (the engine has let the cancelled ones go)."""
        self.step += 1
        if not active:
            return
        feeds = plan_step(active, self._drafts(active), self.n_batch, self.prefill_chunk)
        fill_batch(self.batch, [(f.slot.seq_id, f.tokens, f.start, f.outputs) for f in feeds])
        status = llama_cpp.llama_decode(self.ctx, self.batch)
        if status != 0:
            raise RuntimeError(f"llama_decode returned {status}")
        for feed in feeds:
            feed.slot.cached.extend(feed.tokens)
            if feed.slot.prefilling:
                self.stats.prompt_tokens_read += len(feed.tokens)
        for feed in feeds:
            slot = feed.slot
            if slot.prefilling:
                slot.pending = slot.pending[len(feed.tokens) :]
                if slot.pending:
                    continue
                slot.prefilling = False
            self._advance(feed)

    def _drafts(self, active: list[Slot]) -> dict[int, list[int]]:
        """The draft tokens each generating slot verifies in this step, within what its request may still
        generate and its context still holds."""
        # A step that reads a prompt drafts nothing: the prompt's chunk already makes it as long as the others
        # should wait for their next tokens, and drafts would make it longer and the prompt slower to read.
        if any(slot.prefilling for slot in active):
            return {}
        offered: list[tuple[Slot, list[int], float]] = []
        for slot in active:
            if slot.lookup is None:
                continue
            assert slot.generation is not None
            limit = min(MAX_DRAFT, self.n_ctx_per_sequence - len(slot.cached) - 2)
            if slot.generation.params.max_tokens is not None:
                limit = min(limit, slot.generation.params.max_tokens - slot.completion_tokens - 1)
            draft = slot.lookup.draft(limit)
            if draft:
                offered.append((slot, draft, slot.acceptance.rate(slot.lookup.match)))
            else:
                slot.acceptance.rest()
        if not offered:
            return {}
        # What the step feeds without drafts: a token per generating sequence.
        fed = {slot.seq_id: len(slot.pending) for slot in active}
        lengths = plan(
            [Offer(slot.seq_id, len(draft), rate) for slot, draft, rate in offered],
            fed=fed,
            base_yield=len(active),
            cost=self.cost,
            budget=DRAFT_BUDGET,
            n_ubatch=self.n_batch,
            contexts={slot.seq_id: len(slot.cached) for slot in active},
        )
        drafts = {}
        for (slot, draft, _), length in zip(offered, lengths, strict=True):
            if length:
                drafts[slot.seq_id] = draft[:length]
            else:
                slot.acceptance.rest()
        return drafts

    def _advance(self, feed: Feed) -> None:
        """Sample the slot's next token from the logits after its last fed token, and after each draft
        the model agrees with; send their text as one event; drop the drafts it did not keep."""
        slot = feed.slot
        drafts = feed.tokens[len(feed.tokens) - feed.drafts :] if feed.drafts else []
        first = feed.index + len(feed.tokens) - 1 - len(drafts)
        texts: list[str] = []
        details: list[TokenLogprob] = []
        kept = 0
        ending: tuple[str, str | None] | None = None
        token = -1
        for j in range(len(drafts) + 1):
            token = self._draw(slot, first + j, drafts[j] if j < len(drafts) else None, details)
            # The token just drawn follows the fed ones up to position j, all of which stay in the cache.
            ending = self._take(slot, token, texts, details, position=len(slot.cached) - len(drafts) + j)
            if ending is not None or j == len(drafts) or token != drafts[j]:
                break
            kept += 1
        rejected = len(drafts) - kept
        if rejected:
            self.forget(slot, len(slot.cached) - rejected)
        if drafts:
            # A draft token was compared unless the request ended before it.
            slot.acceptance.record(kept, kept + (ending is None and kept < len(drafts)))
            self.stats.draft_tokens += len(drafts)
            self.stats.longest_draft = max(self.stats.longest_draft, len(drafts))
            self.stats.accepted_tokens += kept
        if ending is not None:
            reason, stop = ending
            self._finish(slot, "".join(texts), reason, details, stop=stop)
            return
        slot.pending = [token]
        text = "".join(texts)
        if text or details:
            assert slot.generation is not None
            self.send(slot.generation, self._event(slot, text, details))

    def _draw(self, slot: Slot, index: int, draft: int | None, details: list[TokenLogprob]) -> int:
        """The token after batch position `index`, as the request's sampling draws it; where a draft is
        to be verified, by the speculative rejection rule (the request's own chain draws once and keeps
        the draft when it draws it, which is the same rule: see `LogitSampler.verify`)."""
        generation = slot.generation
        assert generation is not None
        params = generation.params
        logits = None
        if params.logprobs is not None or generation.rng is not None:
            pointer = llama_cpp.llama_get_logits_ith(self.ctx, index)
            logits = np.ctypeslib.as_array(pointer, shape=(self.n_vocab,))
        if logits is not None and generation.rng is not None:
            if draft is None:
                token = self.sampler.draw(logits, params.temperature, generation.rng)
            else:
                token = self.sampler.verify(logits, params.temperature, draft, generation.rng)
        else:
            assert generation.sampler is not None
            token = llama_cpp.llama_sampler_sample(generation.sampler.sampler, self.ctx, index)
        if logits is not None and params.logprobs is not None and not self._is_end(token):
            chosen, top = token_logprobs(logits, token, params.logprobs)
            alternatives = [(self._text(t), list(self.piece(t)), lp) for t, lp in top]
            details.append(TokenLogprob(self._text(token), list(self.piece(token)), chosen, alternatives))
        return token

    def _take(
        self, slot: Slot, token: int, texts: list[str], details: list[TokenLogprob], *, position: int
    ) -> tuple[str, str | None] | None:
        """Add a sampled token to the slot's output (its text to `texts`); return the finish reason and
        stop string if the request ends with it. `position` is where the token would go in the cache."""
        generation, decoder, stops = slot.generation, slot.decoder, slot.stops
        assert generation is not None
        assert decoder is not None
        assert stops is not None
        slot.completion_tokens += 1
        slot.last_used = self.step
        if self._is_end(token):
            texts.append(stops.flush() + decoder.decode(b"", final=True))
            return "stop", None
        text, stopped = stops.feed(decoder.decode(self.piece(token)))
        texts.append(text)
        if stopped:
            return "stop", stops.matched
        max_tokens = generation.params.max_tokens
        if (max_tokens is not None and slot.completion_tokens >= max_tokens) or position >= self.n_ctx_per_sequence - 1:
            texts.append(stops.flush())
            return "length", None
        if slot.lookup is not None:
            slot.lookup.extend((token,))
        return None

    def _is_end(self, token: int) -> bool:
        return bool(llama_cpp.llama_vocab_is_eog(self.vocab, token))

    def _text(self, token: int) -> str:
        return self.piece(token).decode("utf-8", errors="replace")

    def _event(
        self,
        slot: Slot,
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
        self, slot: Slot, text: str, reason: str, details: list[TokenLogprob] | None = None, stop: str | None = None
    ) -> None:
        assert slot.generation is not None
        self.send(slot.generation, self._event(slot, text, details, reason, stop))
        self.release(slot)

    def forget(self, slot: Slot, keep: int) -> None:
        """Keep only the slot's first `keep` cached tokens, in llama.cpp's cache as in `slot.cached`."""
        llama_cpp.llama_memory_seq_rm(self.memory, slot.seq_id, keep, -1)
        del slot.cached[keep:]

    def release(self, slot: Slot, end: Event | BaseException | None = None) -> None:
        """Free the slot; `end` is the item that ends its request's events when the step has not sent one
        (an error, or `CANCELLED`)."""
        if slot.generation is not None:
            if end is not None:
                self.send(slot.generation, end)
            slot.generation.close()
        slot.generation = slot.decoder = slot.stops = slot.lookup = None
        slot.pending = []
        slot.prefilling = False
