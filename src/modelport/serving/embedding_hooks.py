"""Optional hooks an embedding model may define, and the input checks they make possible.

The predictor contract of an embedding function stays `texts: list[str]` -> float32 (N, D). A model (a
class instance, or a function carrying attributes) may add any of these, and the server uses them:

- `count_tokens(texts: list[str]) -> list[int]`: the token count of each text by the model's tokenizer,
  without special tokens and before truncation. Usage reports it; without it usage is an estimate.
- `tokenize(texts: list[str]) -> list[list[int]]`: the token ids of each text, as `count_tokens` counts
  them (without special tokens, before truncation) and as `embed_tokens` takes them. With `embed_tokens`
  it saves a model from tokenizing a text twice: the server counts and limits the ids and has them
  embedded, so `embed_tokens(tokenize(texts))` must give what `__call__(texts)` gives.
- `max_input_tokens: int`: the longest input, in those tokens, the model sees whole. A longer input is a
  400 naming the limit, unless the request sets `truncate: true`; then the model must truncate it itself
  (token-id input is cut by the server). Needs `count_tokens` for text input.
- `embed_tokens(token_ids: list[list[int]], **options) -> ndarray`: vectors for token-id input, as the
  tokenizer gives them without special tokens; takes the same optional parameters as the model. Without
  it, token-id input is a 400.
- `vocab_size: int`: token ids outside 0..vocab_size-1 are a 400.
- `concurrent_batches: int`: how many batches the model computes at once to keep the machine busy (one
  per worker thread, say); the server runs up to that many at a time. Without it, one.
- `input_types: Mapping[str, str]`: task prefixes by name (say `{"query": "query: ", "document": ""}`); a
  request chooses one with `input_type`, and the server prepends it to every text.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from modelport.errors import InvalidRequestError, PredictorError
from modelport.protocol.embeddings import EmbeddingRequest
from modelport.runtime import Predictor
from modelport.serving.usage import estimate_tokens

# Inputs up to this many characters in all are counted on the event loop: well under a millisecond.
INLINE_COUNT_CHARS = 4096


@dataclass(frozen=True)
class EmbeddingHooks:
    """What a loaded embedding model declares beyond the basic contract."""

    count_tokens: Callable[[list[str]], list[int]] | None = None
    tokenize: Callable[[list[str]], list[list[int]]] | None = None
    embed_tokens: bool = False
    max_input_tokens: int | None = None
    vocab_size: int | None = None
    input_types: Mapping[str, str] | None = None
    concurrent_batches: int = 1

    @classmethod
    def of(cls, predictor: Predictor) -> EmbeddingHooks:
        count = predictor.attribute("count_tokens")
        tokenize = predictor.attribute("tokenize")
        limit = predictor.attribute("max_input_tokens")
        vocab = predictor.attribute("vocab_size")
        types = predictor.attribute("input_types")
        concurrent = predictor.attribute("concurrent_batches")
        return cls(
            count_tokens=count if callable(count) else None,
            tokenize=tokenize if callable(tokenize) else None,
            embed_tokens=callable(predictor.attribute("embed_tokens")),
            max_input_tokens=limit if isinstance(limit, int) and limit > 0 else None,
            vocab_size=vocab if isinstance(vocab, int) and vocab > 0 else None,
            input_types=types if isinstance(types, Mapping) and types else None,
            concurrent_batches=concurrent if isinstance(concurrent, int) and concurrent > 1 else 1,
        )


def parse_input(request: EmbeddingRequest) -> list[str] | list[list[int]]:
    """The request's input as a list of texts or a list of token-id lists; empty input is a 400."""
    value: Any = request.input
    if isinstance(value, str):
        value = [value]
    if not value:
        raise InvalidRequestError("'input' must not be empty.", param="input")
    if all(isinstance(item, int) for item in value):
        value = [value]
    if any(item == "" or item == [] for item in value):
        raise InvalidRequestError("'input' must not contain empty strings or empty token lists.", param="input")
    return list(value)


def with_prefix(hooks: EmbeddingHooks, request: EmbeddingRequest, texts: list[str]) -> list[str]:
    """The texts with the task prefix the request's `input_type` chooses; unchanged without one."""
    if request.input_type is None:
        return texts
    if hooks.input_types is None:
        raise InvalidRequestError(
            f"The model `{request.model}` declares no input types; leave 'input_type' out.",
            param="input_type",
            code="unsupported_parameter",
        )
    prefix = hooks.input_types.get(request.input_type)
    if prefix is None:
        valid = ", ".join(sorted(hooks.input_types))
        raise InvalidRequestError(
            f"Invalid 'input_type' {request.input_type!r} for the model `{request.model}`; valid: {valid}.",
            param="input_type",
        )
    return [prefix + text for text in texts]


def check_token_ids(hooks: EmbeddingHooks, request: EmbeddingRequest, token_ids: list[list[int]]) -> None:
    if not hooks.embed_tokens:
        raise InvalidRequestError(
            f"The model `{request.model}` takes text input; token-id input is not supported by it.",
            param="input",
        )
    if request.input_type is not None:
        raise InvalidRequestError("'input_type' needs text input, not token ids.", param="input_type")
    if hooks.vocab_size is not None:
        bad = next((token for ids in token_ids for token in ids if not 0 <= token < hooks.vocab_size), None)
        if bad is not None:
            raise InvalidRequestError(
                f"Token id {bad} is outside the vocabulary of the model `{request.model}` "
                f"(0 to {hooks.vocab_size - 1}).",
                param="input",
            )


async def text_token_counts(predictor: Predictor, hooks: EmbeddingHooks, texts: list[str]) -> list[int]:
    """Token counts by the model's tokenizer, or the estimate."""
    if hooks.count_tokens is None:
        return [estimate_tokens(text) for text in texts]
    counts = await _by_the_model(predictor, "count_tokens", hooks.count_tokens, texts)
    return [int(count) for count in counts]


async def text_token_ids(predictor: Predictor, hooks: EmbeddingHooks, texts: list[str]) -> list[list[int]]:
    """The token ids of each text by the model's `tokenize` hook."""
    assert hooks.tokenize is not None
    token_ids = await _by_the_model(predictor, "tokenize", hooks.tokenize, texts)
    if not all(isinstance(ids, list) for ids in token_ids):
        raise PredictorError(f"The model `{predictor.name}` broke its contract: tokenize must return lists of ids.")
    return token_ids


async def _by_the_model(predictor: Predictor, name: str, method: Callable[..., Any], texts: list[str]) -> list[Any]:
    """One result per text from the model's method `name`. Short inputs are done right here (a thread hop
    costs more than tokenizing a sentence); long ones in a thread, so the event loop stays free."""
    if sum(len(text) for text in texts) <= INLINE_COUNT_CHARS and not inspect.iscoroutinefunction(method):
        results = predictor.call_method_inline(name, texts)
    else:
        results = await predictor.call_method(name, texts)
    if not isinstance(results, list) or len(results) != len(texts):
        raise PredictorError(
            f"The model `{predictor.name}` broke its contract: {name} must return one result per text."
        )
    return results


def apply_limit(hooks: EmbeddingHooks, request: EmbeddingRequest, counts: list[int], measured: bool) -> list[int]:
    """The counts the model sees: a 400 for an input over the limit, or the limit when truncating."""
    limit = hooks.max_input_tokens
    if limit is None or not measured:
        return counts
    if not request.truncate:
        index = next((i for i, count in enumerate(counts) if count > limit), None)
        if index is not None:
            raise InvalidRequestError(
                f"Input {index} has {counts[index]} tokens; the model `{request.model}` takes at most {limit} "
                "tokens per input. Shorten it, or set 'truncate': true to cut it at the limit.",
                param="input",
                code="context_length_exceeded",
            )
    return [min(count, limit) for count in counts]
