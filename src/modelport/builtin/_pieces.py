"""Text cut into the pieces a streaming speech model speaks one at a time."""

from __future__ import annotations

import re

from modelport.errors import InvalidRequestError

# A sentence ends at . ! ? or an ellipsis, or just after a closing quote or bracket that follows one.
_SENTENCE_END = re.compile("(?:(?<=[.!?\u2026])|(?<=[.!?\u2026][\"')\\]\u201d\u2019]))\\s+")
_CLAUSE_END = re.compile(r"[,;:—]$")

FIRST_PIECE_WORDS = 6


def speech_pieces(text: str, first_piece_words: int = FIRST_PIECE_WORDS) -> list[str]:
    """Sentences, except that a long first sentence gives up its first few words as a piece of their own.

    Streaming sends each piece as soon as it is spoken, so the first one sets the time to the first audio
    byte: it is cut at the first clause break within `2 * first_piece_words` words, or else after
    `first_piece_words` words. Later sentences stay whole, for natural prosody. 0 keeps sentences whole.
    """
    sentences = [s.strip() for s in _SENTENCE_END.split(text.strip()) if s.strip()]
    if not sentences or first_piece_words <= 0:
        return sentences
    words = sentences[0].split()
    if len(words) <= 2 * first_piece_words:
        return sentences
    cut = next(
        (i + 1 for i, word in enumerate(words[: 2 * first_piece_words]) if _CLAUSE_END.search(word) and i >= 2),
        first_piece_words,
    )
    return [" ".join(words[:cut]), " ".join(words[cut:]), *sentences[1:]]


def nothing_to_speak(model: str, language: str) -> InvalidRequestError:
    """The 400 for input the voice finds nothing in to speak: blanks, symbols, emoji, another script."""
    return InvalidRequestError(
        f"The model `{model}` found nothing to speak in 'input': it speaks {language} words, and the input has "
        "none it can pronounce.",
        param="input",
        code="nothing_to_speak",
    )
