"""Checks on what transcription functions return or yield."""

import pytest

from modelport import Transcript
from modelport.errors import PredictorError
from modelport.serving.checks import check_transcript, check_transcript_update, no_transcript


def test_text_becomes_a_transcript() -> None:
    assert check_transcript("m", "hi") == Transcript(text="hi")


def test_transcript_passes() -> None:
    transcript = Transcript(text="hi", language="en")
    assert check_transcript("m", transcript) is transcript
    assert check_transcript_update("m", transcript) is transcript


@pytest.mark.parametrize("value", ["text", None, 3])
def test_update_must_be_a_transcript(value: object) -> None:
    with pytest.raises(PredictorError, match="yields Transcripts, not a"):
        check_transcript_update("m", value)


def test_transcript_text_must_be_text() -> None:
    with pytest.raises(PredictorError, match="text is a str"):
        check_transcript("m", Transcript(text=None))  # type: ignore[arg-type]


def test_no_transcript_names_the_model() -> None:
    assert "`m`" in str(no_transcript("m"))
