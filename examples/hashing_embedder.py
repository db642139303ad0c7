"""An embedding model built on the hashing trick, with Matryoshka dimensions.

    modelport serve examples/hashing_embedder.py

Each word adds ±1 to the coordinate its hash picks, so texts that share words get similar vectors. The
vector is computed at full size and truncated to the requested `dimensions`, then re-normalised.
"""

from __future__ import annotations

import hashlib
from typing import Annotated

import numpy as np

from modelport import Parameter, model

FULL_DIMENSIONS = 256


def _bucket(word: str) -> tuple[int, float]:
    digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
    value = int.from_bytes(digest, "little")
    return value % FULL_DIMENSIONS, 1.0 if value >> 63 else -1.0


@model("hash-embed")
def embed(
    texts: list[str],
    dimensions: Annotated[
        int, Parameter.EmbeddingDims(min=8, max=FULL_DIMENSIONS, description="length of the returned vectors")
    ] = FULL_DIMENSIONS,
) -> Annotated[np.ndarray, Parameter.Embedding()]:
    """Hashed bag-of-words vectors, unit length."""
    vectors = np.zeros((len(texts), FULL_DIMENSIONS), dtype=np.float32)
    for row, text in enumerate(texts):
        for word in text.lower().split():
            index, sign = _bucket(word)
            vectors[row, index] += sign
    vectors = vectors[:, :dimensions]
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit: np.ndarray = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
    return unit
