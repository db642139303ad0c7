"""The pieces of voice chat that need no server: the transcript cache, audio ids, sentence pieces."""

from __future__ import annotations

import time

import pytest

from modelport.errors import InvalidRequestError
from modelport.protocol.audio import MAX_SPEECH_INPUT
from modelport.serving.voice_input import TranscriptCache
from modelport.serving.voice_output import _pieces, ready_to_speak
from modelport.serving.voice_store import AudioStore


def test_cache_keeps_the_most_recently_used() -> None:
    cache = TranscriptCache(size=2)
    cache.put(("m", "a"), "A")
    cache.put(("m", "b"), "B")
    assert cache.get(("m", "a")) == "A"
    cache.put(("m", "c"), "C")
    assert cache.get(("m", "b")) is None
    assert (cache.get(("m", "a")), cache.get(("m", "c"))) == ("A", "C")
    assert (cache.hits, cache.misses) == (3, 1)


def test_cache_of_size_zero_keeps_nothing() -> None:
    cache = TranscriptCache(size=0)
    cache.put(("m", "a"), "A")
    assert cache.get(("m", "a")) is None


def test_audio_ids_expire(monkeypatch: pytest.MonkeyPatch) -> None:
    store = AudioStore(ttl=60, size=10)
    audio_id = store.new_id()
    expires_at = store.keep(audio_id, "said it")
    assert expires_at == pytest.approx(time.time() + 60, abs=2)
    assert store.transcript(audio_id, "p") == "said it"
    later = time.time() + 61
    monkeypatch.setattr(time, "time", lambda: later)
    with pytest.raises(InvalidRequestError, match="expired") as caught:
        store.transcript(audio_id, "messages[1].audio.id")
    assert caught.value.param == "messages[1].audio.id"
    with pytest.raises(InvalidRequestError, match="not known"):
        store.transcript(audio_id, "p")


def test_audio_ids_bounded() -> None:
    store = AudioStore(ttl=60, size=2)
    ids = [store.new_id() for _ in range(3)]
    for audio_id in ids:
        store.keep(audio_id, audio_id)
    with pytest.raises(InvalidRequestError):
        store.transcript(ids[0], "p")
    assert store.transcript(ids[2], "p") == ids[2]


def test_pieces_are_sentences_under_the_speech_limit() -> None:
    assert _pieces("Hello there! How are you?\nFine. ") == ["Hello there!", "How are you?", "Fine."]
    assert _pieces("Version 3.5 is out.") == ["Version 3.5 is out."]
    long = " ".join(["word"] * 2000)
    pieces = _pieces(long)
    assert all(len(piece) <= MAX_SPEECH_INPUT for piece in pieces)
    assert " ".join(pieces) == long


@pytest.mark.parametrize(
    ("pending", "first", "ready"),
    [
        ("As the sun sets, the beach", True, "As the sun sets, "),  # the first piece: a clause of four words
        ("As the sun sets, the beach", False, ""),  # later pieces: whole sentences only
        ("Yes, it is", True, ""),  # a clause of one word would sound clipped
        ("It is late. The sun sets, slowly", True, "It is late. "),  # a whole sentence wins
        ("One. Two. Thr", False, "One. Two. "),
        ("The waves roll in; the tide", True, "The waves roll in; "),
    ],
)
def test_what_is_ready_to_speak(pending: str, first: bool, ready: str) -> None:
    assert pending[: ready_to_speak(pending, first=first)] == ready
