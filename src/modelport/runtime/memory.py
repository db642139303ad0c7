"""Memory sizes: the process's resident memory, the size of a model's files, and sizes people write."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

_UNITS = {"": 1, "k": 1000, "m": 1000**2, "g": 1000**3, "t": 1000**4}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?)b?\s*$", re.IGNORECASE)


def parse_size(text: str | int) -> int:
    """Bytes from `8GB`, `8 GiB`, `512m`, `1.5G` or a plain number of bytes; ValueError otherwise."""
    if isinstance(text, int):
        return text
    match = _SIZE.match(text)
    if match is None:
        raise ValueError(f"not a size: {text!r} (write it as 8GB, 8GiB, 512MB or a number of bytes)")
    number, prefix, binary = match.groups()
    prefix = prefix.lower()
    unit = 1024 ** "kmgt".index(prefix) * 1024 if binary and prefix else _UNITS[prefix]
    return int(float(number) * unit)


def format_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def resident_bytes() -> int:
    """This process's resident set size; 0 where /proc is not available."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def files_size(paths: Iterable[Path]) -> int:
    """The total size of `paths`, folders counted with everything inside them."""
    total = 0
    for path in paths:
        if path.is_dir():
            total += sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
        elif path.is_file():
            total += path.stat().st_size
    return total
