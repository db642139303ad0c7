"""Embeddings: inputs checked, the predictor called in shared batches, vectors encoded as floats or base64."""

from __future__ import annotations

import base64
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
import numpy as np

from modelport.config import Settings
from modelport.errors import InvalidRequestError, PredictorError
from modelport.predictor import EmbeddingSignature
from modelport.protocol.embeddings import EmbeddingData, EmbeddingRequest, EmbeddingResponse, EmbeddingUsage
from modelport.runtime import Predictor
from modelport.runtime.batching import Batcher, BatcherClosedError
from modelport.serving.arguments import optional_arguments
from modelport.serving.checks import check_embeddings
from modelport.serving.embedding_hooks import (
    EmbeddingHooks,
    apply_limit,
    check_token_ids,
    parse_input,
    text_token_counts,
    text_token_ids,
    with_prefix,
)
from modelport.serving.forward import forward_json, forwards, parsed
from modelport.serving.token_vocabularies import TokenVocabulary, decode_cl100k_base

_SERVER_FIELDS = {"model", "input", "encoding_format", "dimensions", "user", "truncate", "input_type"}


@dataclass(frozen=True)
class _Call:
    """What a batch shares: the kind of input and the options; requests merge only when these are equal."""

    tokens: bool
    arguments: tuple[tuple[str, Any], ...]
    dimensions: int | None


class EmbeddingBatchers:
    """One `Batcher` per embedding model, made on its first request, configured by the settings."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._batchers: dict[str, Batcher] = {}

    def get(self, predictor: Predictor) -> Batcher:
        batcher = self._batchers.get(predictor.name)
        if batcher is None:
            settings = self._settings

            async def run(items: list[Any], key: Hashable) -> np.ndarray:
                assert isinstance(key, _Call)
                return await _run(predictor, items, key)

            batcher = Batcher(
                run,
                max_batch_size=settings.embedding_max_batch_size,
                window=settings.embedding_batch_window_ms / 1000,
                merge=settings.embedding_batching,
                concurrency=EmbeddingHooks.of(predictor).concurrent_batches,
            )
            self._batchers[predictor.name] = batcher
        return batcher

    async def aclose(self) -> None:
        for batcher in self._batchers.values():
            await batcher.aclose()
        self._batchers.clear()


async def _run(predictor: Predictor, items: list[Any], call: _Call) -> np.ndarray:
    arguments = dict(call.arguments)
    if call.tokens:
        result = await predictor.call_method("embed_tokens", items, **arguments)
    else:
        signature = predictor.spec.signature
        assert isinstance(signature, EmbeddingSignature)
        result = await predictor.call(**{signature.texts: items}, **arguments)
    return check_embeddings(predictor.name, result, len(items), call.dimensions)


def _dimensions(signature: EmbeddingSignature, request: EmbeddingRequest) -> dict[str, int]:
    if request.dimensions is None:
        return {}
    dims = signature.dims
    if dims is None or signature.dims_param is None:
        raise InvalidRequestError(
            f"The model `{request.model}` does not support 'dimensions'.",
            param="dimensions",
            code="unsupported_parameter",
        )
    if not dims.min <= request.dimensions <= dims.max:
        raise InvalidRequestError(
            f"'dimensions' must be between {dims.min} and {dims.max} for the model `{request.model}`, "
            f"got {request.dimensions}.",
            param="dimensions",
        )
    return {signature.dims_param: request.dimensions}


def _encode(vector: np.ndarray, encoding_format: str) -> list[float] | str:
    if encoding_format == "base64":
        # No copy when the vector already is little-endian float32, as the checks make it on most machines.
        return base64.b64encode(vector.astype("<f4", copy=False).tobytes()).decode("ascii")
    return vector.tolist()  # type: ignore[no-any-return]


async def create_embeddings(
    predictor: Predictor,
    request: EmbeddingRequest,
    batchers: EmbeddingBatchers | None = None,
    token_vocabulary: TokenVocabulary = "model",
) -> EmbeddingResponse:
    """Check the request against the model, embed its inputs (batched when `batchers` is given), answer.

    Token-id input is read in `token_vocabulary`: the model's own tokenizer's ids, or OpenAI's cl100k_base
    ids, decoded to text and embedded as text. A predictor that forwards requests gets the request whole,
    and its answer is relayed.
    """
    if forwards(predictor):
        answer = await forward_json(predictor, "embeddings", request.model_dump(exclude_unset=True))
        return parsed(predictor, "embeddings", EmbeddingResponse, answer)
    signature = predictor.spec.signature
    assert isinstance(signature, EmbeddingSignature)
    hooks = EmbeddingHooks.of(predictor)
    inputs = parse_input(request)
    if token_vocabulary == "cl100k_base" and isinstance(inputs[0], list):
        openai_ids = [ids for ids in inputs if isinstance(ids, list)]
        inputs = await anyio.to_thread.run_sync(decode_cl100k_base, openai_ids, request.model)
    # What the request set beyond the server's own fields (model_dump would copy every field it set first).
    values = {name: getattr(request, name) for name in request.model_fields_set - _SERVER_FIELDS}
    values.update(request.model_extra or {})
    arguments = optional_arguments(predictor.spec, values, skip=_SERVER_FIELDS | {signature.dims_param or ""})
    arguments.update(_dimensions(signature, request))
    items: list[Any]
    token_ids: list[list[int]] | None = None
    if isinstance(inputs[0], list):
        token_ids = [ids for ids in inputs if isinstance(ids, list)]
        check_token_ids(hooks, request, token_ids)
    else:
        texts = with_prefix(hooks, request, [text for text in inputs if isinstance(text, str)])
        if hooks.tokenize is not None and hooks.embed_tokens:
            # A model that tokenizes for the server is tokenized once: its ids are counted, then embedded.
            token_ids = await text_token_ids(predictor, hooks, texts)
    if token_ids is not None:
        counts = apply_limit(hooks, request, [len(ids) for ids in token_ids], measured=True)
        items = [ids[:count] for ids, count in zip(token_ids, counts, strict=True)]
    else:
        items = texts
        counts = apply_limit(
            hooks, request, await text_token_counts(predictor, hooks, items), measured=hooks.count_tokens is not None
        )
    call = _Call(token_ids is not None, tuple(sorted(arguments.items())), request.dimensions)
    if len(items) == 1:
        vectors = await _embed(predictor, batchers, items, call)
    else:
        # Inputs of similar length share batches, as sentence-transformers does: less padding to compute.
        order = np.argsort(np.asarray(counts), kind="stable")
        vectors = (await _embed(predictor, batchers, [items[i] for i in order], call))[np.argsort(order)]
    tokens = sum(counts)
    return EmbeddingResponse(
        data=[
            EmbeddingData(index=i, embedding=_encode(vector, request.encoding_format))
            for i, vector in enumerate(vectors)
        ],
        model=request.model,
        usage=EmbeddingUsage(prompt_tokens=tokens, total_tokens=tokens),
    )


async def _embed(predictor: Predictor, batchers: EmbeddingBatchers | None, items: list[Any], call: _Call) -> np.ndarray:
    try:
        hash(call)
    except TypeError:
        # An option value that cannot be a batch key (a list, say): this request runs alone.
        batchers = None
    if batchers is None or predictor.batches_itself:
        return await _run(predictor, items, call)
    try:
        return await batchers.get(predictor).submit(items, call)
    except BatcherClosedError as exc:
        raise PredictorError(f"The model `{predictor.name}` is shutting down.") from exc
