"""Per-request sampling: the llama.cpp sampler chain, stop strings, and log-probabilities."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from llama_cpp import _internals as internals
from llama_cpp import llama_grammar

from modelport.errors import InvalidRequestError

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
    def plain(self) -> bool:
        """Whether the next token comes from the model's distribution alone, at a temperature: no top-p cut,
        biases, penalties or grammar, so `LogitSampler` can draw it straight from the logits."""
        return (
            self.top_p >= 1.0
            and not self.logit_bias
            and not self.presence_penalty
            and not self.frequency_penalty
            and self.grammar is None
        )


class LogitSampler:
    """Draws a token from raw logits at a temperature (the most likely one at temperature 0).

    llama.cpp's chain copies every logit into a candidate list and exponentiates them one at a time, about
    1.4 ms a token for this vocabulary of 152k, all of it between two decode steps. Here the exponentials
    are vectorised and the draw finds its block of 128 tokens first, then the token in it: about 0.25 ms.
    """

    BLOCK = 128

    def __init__(self, n_vocab: int) -> None:
        self.n_vocab = n_vocab
        # The weights, padded with zeros to whole blocks; only the scheduler thread uses it.
        self._weights = np.zeros(n_vocab + (-n_vocab) % self.BLOCK, dtype=np.float32)

    def draw(self, logits: np.ndarray, temperature: float, rng: np.random.Generator) -> int:
        if temperature <= 0:
            return int(logits.argmax())
        totals = self._weigh(logits, temperature)
        return self._locate(totals, self._point(totals, rng))

    def verify(self, logits: np.ndarray, temperature: float, draft: int, rng: np.random.Generator) -> int:
        """The token at a position where speculation proposed `draft`, by the speculative rejection rule.

        The draft is one token for certain (its distribution q is a point mass), so the rule reads: keep the
        draft with probability p(draft); otherwise draw from p with the draft removed and the rest
        renormalised. Whatever is returned is distributed as p. At temperature 0 p is a point mass too: the
        draft is kept when it is the most likely token.

        One uniform number decides both steps. Laid along the cumulative weights, it falls in the draft's
        share with probability p(draft); when it falls outside, the token it falls on is, given that, a draw
        from the other tokens renormalised. It is the number `draw` would take, and it picks the token `draw`
        would pick, so a seeded request draws the same text with speculation as without.
        """
        if temperature <= 0:
            return int(logits.argmax())
        totals = self._weigh(logits, temperature)
        point = self._point(totals, rng)
        block = draft // self.BLOCK
        below = (float(totals[block - 1]) if block else 0.0) + float(
            self._weights[block * self.BLOCK : draft].sum(dtype=np.float64)
        )
        if below <= point < below + float(self._weights[draft]):
            return draft
        return self._locate(totals, point)

    def _weigh(self, logits: np.ndarray, temperature: float) -> np.ndarray:
        """Fill the weights from the logits; return the cumulative total of each block of them."""
        weights = self._weights[: self.n_vocab]
        np.subtract(logits, logits.max(), out=weights)
        np.multiply(weights, 1.0 / temperature, out=weights)
        np.exp(weights, out=weights)
        return np.cumsum(self._weights.reshape(-1, self.BLOCK).sum(axis=1, dtype=np.float64))

    @staticmethod
    def _point(totals: np.ndarray, rng: np.random.Generator) -> float:
        # A point in [0, total), kept strictly inside so rounding cannot land past the last weight.
        return float(min(rng.random() * totals[-1], np.nextafter(totals[-1], 0.0)))

    def _locate(self, totals: np.ndarray, point: float) -> int:
        """The token whose share of the cumulative weights holds `point`."""
        block = int(np.searchsorted(totals, point, side="right"))
        start = block * self.BLOCK
        inside = np.cumsum(self._weights[start : start + self.BLOCK], dtype=np.float64)
        point = min(point - (totals[block - 1] if block else 0.0), np.nextafter(inside[-1], 0.0))
        return start + int(np.searchsorted(inside, point, side="right"))


def seed_generator(seed: int | None) -> np.random.SeedSequence:
    """The source of a request's random draws: from its seed (any integer, negative ones included), or
    fresh entropy without one. Only the seed decides the draws; nothing carries over between requests."""
    if seed is None:
        return np.random.SeedSequence()
    return np.random.SeedSequence(seed & (2**64 - 1))


def build_sampler(model: internals.LlamaModel, params: SamplingParams) -> internals.LlamaSampler:
    """A sampler chain in llama.cpp's usual order: biases, penalties, grammar, then top-p, temperature, draw."""
    grammar = None
    if params.grammar is not None:
        try:
            grammar = llama_grammar.LlamaGrammar.from_string(params.grammar, verbose=False)
        except ValueError as exc:
            raise InvalidRequestError(f"The output format cannot be enforced: {exc}", param="response_format") from None
    chain = internals.LlamaSampler()
    if params.logit_bias:
        chain.add_logit_bias(model.n_vocab(), params.logit_bias)
    if params.presence_penalty or params.frequency_penalty:
        chain.add_penalties(model.n_vocab(), PENALTY_WINDOW, 1.0, params.frequency_penalty, params.presence_penalty)
    if grammar is not None:
        chain.add_grammar(model, grammar)
    if params.temperature <= 0:
        chain.add_greedy()
        return chain
    if params.top_p < 1.0:
        chain.add_top_p(params.top_p, 1)
    chain.add_temp(params.temperature)
    # llama.cpp's draw takes a 32-bit seed, and reads 0xFFFFFFFF as "random".
    chain.add_dist(int(seed_generator(params.seed).generate_state(1)[0]) % 0xFFFFFFFF)
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
        self.matched: str | None = None

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
                self.matched = stop
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
