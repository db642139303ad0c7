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
