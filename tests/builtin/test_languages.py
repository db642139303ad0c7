"""Whisper's language names cover exactly the codes faster-whisper knows."""

from faster_whisper.tokenizer import _LANGUAGE_CODES

from modelport.builtin._languages import LANGUAGE_NAMES, language_name


def test_every_whisper_code_has_a_name() -> None:
    assert set(LANGUAGE_NAMES) == set(_LANGUAGE_CODES)


def test_unknown_code_is_kept() -> None:
    assert language_name("en") == "english"
    assert language_name("xx") == "xx"
