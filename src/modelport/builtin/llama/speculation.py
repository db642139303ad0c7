"""Prompt-lookup speculative decoding: drafts found in a sequence's own text, and how many are worth verifying.

A model asked to give code back with a small change mostly copies: the tokens after the last few it wrote
are usually the ones that followed the same tokens in the prompt (or earlier in its own output). The
scheduler looks them up (`PromptLookup`), feeds them after the sequence's last token in the same batch, and
keeps the prefix the model agrees with. Verifying a draft token costs a share of a batch (on a CPU nearly
as much as the step's own token): it pays only when the token is likely to be accepted. How likely starts
from how long the match behind the draft is (a place found by its last two tokens is a guess, one found by
its last twenty is a copy in progress) and follows the sequence's own record (`Acceptance`); `plan` spends
a step's draft tokens where they are expected to buy the most tokens per second, so prose, whose short
matches are rarely continued, seldom drafts, and a sequence whose drafts fail stops drafting at once (and
tries again later, as its record fades).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

# llama.cpp's CPU flash attention computes 64 query rows of a sequence together (GGML_FA_TILE_Q) when its
# ubatch holds at least that many tokens of the sequence, and one row at a time when fewer. One row at a
# time, a token attending to 1,000 cached tokens costs half again what it does in a tile (the 0.5B model on
# two cores: 20 ms against 11-13 ms a verified token, bench/draft_cost.py), so a sequence copying its prompt
# verifies a whole tile of drafts at once.
ATTENTION_TILE = 64
# Longest draft for one sequence in one step: a tile, and the tokens llama.cpp may decode in ubatches it
# shares with the other sequences before the sequence's own ubatch.
MAX_DRAFT = 2 * ATTENTION_TILE
# The n-gram keys a draft is looked up by: the longer key first, for it finds the aligned place in code
# whose short n-grams ("\n    ", "):") occur everywhere.
KEYS = (4, 2)
# Occurrences of a key considered (the most recent), and how far back a candidate's match is compared.
CANDIDATES = 32
LONGEST_MATCH = 32


class PromptLookup:
    """The tokens of one sequence (prompt, then output) and where each of its n-grams occurred."""

    def __init__(self, tokens: Iterable[int] = ()) -> None:
        self.tokens: list[int] = []
        # n-gram -> the indexes of the token after each of its occurrences.
        self._after: dict[tuple[int, ...], list[int]] = {}
        # Where the last draft came from, and how far the sequence has followed it since.
        self._source: int | None = None
        # How many of the sequence's last tokens equal the ones before `_source`.
        self.match = 0
        self.extend(tokens)

    def extend(self, tokens: Iterable[int]) -> None:
        for token in tokens:
            if self._source is not None:
                # Still copying from the same place: the next draft continues there without a search.
                follows = self._source < len(self.tokens) and self.tokens[self._source] == token
                self._source = self._source + 1 if follows else None
                self.match = self.match + 1 if follows else 0
            self.tokens.append(token)
            end = len(self.tokens)
            for size in KEYS:
                if end >= size:
                    self._after.setdefault(tuple(self.tokens[end - size :]), []).append(end)

    def draft(self, limit: int) -> list[int]:
        """Up to `limit` tokens that followed the place where the sequence's last tokens occurred before."""
        if limit <= 0:
            return []
        if self._source is None or self._source >= len(self.tokens):
            self._source, self.match = self._find()
        return [] if self._source is None else self.tokens[self._source : self._source + limit]

    def _find(self) -> tuple[int | None, int]:
        tokens, end = self.tokens, len(self.tokens)
        for size in KEYS:
            if end < size:
                continue
            places = self._after.get(tuple(tokens[end - size :]), ())
            best, best_length = None, 0
            # The last entry is the sequence's end itself, which has nothing after it yet.
            for place in reversed(places[-CANDIDATES - 1 :]):
                if place >= end:
                    continue
                length = _matched(tokens, place, end, size)
                if length > best_length:  # on a tie the most recent place stays
                    best, best_length = place, length
            if best is not None:
                return best, best_length
        return None, 0


def _matched(tokens: list[int], place: int, end: int, size: int) -> int:
    """How many tokens before `place` equal the ones before `end`, knowing the last `size` do."""
    length = size
    while length < LONGEST_MATCH and place > length and tokens[place - length - 1] == tokens[end - length - 1]:
        length += 1
    return length


# The chance that a draft token is accepted, before the sequence has a record: a match of MATCH_HALF tokens
# gives even odds, and each MATCH_HALF more halves the odds against (a copy that has gone on for a while
# tends to go on: a 32-token match is a copy in progress, and at four sequences only drafts believed 98%
# likely pay, see `plan`).
MATCH_HALF = 6.0
# How many draft tokens of evidence that prior counts as, against the sequence's own record.
PRIOR_WEIGHT = 2.0
# How much one step's evidence weighs against the past: with 0.8, about the last five steps count.
DECAY = 0.8
# While a sequence does not draft, its record fades at this rate a step, back to the prior, so a sequence
# that stopped drafting tries again after a while: the text it copies may have changed.
RECOVERY = 0.97
# The highest rate believed: even a long run of accepted drafts does not make the next one certain. A copy
# in progress is accepted nearly always (99-100% of the drafts of four code edits at once), and on a CPU
# only long drafts pay: four sequences at 1,000 cached tokens verify a tile each when they are believed
# 98% likely, and 0.995 expects 55 tokens of a tile's 64.
CEILING = 0.995


def match_prior(match: int) -> float:
    """The chance a draft token is accepted, from the length of the match it was found by alone."""
    return 1.0 - float(0.5 ** (match / MATCH_HALF))


@dataclass
class Acceptance:
    """A sequence's recent record of draft tokens compared with the model's choice and accepted (each given
    the ones before it were), as decayed counts."""

    accepted: float = 0.0
    tried: float = 0.0

    def rate(self, match: int) -> float:
        """The probability that a draft token found by a match of `match` tokens is accepted."""
        prior = match_prior(match)
        return min(CEILING, (self.accepted + PRIOR_WEIGHT * prior) / (self.tried + PRIOR_WEIGHT))

    def record(self, accepted: int, tried: int) -> None:
        """`tried` draft tokens were compared with the model's choice; the first `accepted` of them matched."""
        self.accepted = DECAY * self.accepted + accepted
        self.tried = DECAY * self.tried + tried

    def rest(self) -> None:
        """A step without drafts for this sequence."""
        self.accepted *= RECOVERY
        self.tried *= RECOVERY


@dataclass(frozen=True)
class StepCost:
    """What decoding costs on this machine, in seconds: a part paid for each ubatch llama.cpp computes
    (reading the weights), a part per token whose logits are computed, and a part per token for each token
    cached before it in its sequence (attending to it): `per_context` when the ubatch holds fewer than
    ATTENTION_TILE tokens of the sequence, computed one query at a time, and `per_context_tiled` when it
    holds a tile or more."""

    per_step: float
    per_token: float
    per_context: float = 0.0
    per_context_tiled: float = 0.0

    def seconds(self, fed: dict[int, int], n_ubatch: int, contexts: dict[int, int] | None = None) -> float:
        """What a step costs that feeds each sequence `fed[seq_id]` tokens, all with logits, after the
        `contexts[seq_id]` tokens it holds (none where not given)."""
        contexts = contexts or {}
        total = 0.0
        for rows in split(fed, n_ubatch):
            total += self.per_step
            for seq_id, count in rows.items():
                attention = self.per_context_tiled if count >= ATTENTION_TILE else self.per_context
                total += count * (self.per_token + contexts.get(seq_id, 0) * attention)
        return total


@dataclass(frozen=True)
class Offer:
    """A generating sequence's drafts for a step: how many tokens it has, and its acceptance rate."""

    seq_id: int
    available: int
    rate: float


def plan(
    offers: Sequence[Offer],
    *,
    fed: dict[int, int],
    base_yield: int,
    cost: StepCost,
    budget: int,
    n_ubatch: int,
    contexts: dict[int, int] | None = None,
) -> list[int]:
    """How many draft tokens each offering sequence verifies in a step.

    `fed` holds the tokens each sequence feeds the step without drafts (one for a generating sequence, a
    chunk for a prompt); they yield `base_yield` tokens; `contexts` holds the tokens each sequence has
    cached. A sequence's j-th draft token yields one more with probability rate**j. Draft tokens are
    added, most likely first, while each one's expected yield per second of extra step time (verified one
    query at a time) beats the step's tokens per second so far; at most `budget` of them in all.

    Then the split: each sequence has its own cache, so llama.cpp computes a batch in ubatches that take
    the same number of tokens from a run of consecutive sequences, and sequences fed different numbers of
    tokens need several ubatches, each paying for reading the weights again. Capping every draft at a common
    length makes the lengths equal. And the tile: the sequences most likely to accept may verify a whole
    attention tile each, which makes every one of their tokens cheaper. Of these choices the one expected to
    yield the most tokens per second is kept.
    """
    contexts = contexts or {}
    # Each offer's gains fall with j: merged, the most likely first, as far as the loop goes.
    falling = [_gains(offer.rate, offer.available, i) for i, offer in enumerate(offers)]
    gains = heapq.merge(*falling, key=lambda gain: -gain[0])
    lengths = [0] * len(offers)
    produced = float(base_yield)
    seconds = cost.seconds(fed, n_ubatch, contexts)
    # What the step makes without drafts: a tile that yields fewer tokens a second, even at the least a
    # token costs, cannot make it more.
    floor = base_yield / seconds
    left = budget
    for gain, i in gains:
        extra = cost.per_token + contexts.get(offers[i].seq_id, 0) * cost.per_context
        if left <= 0 or gain * seconds <= extra * produced:
            break
        lengths[i] += 1
        produced += gain
        seconds += extra
        left -= 1

    def feeds(capped: list[int]) -> dict[int, int]:
        step = dict(fed)
        for offer, length in zip(offers, capped, strict=True):
            step[offer.seq_id] = step.get(offer.seq_id, 0) + length
        return step

    def rate(capped: list[int]) -> float:
        tokens = float(base_yield) + sum(
            expected(offer.rate, length) for offer, length in zip(offers, capped, strict=True)
        )
        return tokens / cost.seconds(feeds(capped), n_ubatch, contexts)

    choices = [[min(length, cap) for length in lengths] for cap in sorted({0, *lengths}, reverse=True)]
    ranked = sorted(
        (
            i
            for i, offer in enumerate(offers)
            if expected(offer.rate, ATTENTION_TILE) > floor * ATTENTION_TILE * cost.per_token
        ),
        key=lambda i: -offers[i].rate,
    )
    for count in range(1, len(ranked) + 1):
        for others in (lengths, [0] * len(offers)):
            tiled = _tiles([offers[i] for i in ranked[:count]], feeds, others, offers, n_ubatch)
            if sum(tiled) <= budget and sum(feeds(tiled).values()) <= n_ubatch:
                choices.append(tiled)
    return max(choices, key=rate)


def _gains(rate: float, available: int, index: int) -> Iterator[tuple[float, int]]:
    """What each of an offer's draft tokens yields, falling: (rate**j, the offer's index)."""
    for j in range(1, available + 1):
        yield rate**j, index


def expected(rate: float, length: int) -> float:
    """The tokens a draft of `length` yields, each kept with probability `rate` given the ones before it."""
    if rate >= 1.0:
        return float(length)
    return rate * (1 - rate**length) / (1 - rate)


def _tiles(
    tiled: list[Offer],
    feeds: Callable[[list[int]], dict[int, int]],
    others: list[int],
    offers: Sequence[Offer],
    n_ubatch: int,
) -> list[int]:
    """Draft lengths that give each of the `tiled` offers a whole attention tile in one ubatch (as far as its
    drafts go), the other offers keeping their lengths in `others`."""
    lengths = list(others)
    index = {offer.seq_id: i for i, offer in enumerate(offers)}
    for offer in tiled:
        lengths[index[offer.seq_id]] = 0
    for offer in tiled:
        lengths[index[offer.seq_id]] = min(offer.available, max(0, ATTENTION_TILE - feeds(lengths)[offer.seq_id]))
    # Tokens decoded in ubatches shared with shorter sequences are not in the tile: add as many.
    for _ in range(len(offers)):
        rows: dict[int, int] = {}
        for ubatch in split(feeds(lengths), n_ubatch):
            for seq_id, count in ubatch.items():
                rows[seq_id] = max(rows.get(seq_id, 0), count)
        short = [offer for offer in tiled if rows.get(offer.seq_id, 0) < ATTENTION_TILE]
        grown = False
        for offer in short:
            i = index[offer.seq_id]
            longer = min(offer.available, lengths[i] + ATTENTION_TILE - rows.get(offer.seq_id, 0))
            grown |= longer > lengths[i]
            lengths[i] = longer
        if not grown:
            break
    return lengths


def split(fed: dict[int, int], n_ubatch: int) -> list[dict[int, int]]:
    """The ubatches llama.cpp (with a cache per sequence) computes a batch in, as the tokens each takes from
    each sequence, for the tokens each sequence feeds it, sequences in id order: each ubatch takes the same
    number of tokens from each sequence of a run of consecutive ids that starts at the first sequence with
    tokens left."""
    left = {seq_id: n for seq_id, n in sorted(fed.items()) if n > 0}
    result: list[dict[int, int]] = []
    while left:
        run: list[int] = []
        for seq_id in left:
            if run and seq_id != run[-1] + 1:
                break
            run.append(seq_id)
        rows = max(1, min(min(left[seq_id] for seq_id in run), n_ubatch // len(run)))
        ubatch = {}
        for seq_id in run:
            ubatch[seq_id] = min(rows, left[seq_id])
            left[seq_id] -= rows
            if left[seq_id] <= 0:
                del left[seq_id]
        result.append(ubatch)
    return result
