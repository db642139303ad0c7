"""The registry: names and aliases to predictors (modelport.runtime.registry)."""

from collections.abc import Iterator
from typing import Annotated

import numpy as np
import pytest

from modelport import Message, Parameter
from modelport.errors import ModelNotFoundError, NotFoundError
from modelport.predictor import ModelSpec, build_spec
from modelport.runtime import DuplicateModelError, Predictor, Registry


def chat(messages: list[Message]) -> Iterator[str]:
    yield ""


def embed(texts: list[str]) -> Annotated[np.ndarray, Parameter.Embedding()]:
    return np.ones((len(texts), 2), dtype=np.float32)


def other_chat(messages: list[Message]) -> Iterator[str]:
    yield ""


def spec(target: object, name: str, *aliases: str) -> ModelSpec:
    return build_spec(target, name=name, aliases=aliases)


def test_names_and_aliases() -> None:
    registry = Registry([spec(chat, "echo", "echo-1", "e"), spec(embed, "ones")])
    assert registry.names() == ["echo", "echo-1", "e", "ones"]
    assert len(registry) == 2
    assert [p.name for p in registry] == ["echo", "ones"]


def test_aliases_resolve_to_the_same_predictor() -> None:
    registry = Registry([spec(chat, "echo", "echo-1")])
    predictor = registry.get("echo")
    assert isinstance(predictor, Predictor)
    assert registry.get("echo-1") is predictor
    assert predictor.name == "echo"


def test_add_returns_the_predictor() -> None:
    registry = Registry()
    predictor = registry.add(spec(embed, "ones"))
    assert registry.get("ones") is predictor
    assert predictor.spec.target is embed


def test_duplicate_name() -> None:
    registry = Registry([spec(chat, "echo")])
    with pytest.raises(DuplicateModelError) as excinfo:
        registry.add(spec(other_chat, "echo"))
    message = str(excinfo.value)
    assert "'echo'" in message
    assert chat.__qualname__ in message
    assert other_chat.__qualname__ in message


def test_alias_taking_a_served_name() -> None:
    registry = Registry([spec(chat, "echo")])
    with pytest.raises(DuplicateModelError) as excinfo:
        registry.add(spec(embed, "ones", "echo"))
    message = str(excinfo.value)
    assert "'echo'" in message
    assert "chat" in message
    assert "embed" in message


def test_name_taking_a_served_alias() -> None:
    with pytest.raises(DuplicateModelError, match=r"'echo-1'.*by chat and by other_chat"):
        Registry([spec(chat, "echo", "echo-1"), spec(other_chat, "echo-1")])


def test_a_refused_model_leaves_the_registry_unchanged() -> None:
    registry = Registry([spec(chat, "echo")])
    with pytest.raises(DuplicateModelError):
        registry.add(spec(embed, "ones", "echo"))
    assert registry.names() == ["echo"]
    assert len(registry) == 1
    with pytest.raises(ModelNotFoundError):
        registry.get("ones")


def test_duplicate_is_a_value_error() -> None:
    assert issubclass(DuplicateModelError, ValueError)


def test_unknown_name() -> None:
    registry = Registry([spec(embed, "ones"), spec(chat, "echo", "echo-1")])
    with pytest.raises(ModelNotFoundError) as excinfo:
        registry.get("gpt-4o")
    error = excinfo.value
    assert isinstance(error, NotFoundError)
    assert error.message == "The model `gpt-4o` does not exist. Models served here: echo, echo-1, ones."
    assert error.param == "model"
    assert error.code == "model_not_found"
    assert error.status_code == 404


def test_unknown_name_in_an_empty_registry() -> None:
    with pytest.raises(ModelNotFoundError, match="Models served here: none"):
        Registry().get("echo")


@pytest.mark.anyio
async def test_load_all_and_unload_all() -> None:
    events: list[str] = []

    class Embedder:
        def load(self) -> None:
            events.append("load")

        def unload(self) -> None:
            events.append("unload")

        def __call__(self, texts: list[str]) -> Annotated[np.ndarray, Parameter.Embedding()]:
            return np.ones((len(texts), 2), dtype=np.float32)

    registry = Registry([spec(Embedder, "embedder"), spec(chat, "echo")])
    assert not registry.get("embedder").loaded
    assert registry.get("echo").loaded
    await registry.load_all()
    assert registry.get("embedder").loaded
    assert events == ["load"]
    await registry.unload_all()
    assert not registry.get("embedder").loaded
    assert events == ["load", "unload"]
