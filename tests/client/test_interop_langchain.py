"""`langchain-openai` against modelport, configured by hand and through `to_langchain()`.

`OpenAIEmbeddings` tokenizes texts with tiktoken and sends token ids unless `check_embedding_ctx_length` is
False; modelport's embedders (like most servers other than OpenAI's) take text, so it is set False here and
by `EmbeddingModel.to_langchain()`.
"""

from __future__ import annotations

import json

import pytest
from langchain_openai import ChatOpenAI, OpenAIEmbeddings

from modelport.client import AIFactory

from .conftest import LiveServer


def test_chat_openai(server: LiveServer) -> None:
    chat = ChatOpenAI(model="echo", base_url=server.v1, api_key="unused", max_retries=0)  # type: ignore[arg-type]
    assert chat.invoke("hello there").content == "hello there"
    assert "".join(str(chunk.content) for chunk in chat.stream("hello again")) == "hello again"


@pytest.mark.anyio
async def test_chat_openai_async(server: LiveServer) -> None:
    chat = ChatOpenAI(model="shout", base_url=server.v1, api_key="unused", max_retries=0)  # type: ignore[arg-type]
    assert (await chat.ainvoke("hello there")).content == "HELLO THERE"


def test_openai_embeddings(server: LiveServer) -> None:
    embeddings = OpenAIEmbeddings(
        model="hash-embed",
        base_url=server.v1,
        api_key="unused",  # type: ignore[arg-type]
        check_embedding_ctx_length=False,
        dimensions=32,
    )
    documents = embeddings.embed_documents(["hello world", "goodbye"])
    assert [len(vector) for vector in documents] == [32, 32]
    assert embeddings.embed_query("hello world") == documents[0]


def test_to_langchain_chat(server: LiveServer) -> None:
    model = AIFactory.create_language("modelport", "echo", {"base_url": server.v1, "max_tokens": 1})
    chat = model.to_langchain()
    assert isinstance(chat, ChatOpenAI)
    assert chat.invoke("hello there").content == "hello"


def test_to_langchain_streaming(server: LiveServer) -> None:
    chat = AIFactory.create_language("modelport", "shout", {"base_url": server.v1, "streaming": True}).to_langchain()
    assert chat.streaming
    assert "".join(str(chunk.content) for chunk in chat.stream("hi you")) == "HI YOU"


def test_to_langchain_embeddings(server: LiveServer) -> None:
    model = AIFactory.create_embedding("modelport", "hash-embed", {"base_url": server.v1, "dimensions": 16})
    embeddings = model.to_langchain()
    assert isinstance(embeddings, OpenAIEmbeddings)
    assert embeddings.embed_documents(["hello world"]) == [pytest.approx(model.embed(["hello world"])[0])]


def test_to_langchain_sends_the_config(server: LiveServer) -> None:
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}]
    config = {
        "base_url": server.v1,
        "temperature": 0.25,
        "max_completion_tokens": 5,
        "structured": {"type": "json"},
        "metadata": {"run": "1"},
        "logprobs": False,
    }
    chat = AIFactory.create_language("modelport", "inspect", config).to_langchain()
    sent = json.loads(str(chat.invoke("hi").content))
    assert sent["temperature"] == 0.25
    assert sent["response_format"] == {"type": "json_object"}
    # LangChain parses responses when a response_format is set, and then wants strict tools: tools apart.
    chat = AIFactory.create_language("modelport", "inspect", {"base_url": server.v1, "tools": tools}).to_langchain()
    assert json.loads(str(chat.invoke("hi").content))["tools"] == tools
