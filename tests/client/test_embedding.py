"""Embedding models against a live modelport: batching, task prefixes, sync and async."""

from __future__ import annotations

from typing import Any

import pytest
from openai.types import Model

from modelport.client import AIFactory, ConfigurationError, EmbeddingModel, TaskType
from modelport.client.embedding import batches
from modelport.client.prefixes import known_prefixes, prefixes_from_model_object

from .conftest import LiveServer


def make(server: LiveServer, model: str = "hash-embed", **config: Any) -> EmbeddingModel:
    return AIFactory.create_embedding("modelport", model, {"base_url": server.v1, "max_retries": 0, **config})


def test_embed(server: LiveServer) -> None:
    with make(server) as embedder:
        vectors = embedder.embed(["hello world", "goodbye world"])
    assert len(vectors) == 2
    assert all(len(vector) == 256 for vector in vectors)
    assert vectors[0] != vectors[1]


def test_a_lone_string_is_one_text(server: LiveServer) -> None:
    with make(server) as embedder:
        assert embedder.embed("hello world") == embedder.embed(["hello world"])


def test_no_texts_no_request(dead_url: str) -> None:
    with EmbeddingModel("hash-embed", base_url=dead_url) as embedder:
        assert embedder.embed([]) == []


def test_dimensions_from_config(server: LiveServer) -> None:
    with make(server, dimensions=16) as embedder:
        assert len(embedder.embed(["hello"])[0]) == 16


def test_any_batch_size_is_split_into_requests(server: LiveServer) -> None:
    # The probe model answers [texts in its request, position in the request] for every text.
    with make(server, "batch-size", batch_size=2) as embedder:
        vectors = embedder.embed([f"text {i}" for i in range(5)])
    assert vectors == [[2, 0], [2, 1], [2, 0], [2, 1], [1, 0]]


def test_the_default_batch_is_128(server: LiveServer) -> None:
    with make(server, "batch-size") as embedder:
        vectors = embedder.embed(["x"] * 130)
    assert [vector[0] for vector in vectors] == [128] * 128 + [2] * 2


def test_batches_keep_the_order(server: LiveServer) -> None:
    texts = [f"word{i} other{i}" for i in range(7)]
    with make(server, batch_size=3) as batched, make(server) as whole:
        assert batched.embed(texts) == whole.embed(texts)


def test_batches() -> None:
    assert list(batches(["a", "b", "c"], 2)) == [["a", "b"], ["c"]]
    assert list(batches([], 2)) == []


@pytest.mark.parametrize("size", [0, -1, 1.5, True])
def test_a_bad_batch_size_is_refused(size: Any) -> None:
    with pytest.raises(ConfigurationError, match="batch_size"):
        EmbeddingModel("hash-embed", config={"batch_size": size})


@pytest.mark.anyio
async def test_aembed(server: LiveServer) -> None:
    async with make(server, "batch-size", batch_size=2) as embedder:
        assert await embedder.aembed(["a", "b", "c"]) == [[2, 0], [2, 1], [1, 0]]
    with make(server) as sync:
        sync_vectors = sync.embed(["hello world"])
    async with make(server) as embedder:
        assert await embedder.aembed(["hello world"]) == sync_vectors


PREFIXES = {"retrieval_query": "query: ", "retrieval.document": "passage: "}


def test_task_type_applies_the_configured_prefix(server: LiveServer) -> None:
    with make(server, prefixes=PREFIXES) as embedder, make(server) as plain:
        assert embedder.embed(["hello world"], task_type="retrieval_query") == plain.embed(["query: hello world"])
        assert embedder.embed(["hello world"], task_type=TaskType.RETRIEVAL_DOCUMENT) == plain.embed(
            ["passage: hello world"]
        )
        # A task the table does not name, or no task, leaves the texts as they are.
        assert embedder.embed(["hello world"], task_type="clustering") == plain.embed(["hello world"])
        assert embedder.embed(["hello world"]) == plain.embed(["hello world"])


def test_task_type_from_config(server: LiveServer) -> None:
    with make(server, prefixes=PREFIXES, task_type="retrieval.query") as embedder, make(server) as plain:
        assert embedder.embed(["hello world"]) == plain.embed(["query: hello world"])
        # The call's task type wins.
        assert embedder.embed(["hello world"], task_type="retrieval_document") == plain.embed(["passage: hello world"])


@pytest.mark.anyio
async def test_aembed_applies_the_prefix(server: LiveServer) -> None:
    async with make(server, prefixes=PREFIXES) as embedder, make(server) as plain:
        expected = await plain.aembed(["query: hello world"])
        assert await embedder.aembed(["hello world"], task_type="retrieval_query") == expected


def test_a_model_without_prefixes_embeds_the_texts_as_they_are(server: LiveServer) -> None:
    # modelport's models publish no prefixes yet, and hash-embed is in no built-in table.
    with make(server) as embedder:
        assert embedder.embed(["hello world"], task_type="retrieval_query") == embedder.embed(["hello world"])


@pytest.mark.anyio
async def test_aembed_without_prefixes(server: LiveServer) -> None:
    async with make(server) as embedder:
        plain = await embedder.aembed(["hello world"])
        assert await embedder.aembed(["hello world"], task_type="similarity") == plain


def test_task_type_names() -> None:
    assert TaskType.parse("retrieval.query") is TaskType.RETRIEVAL_QUERY
    assert TaskType.parse("RETRIEVAL-DOCUMENT") is TaskType.RETRIEVAL_DOCUMENT
    with pytest.raises(ConfigurationError, match="Unknown task_type 'summary'"):
        TaskType.parse("summary")


def model_object(name: str, **extra: Any) -> Model:
    return Model.model_validate({"id": name, "object": "model", "created": 0, "owned_by": "x", **extra})


def test_prefix_sources_in_order() -> None:
    published = [model_object("e5-base-v2", task_prefixes={"retrieval_query": "search: "}), model_object("other")]
    served = EmbeddingModel("e5-base-v2", base_url="http://127.0.0.1:9/v1")
    # The endpoint's table wins over the built-in one...
    assert served.prefix_for(TaskType.RETRIEVAL_QUERY, published) == "search: "
    assert served.prefix_for(TaskType.CLUSTERING, published) == ""
    # ...which applies when the endpoint publishes none...
    assert served.prefix_for(TaskType.RETRIEVAL_DOCUMENT, [model_object("e5-base-v2")]) == "passage: "
    assert served.prefix_for(TaskType.RETRIEVAL_DOCUMENT, None) == "passage: "
    # ...and the config's table wins over both.
    configured = EmbeddingModel(
        "e5-base-v2", base_url="http://127.0.0.1:9/v1", config={"prefixes": {"retrieval_query": "q: "}}
    )
    assert configured.prefix_for(TaskType.RETRIEVAL_QUERY, published) == "q: "
    assert configured.prefix_for(TaskType.RETRIEVAL_DOCUMENT, published) == ""
    # Public models are matched without their organisation.
    assert EmbeddingModel("intfloat/e5-base-v2").prefix_for(TaskType.SIMILARITY) == "query: "


def test_published_prefix_tables() -> None:
    assert prefixes_from_model_object({"task_prefixes": {"clustering": "c: "}}) == {TaskType.CLUSTERING: "c: "}
    assert prefixes_from_model_object({}) is None
    assert prefixes_from_model_object(None) is None
    assert prefixes_from_model_object({"task_prefixes": {"clustering": 3}}) is None
    assert known_prefixes("Nomic-Embed-Text-v1.5") is not None


def test_a_bad_prefix_table_is_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"config\['prefixes'\]\['similarity'\]"):
        EmbeddingModel("hash-embed", config={"prefixes": {"similarity": 1}})
