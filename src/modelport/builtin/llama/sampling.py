"""Per-request sampling: the llama.cpp sampler chain, stop strings, and log-probabilities."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import numpy as np
from llama_cpp import _internals as internals
from llama_cpp import llama_grammar

# How many recent tokens the presence and frequency penalties look back over.
PENALTY_WINDOW = 256


@dataclass(frozen=True)
class SamplingParams:
    """What one request asks of the sampler; OpenAI's defaults."""

    max_tokens: int | None = None
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    logit_bias: dict[int, float] = field(default_factory=dict)
    # None: no log-probabilities; k >= 0: the chosen token's and the k most likely alternatives'.
    logprobs: int | None = None
    # A GBNF grammar the output must match (tool calls, JSON).
    grammar: str | None = None

    @property
    def plain_greedy(self) -> bool:
        """Whether the next token is simply the most likely one: no randomness, biases, penalties or grammar."""
        return (
            self.temperature <= 0
            and not self.logit_bias
            and not self.presence_penalty
            and not self.frequency_penalty
            and self.grammar is None
        )


def build_sampler(model: internals.LlamaModel, params: SamplingParams) -> internals.LlamaSampler:
    """A sampler chain in llama.cpp's usual order: biases, penalties, grammar, then top-p, temperature, draw."""
    chain = internals.LlamaSampler()
    if params.logit_bias:
        chain.add_logit_bias(model.n_vocab(), params.logit_bias)
    if params.presence_penalty or params.frequency_penalty:
        chain.add_penalties(model.n_vocab(), PENALTY_WINDOW, 1.0, params.frequency_penalty, params.presence_penalty)
    if params.grammar is not None:
        chain.add_grammar(model, llama_grammar.LlamaGrammar.from_string(params.grammar, verbose=False))
    if params.temperature <= 0:
        chain.add_greedy()
        return chain
    if params.top_p < 1.0:
        chain.add_top_p(params.top_p, 1)
    chain.add_temp(params.temperature)
    chain.add_dist(params.seed if params.seed is not None else random.getrandbits(32))
    return chain


def token_logprobs(logits: np.ndarray, token: int, top: int) -> tuple[float, list[tuple[int, float]]]:
    """The chosen token's log-probability under the model, and the `top` most likely tokens'."""
    shifted = logits - logits.max()
    log_probs = shifted - np.log(np.exp(shifted).sum())
    best: list[tuple[int, float]] = []
    if top > 0:
        indexes = np.argpartition(-log_probs, top)[:top]
        indexes = indexes[np.argsort(-log_probs[indexes])]
        best = [(int(i), float(log_probs[i])) for i in indexes]
    return float(log_probs[token]), best


class StopMatcher:
    """Finds stop strings in generated text, holding back a tail that may be the start of one."""

    def __init__(self, stops: tuple[str, ...]) -> None:
        self.stops = tuple(s for s in stops if s)
        self.text = ""
        self.emitted = 0

    def feed(self, piece: str) -> tuple[str, bool]:
        """Add `piece`; return the text now safe to send and whether a stop string was reached."""
        self.text += piece
        for stop in self.stops:
            # Search from where a stop string could start without having been found before.
            start = max(0, self.emitted - len(stop) + 1)
            found = self.text.find(stop, start)
            if found != -1:
                out = self.text[self.emitted : found]
                self.emitted = len(self.text)
                return out, True
        safe = len(self.text) - self._held_back()
        out = self.text[self.emitted : safe]
        self.emitted = max(self.emitted, safe)
        return out, False

    def flush(self) -> str:
        out = self.text[self.emitted :]
        self.emitted = len(self.text)
        return out

    def _held_back(self) -> int:
        longest = 0
        for stop in self.stops:
            for size in range(min(len(stop) - 1, len(self.text)), longest, -1):
                if self.text.endswith(stop[:size]):
                    longest = size
                    break
        return longest
