"""speech_pieces: sentences for streaming speech, with a short first piece."""

from __future__ import annotations

import pytest

from modelport.builtin._pieces import speech_pieces


def test_short_sentences_stay_whole() -> None:
    assert speech_pieces("Hello there. How are you? Fine!") == ["Hello there.", "How are you?", "Fine!"]


def test_long_first_sentence_is_cut_after_a_few_words() -> None:
    text = "Streaming lets a listener hear the first words while the rest is still being made. Next one."
    assert speech_pieces(text) == [
        "Streaming lets a listener hear the",
        "first words while the rest is still being made.",
        "Next one.",
    ]


def test_cut_at_a_clause_break_when_there_is_one() -> None:
    text = "In the early morning light, the boats rocked gently against the old wooden pier today."
    assert speech_pieces(text)[0] == "In the early morning light,"


def test_only_the_first_sentence_is_cut() -> None:
    long = "one two three four five six seven eight nine ten eleven twelve thirteen."
    assert speech_pieces(f"Short. {long}") == ["Short.", long]


@pytest.mark.parametrize("text", ["", "   "])
def test_nothing_to_say(text: str) -> None:
    assert speech_pieces(text) == []


def test_zero_keeps_sentences_whole() -> None:
    text = "one two three four five six seven eight nine ten eleven twelve thirteen."
    assert speech_pieces(text, first_piece_words=0) == [text]


def test_quotes_and_newlines() -> None:
    assert speech_pieces('He said "stop." Then\nhe left.') == ['He said "stop."', "Then\nhe left."]
