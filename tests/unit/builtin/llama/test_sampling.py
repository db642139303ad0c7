"""Sampling parameters, stop strings and log-probabilities (modelport.builtin.llama.sampling)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from modelport.builtin.llama.sampling import LogitSampler, SamplingParams, StopMatcher, token_logprobs


def feed_all(matcher: StopMatcher, pieces: list[str]) -> tuple[str, bool]:
    out = []
    for piece in pieces:
        text, stopped = matcher.feed(piece)
        out.append(text)
        if stopped:
            return "".join(out), True
    return "".join(out) + matcher.flush(), False


@pytest.mark.parametrize(
    ("pieces", "stops", "expected"),
    [
        (["Hello", " wor", "ld", "!"], ("world",), ("Hello ", True)),
        (["a", "b", "c"], ("x",), ("abc", False)),
        (["1, 2", ", 3", ", 4"], (", 3",), ("1, 2", True)),
        (["ab", "cd"], ("bc",), ("a", True)),
        (["END"], ("END",), ("", True)),
        (["a", "E", "N", "x"], ("END",), ("aENx", False)),
    ],
)
def test_stop_strings_across_pieces(pieces: list[str], stops: tuple[str, ...], expected: tuple[str, bool]) -> None:
    assert feed_all(StopMatcher(stops), pieces) == expected


def test_a_possible_stop_is_held_back_then_released() -> None:
    matcher = StopMatcher(("STOP",))
    assert matcher.feed("go ST") == ("go ", False)
    assert matcher.feed("ART") == ("START", False)


def test_no_stops_passes_everything() -> None:
    matcher = StopMatcher(())
    assert matcher.feed("abc") == ("abc", False)


def test_token_logprobs() -> None:
    logits = np.array([1.0, 3.0, 2.0, 0.0], dtype=np.float32)
    chosen, top = token_logprobs(logits, 2, 2)
    expected = logits - np.log(np.exp(logits).sum())
    assert chosen == pytest.approx(expected[2], abs=1e-5)
    assert [t for t, _ in top] == [1, 2]
    assert math.isclose(sum(math.exp(v) for v in expected), 1.0, rel_tol=1e-5)
    assert token_logprobs(logits, 0, 0)[1] == []


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (SamplingParams(temperature=0), True),
        (SamplingParams(temperature=0.7, seed=3, max_tokens=5, stop=("x",), logprobs=2), True),
        (SamplingParams(temperature=0.7, top_p=0.9), False),
        (SamplingParams(logit_bias={1: 5.0}), False),
        (SamplingParams(presence_penalty=0.5), False),
        (SamplingParams(frequency_penalty=0.5), False),
        (SamplingParams(grammar="root ::= [a-z]+"), False),
    ],
)
def test_plain_only_without_top_p_biases_penalties_or_grammar(params: SamplingParams, expected: bool) -> None:
    assert params.plain is expected


def softmax(logits: np.ndarray, temperature: float) -> np.ndarray:
    weights = np.exp((logits - logits.max()) / temperature)
    return np.asarray(weights / weights.sum())


@pytest.mark.parametrize("n_vocab", [1000, 1003])  # whole blocks of 128, and a padded last block
@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_logit_sampler_draws_from_the_softmax(n_vocab: int, temperature: float) -> None:
    logits = np.random.default_rng(0).standard_normal(n_vocab).astype(np.float32) * 2
    sampler, rng = LogitSampler(n_vocab), np.random.default_rng(1)
    draws = 40_000
    counts = np.bincount([sampler.draw(logits, temperature, rng) for _ in range(draws)], minlength=n_vocab)
    assert len(counts) == n_vocab
    expected = softmax(logits, temperature) * draws
    likely = expected > 50
    # Each count within 5 standard deviations of its expectation (binomial), for the tokens seen often enough.
    spread = np.sqrt(expected[likely])
    assert np.all(np.abs(counts[likely] - expected[likely]) < 5 * spread)
    assert counts.sum() == draws


def test_logit_sampler_is_greedy_at_temperature_zero_and_reproducible_with_a_seed() -> None:
    logits = np.random.default_rng(2).standard_normal(500).astype(np.float32)
    sampler = LogitSampler(500)
    assert sampler.draw(logits, 0.0, np.random.default_rng()) == int(logits.argmax())
    assert sampler.draw(logits, 1e-6, np.random.default_rng()) == int(logits.argmax())
    first = [sampler.draw(logits, 1.0, rng) for rng in [np.random.default_rng(7)] for _ in range(20)]
    again = [sampler.draw(logits, 1.0, rng) for rng in [np.random.default_rng(7)] for _ in range(20)]
    assert first == again


def test_logit_sampler_never_draws_padding_or_impossible_tokens() -> None:
    # All the weight on the last real token: every draw is that token, never a padding slot after it.
    logits = np.full(1003, -1e4, dtype=np.float32)
    logits[-1] = 0.0
    sampler, rng = LogitSampler(1003), np.random.default_rng(3)
    assert {sampler.draw(logits, 1.0, rng) for _ in range(2000)} == {1002}


# Speculative verification: the rejection rule must leave the distribution of what is drawn unchanged.

# A fixed small distribution, placed at token ids in several blocks of 128 (and the rest impossible).
SUPPORT = [3, 130, 131, 200, 250, 299]
PROBABILITIES = np.array([0.4, 0.25, 0.15, 0.1, 0.06, 0.04])
DRAWS = 20_000


def small_logits(n_vocab: int = 300) -> np.ndarray:
    logits = np.full(n_vocab, -1e4, dtype=np.float32)
    logits[SUPPORT] = np.log(PROBABILITIES)
    return logits


def chi_square_limit(df: int) -> float:
    """The chi-square value exceeded with probability about 1e-4 (Wilson-Hilferty approximation)."""
    z = 3.719
    return float(df * (1 - 2 / (9 * df) + z * math.sqrt(2 / (9 * df))) ** 3)


def chi_square(counts: np.ndarray, probabilities: np.ndarray) -> float:
    expected = probabilities * counts.sum()
    return float(((counts - expected) ** 2 / expected).sum())


def counts_over_support(tokens: list[int]) -> np.ndarray:
    assert set(tokens) <= set(SUPPORT)  # never a token of probability 0
    return np.array([tokens.count(t) for t in SUPPORT])


@pytest.mark.parametrize("draft", [3, 131, 299, 7])  # the likeliest, a middling, the rarest, an impossible one
def test_verified_tokens_are_distributed_as_the_model_says(draft: int) -> None:
    sampler, rng, logits = LogitSampler(300), np.random.default_rng(11), small_logits()
    tokens = [sampler.verify(logits, 1.0, draft, rng) for _ in range(DRAWS)]
    counts = counts_over_support(tokens)
    assert chi_square(counts, PROBABILITIES) < chi_square_limit(len(SUPPORT) - 1)
    # Kept as often as the model gives it: p(draft), within 5 standard deviations.
    p = PROBABILITIES[SUPPORT.index(draft)] if draft in SUPPORT else 0.0
    assert abs(tokens.count(draft) - p * DRAWS) <= 5 * math.sqrt(DRAWS * p * (1 - p))
    # When rejected, the token is a draw from the others, renormalised.
    if draft in SUPPORT:
        others = [i for i, t in enumerate(SUPPORT) if t != draft]
        rejected = counts[others]
        assert chi_square(rejected, PROBABILITIES[others] / PROBABILITIES[others].sum()) < chi_square_limit(
            len(others) - 1
        )


def test_a_rule_that_prefers_the_draft_fails_the_same_check() -> None:
    # The check above can fail: keeping the draft whenever it is the most likely token skews the counts.
    sampler, rng, logits = LogitSampler(300), np.random.default_rng(11), small_logits()
    tokens = [3 if int(logits.argmax()) == 3 else sampler.draw(logits, 1.0, rng) for _ in range(DRAWS)]
    assert chi_square(counts_over_support(tokens), PROBABILITIES) > chi_square_limit(len(SUPPORT) - 1)


def test_two_drafted_positions_give_the_models_joint_distribution() -> None:
    # A toy model: token 1 depends on token 0. Drafts (131, 200) are verified in order, as the scheduler
    # does; after a rejection the next token is drawn in the next step without a draft.
    sampler, rng = LogitSampler(300), np.random.default_rng(5)
    second = {t: np.roll(PROBABILITIES, i) for i, t in enumerate(SUPPORT)}

    def logits_after(token: int) -> np.ndarray:
        logits = np.full(300, -1e4, dtype=np.float32)
        logits[SUPPORT] = np.log(second[token])
        return logits

    first_logits = small_logits()
    pairs = []
    for _ in range(DRAWS):
        t0 = sampler.verify(first_logits, 1.0, 131, rng)
        after = logits_after(t0)
        t1 = sampler.verify(after, 1.0, 200, rng) if t0 == 131 else sampler.draw(after, 1.0, rng)
        pairs.append(SUPPORT.index(t0) * len(SUPPORT) + SUPPORT.index(t1))
    counts = np.bincount(pairs, minlength=len(SUPPORT) ** 2)
    joint = np.concatenate([PROBABILITIES[i] * second[t] for i, t in enumerate(SUPPORT)])
    assert chi_square(counts, joint) < chi_square_limit(len(joint) - 1)


def test_verify_draws_what_draw_draws_from_the_same_random_state() -> None:
    # So a seeded request gives the same text with speculation as without.
    logits = np.random.default_rng(4).standard_normal(1003).astype(np.float32) * 3
    sampler = LogitSampler(1003)
    for seed in range(300):
        drawn = sampler.draw(logits, 0.8, np.random.default_rng(seed))
        for draft in (drawn, int(logits.argmax()), 0):
            assert sampler.verify(logits, 0.8, draft, np.random.default_rng(seed)) == drawn


def test_verify_at_temperature_zero_keeps_only_the_most_likely_token() -> None:
    logits, sampler, rng = small_logits(), LogitSampler(300), np.random.default_rng()
    assert sampler.verify(logits, 0.0, 3, rng) == 3
    assert sampler.verify(logits, 0.0, 130, rng) == 3
