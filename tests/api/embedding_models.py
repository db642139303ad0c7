"""A test embedding model with every optional hook: tokenizer counts, token-id input, a length limit,
a vocabulary and task prefixes. The session server serves it as `tokens-embed`, and as `ids-embed` with a
`tokenize` hook too.

Its "tokenizer" splits on whitespace; a word's id is the code of its first character modulo VOCAB. A
vector is [token count, first id, last id, 1 if the text starts with the query prefix].
"""

from __future__ import annotations

from typing import Annotated

import numpy as np

from modelport import App, Parameter

MAX_TOKENS = 8
VOCAB = 100
QUERY_PREFIX = "search_query: "
INPUT_TYPES = {"query": QUERY_PREFIX, "document": "search_document: "}


def tokenize(text: str) -> list[int]:
    return [ord(word[0]) % VOCAB for word in text.split()]


class TokensEmbed:
    """Vectors that show what the model saw."""

    max_input_tokens = MAX_TOKENS
    vocab_size = VOCAB
    input_types = INPUT_TYPES

    def count_tokens(self, texts: list[str]) -> list[int]:
        return [len(tokenize(text)) for text in texts]

    def __call__(self, texts: list[str]) -> Annotated[np.ndarray, Parameter.Embedding()]:
        # Like a real model, it truncates inputs over its limit itself.
        rows = [self._row(tokenize(text)[:MAX_TOKENS], text.startswith(QUERY_PREFIX)) for text in texts]
        return np.array(rows, dtype=np.float32)

    def embed_tokens(self, token_ids: list[list[int]]) -> np.ndarray:
        return np.array([self._row(ids, False) for ids in token_ids], dtype=np.float32)

    @staticmethod
    def _row(ids: list[int], query: bool) -> list[float]:
        return [float(len(ids)), float(ids[0]), float(ids[-1]), 1.0 if query else 0.0]


class IdsEmbed(TokensEmbed):
    """TokensEmbed that also tokenizes for the server, which then embeds text as ids. To show which way a
    vector came, its last column is 1 through `__call__` and 0 through `embed_tokens`; a real model gives
    the same vector either way."""

    def tokenize(self, texts: list[str]) -> list[list[int]]:
        return [tokenize(text) for text in texts]

    def __call__(self, texts: list[str]) -> Annotated[np.ndarray, Parameter.Embedding()]:
        rows = [self._row(tokenize(text)[:MAX_TOKENS], True) for text in texts]
        return np.array(rows, dtype=np.float32)


app = App("embedding-hooks")
app.add(TokensEmbed(), name="tokens-embed")
app.add(IdsEmbed(), name="ids-embed")
