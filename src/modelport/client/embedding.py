"""Embedding models: `embed` and `aembed`, any number of texts, with task prefixes when the model has them."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from openai.types import CreateEmbeddingResponse

from modelport.client.base import ClientModel
from modelport.client.config import Capability
from modelport.client.discovery import alist_models, list_models
from modelport.client.errors import ClientError, ConfigurationError, MissingExtraError
from modelport.client.prefixes import (
    PrefixTable,
    TaskType,
    known_prefixes,
    parse_table,
    prefixes_from_model_object,
)

if TYPE_CHECKING:
    from langchain_openai import OpenAIEmbeddings
    from openai.types import Model

__all__ = ["DEFAULT_BATCH_SIZE", "EmbeddingModel", "batches"]

DEFAULT_BATCH_SIZE = 128


class EmbeddingModel(ClientModel):
    """An embedding model on an OpenAI-compatible endpoint.

    `config` may hold the endpoint keys and: `batch_size` (texts per request, default 128), `dimensions`,
    `task_type` (the default of `embed`'s), `prefixes` (`{task type: prefix}`, overriding any published or
    known table), `extra_body` and `extra_headers`.
    """

    capability = Capability.EMBEDDING
    config_keys = frozenset({"batch_size", "dimensions", "task_type", "prefixes", "extra_body", "extra_headers"})

    def _configure(self) -> None:
        size = self.config.get("batch_size", DEFAULT_BATCH_SIZE)
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise ConfigurationError(f"config['batch_size'] must be a whole number >= 1, not {size!r}.")
        self.batch_size: int = size
        self.task_type = TaskType.parse(self.config["task_type"]) if self.config.get("task_type") else None
        prefixes = self.config.get("prefixes")
        if prefixes is not None and not isinstance(prefixes, Mapping):
            raise ConfigurationError(f"config['prefixes'] must be a dict of task type to prefix, not {prefixes!r}.")
        self._configured_prefixes = parse_table(prefixes, "config['prefixes']") if prefixes is not None else None

    def embed(self, texts: str | Sequence[str], task_type: str | TaskType | None = None) -> list[list[float]]:
        """One vector per text, in order; `texts` are sent `batch_size` at a time.

        `task_type` (default `config['task_type']`) puts the model's prefix for that task in front of every
        text, when the model has one.
        """
        items = _as_list(texts)
        task = self._task(task_type)
        prefix = ""
        if task:
            served = self._served_model_objects() if self._configured_prefixes is None else None
            prefix = self.prefix_for(task, served)
        vectors: list[list[float]] = []
        for batch in batches(items, self.batch_size):
            with self._guard():
                response = self.client.embeddings.create(**self._request(batch, prefix))
            vectors.extend(_vectors(response, len(batch)))
        return vectors

    async def aembed(self, texts: str | Sequence[str], task_type: str | TaskType | None = None) -> list[list[float]]:
        """`embed` without blocking the event loop."""
        items = _as_list(texts)
        task = self._task(task_type)
        prefix = ""
        if task:
            served = await self._aserved_model_objects() if self._configured_prefixes is None else None
            prefix = self.prefix_for(task, served)
        vectors: list[list[float]] = []
        client = self.async_client
        for batch in batches(items, self.batch_size):
            async with self._aguard():
                response = await client.embeddings.create(**self._request(batch, prefix))
            vectors.extend(_vectors(response, len(batch)))
        return vectors

    def prefix_for(self, task: TaskType, served: list[Model] | None = None) -> str:
        """The prefix this model puts in front of texts for `task` ("" when it has none).

        The table comes from `config['prefixes']`, else from this model's entry in `served` (the endpoint's
        model objects), else from the built-in table of public models.
        """
        table: PrefixTable | None = self._configured_prefixes
        if table is None:
            table = self._published_prefixes(served)
        if table is None:
            table = known_prefixes(self.model_name)
        return (table or {}).get(task, "")

    def to_langchain(self) -> OpenAIEmbeddings:
        """This model as a LangChain `OpenAIEmbeddings` (needs the `langchain` extra).

        It sends texts, not token ids (`check_embedding_ctx_length=False`): servers other than OpenAI's,
        modelport's included, embed text. LangChain does not apply task prefixes.
        """
        try:
            from langchain_openai import OpenAIEmbeddings
        except ImportError:
            raise MissingExtraError("to_langchain()", "langchain", "langchain-openai") from None
        return OpenAIEmbeddings(
            model=self.model_name,
            openai_api_base=self.endpoint.base_url,
            openai_api_key=self.endpoint.api_key_or_placeholder,
            request_timeout=self.endpoint.timeout,
            max_retries=self.endpoint.max_retries,
            chunk_size=self.batch_size,
            dimensions=self.config.get("dimensions"),
            check_embedding_ctx_length=False,
            default_headers=self.config.get("extra_headers"),
            model_kwargs={"extra_body": self.config["extra_body"]} if self.config.get("extra_body") else {},
        )

    def _task(self, task_type: str | TaskType | None) -> TaskType | None:
        return TaskType.parse(task_type) if task_type else self.task_type

    def _request(self, batch: list[str], prefix: str) -> dict[str, Any]:
        request: dict[str, Any] = {
            "model": self.model_name,
            "input": [prefix + text for text in batch],
            "encoding_format": "float",
        }
        for key in ("dimensions", "extra_body", "extra_headers"):
            if self.config.get(key) is not None:
                request[key] = self.config[key]
        return request

    def _published_prefixes(self, served: list[Model] | None) -> PrefixTable | None:
        for model in served or []:
            if model.id == self.model_name:
                return prefixes_from_model_object(model.model_extra)
        return None

    def _served_model_objects(self) -> list[Model] | None:
        # Prefixes are optional: an endpoint without a model list just has none.
        try:
            with self._guard():
                return list_models(self.client)
        except ClientError:
            return None

    async def _aserved_model_objects(self) -> list[Model] | None:
        try:
            async with self._aguard():
                return await alist_models(self.async_client)
        except ClientError:
            return None


def batches(items: Sequence[str], size: int) -> Iterator[list[str]]:
    """`items` in consecutive lists of at most `size`."""
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def _as_list(texts: str | Sequence[str]) -> list[str]:
    # A lone string is one text, not a sequence of one-character texts.
    items = [texts] if isinstance(texts, str) else list(texts)
    for index, text in enumerate(items):
        if not isinstance(text, str):
            raise ConfigurationError(f"texts[{index}] must be a string, not {type(text).__name__}.")
    return items


def _vectors(response: CreateEmbeddingResponse, expected: int) -> list[list[float]]:
    # The API promises an index per vector, not the order of the list.
    data = sorted(response.data, key=lambda item: item.index)
    if len(data) != expected:
        raise ClientError(f"The endpoint returned {len(data)} embeddings for {expected} texts.")
    return [list(item.embedding) for item in data]
