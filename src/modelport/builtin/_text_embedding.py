"""What the built-in text embedders share: checking shipped files by sha256, and cutting a text to a token limit."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from modelport.builtin.onnx_embeddings import ModelFileError
from modelport.builtin.weights import sha256_of

# How far back a cut looks for the end of a word: longer than the words of spaced scripts, and a text
# without spaces (Chinese, Japanese) is cut where its tokens run out.
SNAP_CHARS = 64
# Most whole words added back after the search.
EXTEND_WORDS = 8


def check_files(directory: Path, sha256: Mapping[str, str] | None) -> None:
    """Every file named in `sha256` exists in `directory` and has that sha256; a ModelFileError otherwise."""
    for name, expected in (sha256 or {}).items():
        path = directory / name
        if not path.is_file():
            raise ModelFileError(f"model file not found: {path}")
        if (actual := sha256_of(path)) != expected:
            raise ModelFileError(f"{path} has sha256 {actual}, expected {expected}")


def truncate_text(text: str, limit: int, count: Callable[[str], int]) -> str:
    """The longest start of `text` whose token count, by `count`, is at most `limit`.

    Engines that take only text (no token ids) are truncated this way. The search grows from `limit`
    characters, so a huge input costs tokenizations about as long as the answer, not as the input. The cut
    moves back to the end of a whole word when one ended in the last SNAP_CHARS characters: a word cut in
    two tokenizes into pieces the whole word does not have, and token counts need not grow steadily
    inside a word, so the same start could be cut in different places.
    """
    if count(text) <= limit:
        return text
    good, bad = 0, len(text)  # count(text[:good]) <= limit < count(text[:bad])
    probe = min(max(limit, 1), bad - 1)
    while probe > good:
        if count(text[:probe]) > limit:
            bad = probe
            break
        good, probe = probe, min(probe * 2, bad - 1)
    while bad - good > 1:
        middle = (good + bad) // 2
        if count(text[:middle]) <= limit:
            good = middle
        else:
            bad = middle
    cut = _word_end_before(text, good)
    if cut is None:
        return text[:good]
    # A trailing space or a part-word can count more than the whole word, so the search may stop a word
    # or two early: whole words are added while they fit.
    for _ in range(EXTEND_WORDS):
        following = _next_word_end(text, cut)
        if following is None or count(text[:following]) > limit:
            break
        cut = following
    return text[:cut]


def _word_end_before(text: str, end: int) -> int | None:
    """The end of the last whole word in text[:end], looking back at most SNAP_CHARS characters."""
    for index in range(min(end, len(text) - 1), max(end - SNAP_CHARS, 0), -1):
        if text[index].isspace():
            while index > 0 and text[index - 1].isspace():
                index -= 1
            return index if index > 0 else None
    return None


def _next_word_end(text: str, start: int) -> int | None:
    """The end of the word after text[:start], or None when no whole word follows within SNAP_CHARS."""
    index = start
    while index < len(text) and text[index].isspace():
        index += 1
    stop = min(index + SNAP_CHARS, len(text))
    while index < stop and not text[index].isspace():
        index += 1
    return index if index < len(text) and text[index].isspace() else None
