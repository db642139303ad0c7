"""Sampling parameters, stop strings and log-probabilities (modelport.builtin.llama.sampling)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from modelport.builtin.llama.sampling import SamplingParams, StopMatcher, token_logprobs


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
        (SamplingParams(temperature=0, max_tokens=5, stop=("x",), logprobs=2), True),
        (SamplingParams(temperature=0.7), False),
        (SamplingParams(temperature=0, logit_bias={1: 5.0}), False),
        (SamplingParams(temperature=0, presence_penalty=0.5), False),
        (SamplingParams(temperature=0, frequency_penalty=0.5), False),
        (SamplingParams(temperature=0, grammar="root ::= [a-z]+"), False),
    ],
)
def test_plain_greedy_only_without_randomness_biases_penalties_or_grammar(
    params: SamplingParams, expected: bool
) -> None:
    assert params.plain_greedy is expected
