"""Cutting a text to a token limit when the engine takes only text, and checking shipped files."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelport.builtin._text_embedding import check_files, truncate_text
from modelport.builtin.onnx_embeddings import ModelFileError
from modelport.builtin.weights import sha256_of


def words(text: str) -> int:
    return len(text.split())


@pytest.mark.parametrize("limit", [1, 3, 10, 99])
def test_the_longest_start_within_the_limit(limit: int) -> None:
    text = " ".join(f"w{i}" for i in range(100))
    cut = truncate_text(text, limit, words)
    assert words(cut) == limit
    assert text.startswith(cut)
    # One more character would pass the limit (a new word starts right after the cut).
    assert words(text[: len(cut) + 2]) > limit


def test_a_text_within_the_limit_is_unchanged() -> None:
    assert truncate_text("a b c", 3, words) == "a b c"


def test_a_huge_text_is_cut_without_counting_all_of_it() -> None:
    text = "x " * 1_000_000
    counted: list[int] = []

    def count(part: str) -> int:
        counted.append(len(part))
        return words(part)

    assert words(truncate_text(text, 50, count)) == 50
    # The first count is the whole text (is it over?); the search then stays near the answer.
    assert max(counted[1:]) < 1000


def test_files_are_checked_by_sha256(tmp_path: Path) -> None:
    (tmp_path / "weights.bin").write_bytes(b"weights")
    check_files(tmp_path, {"weights.bin": sha256_of(tmp_path / "weights.bin")})
    with pytest.raises(ModelFileError, match="sha256"):
        check_files(tmp_path, {"weights.bin": "0" * 64})
    with pytest.raises(ModelFileError, match="not found"):
        check_files(tmp_path, {"missing.bin": "0" * 64})
