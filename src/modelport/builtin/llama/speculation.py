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

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# Longest draft for one sequence in one step.
MAX_DRAFT = 32
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
# gives even odds, longer ones more (a copy that has gone on for a while tends to go on).
MATCH_HALF = 6.0
# How many draft tokens of evidence that prior counts as, against the sequence's own record.
PRIOR_WEIGHT = 2.0
# How much one step's evidence weighs against the past: with 0.8, about the last five steps count.
DECAY = 0.8
# While a sequence does not draft, its record fades at this rate a step, back to the prior, so a sequence
# that stopped drafting tries again after a while: the text it copies may have changed.
RECOVERY = 0.97
# The highest rate believed: even a long run of accepted drafts does not make the next one certain. A copy
# in progress is accepted nearly always (99% of the drafts of four code edits at once), and on a CPU only
# long drafts pay: a step of one sequence at 1,000 cached tokens drafts 7 tokens with 0.95, 11 with 0.98.
CEILING = 0.99


def match_prior(match: int) -> float:
    """The chance a draft token is accepted, from the length of the match it was found by alone."""
    return match / (match + MATCH_HALF)


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
    (reading the weights), a part per token whose logits are computed, and a part per cached token of each
    sequence in the step (attending to its cache: one query or several cost about the same, so a long
    conversation makes each step dearer and drafts, which share it, worth more)."""

    per_step: float
    per_token: float
    per_context: float = 0.0


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
    context: int = 0,
) -> list[int]:
    """How many draft tokens each offering sequence verifies in a step.

    `fed` holds the tokens each sequence feeds the step without drafts (one for a generating sequence, a
    chunk for a prompt); they yield `base_yield` tokens; `context` is the tokens the fed sequences hold in
    their caches. A sequence's j-th draft token yields one more with
    probability rate**j. Draft tokens are added, most likely first, while each one's expected yield per
    second of extra step time beats the step's tokens per second so far; at most `budget` of them in all.

    Then the split: each sequence has its own cache, so llama.cpp computes a batch in ubatches that take
    the same number of tokens from a run of consecutive sequences, and sequences fed different numbers of
    tokens need several ubatches, each paying for reading the weights again. Capping every draft at a common
    length makes the lengths equal; the cap (or none) that yields the most tokens per second is kept.
    """
    gains = sorted(
        ((offer.rate**j, i) for i, offer in enumerate(offers) for j in range(1, offer.available + 1)),
        key=lambda gain: -gain[0],
    )
    lengths = [0] * len(offers)
    produced = float(base_yield)
    attention = cost.per_context * context
    seconds = cost.per_step * ubatches(fed, n_ubatch) + cost.per_token * sum(fed.values()) + attention
    for gain, i in gains:
        if budget <= 0 or gain * seconds <= cost.per_token * produced:
            break
        lengths[i] += 1
        produced += gain
        seconds += cost.per_token
        budget -= 1

    def rate(capped: list[int]) -> float:
        feeds = dict(fed)
        tokens = float(base_yield)
        for offer, length in zip(offers, capped, strict=True):
            feeds[offer.seq_id] = feeds.get(offer.seq_id, 0) + length
            tokens += sum(offer.rate**j for j in range(1, length + 1))
        return tokens / (cost.per_step * ubatches(feeds, n_ubatch) + cost.per_token * sum(feeds.values()) + attention)

    choices = [[min(length, cap) for length in lengths] for cap in sorted({0, *lengths}, reverse=True)]
    return max(choices, key=rate)


def ubatches(fed: dict[int, int], n_ubatch: int) -> int:
    """How many ubatches llama.cpp (with a cache per sequence) computes a batch in, for the tokens each
    sequence feeds it, sequences in id order: each ubatch takes the same number of tokens from each sequence
    of a run of consecutive ids that starts at the first sequence with tokens left."""
    left = {seq_id: n for seq_id, n in sorted(fed.items()) if n > 0}
    count = 0
    while left:
        run: list[int] = []
        for seq_id in left:
            if run and seq_id != run[-1] + 1:
                break
            run.append(seq_id)
        rows = max(1, min(min(left[seq_id] for seq_id in run), n_ubatch // len(run)))
        for seq_id in run:
            left[seq_id] -= rows
            if left[seq_id] <= 0:
                del left[seq_id]
        count += 1
    return count
