"""Sizes people write, and what the process takes (runtime.memory)."""

import pytest

from modelport.runtime.memory import format_size, parse_size, resident_bytes


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("8GB", 8 * 10**9),
        ("8GiB", 8 * 2**30),
        ("512m", 512 * 10**6),
        ("1.5G", 1_500_000_000),
        ("100", 100),
        ("2 KiB", 2048),
        (64, 64),
    ],
)
def test_parse_size(text: str | int, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "lots", "8XB", "-1GB", "1e9"])
def test_parse_size_refuses_what_is_not_a_size(text: str) -> None:
    with pytest.raises(ValueError, match="not a size"):
        parse_size(text)


def test_format_size_and_resident_memory() -> None:
    assert format_size(3 * 2**30) == "3.0 GiB"
    assert format_size(512) == "512 B"
    assert resident_bytes() > 10 * 2**20
