"""`App` and the `model` decorator (modelport.app)."""

from collections.abc import Iterator
from typing import Annotated

import numpy as np
import pytest

from modelport import App, Message, Parameter, SignatureError, Task, model
from modelport.app import spec_of

Embedding = Annotated[np.ndarray, Parameter.Embedding()]


def embed(texts: list[str]) -> Embedding:
    """Ones for every text."""
    return np.ones((len(texts), 2), dtype=np.float32)


@model("echo", aliases=["echo-1"], description="Echoes.")
def echo(messages: list[Message]) -> Iterator[str]:
    """Repeats the conversation."""
    yield "echo"


def test_from_decorated_and_undecorated_functions() -> None:
    app = App("demo", [echo, embed])
    assert app.name == "demo"
    assert len(app) == 2
    decorated, plain = app.specs
    assert decorated is spec_of(echo)
    assert (plain.name, plain.task, plain.target) == ("embed", Task.EMBEDDINGS, embed)
    assert plain.description == "Ones for every text."
    assert spec_of(embed) is None, "adding a plain function must not decorate it"
    assert [spec.name for spec in app] == ["echo", "embed"]


def test_defaults() -> None:
    app = App()
    assert app.name == "modelport"
    assert len(app) == 0
    assert app.specs == ()
    assert repr(app) == "App('modelport', models=[])"


def test_repr_lists_the_models() -> None:
    assert repr(App("demo", [echo, embed])) == "App('demo', models=['echo', 'embed'])"


def test_a_broken_function_fails_construction() -> None:
    def chat(messages: list[Message], temperature: float) -> Iterator[str]:
        yield ""

    with pytest.raises(SignatureError, match="parameter 'temperature'"):
        App("demo", [chat])


def test_model_decorator_adds_and_returns_the_function() -> None:
    app = App("demo")

    @app.model("ones", aliases=["one"])
    def ones(texts: list[str]) -> Embedding:
        return np.ones((len(texts), 3), dtype=np.float32)

    assert ones(["a", "b"]).shape == (2, 3)
    spec = spec_of(ones)
    assert spec is not None
    assert app.specs == (spec,)
    assert (spec.name, spec.aliases, spec.task) == ("ones", ("one",), Task.EMBEDDINGS)


def test_bare_model_decorator_adds_the_function_under_its_name() -> None:
    app = App("demo")

    @app.model
    def ones(texts: list[str]) -> Embedding:
        return np.ones((len(texts), 3), dtype=np.float32)

    assert ones(["a"]).shape == (1, 3)
    assert [spec.name for spec in app] == ["ones"]


def test_model_decorator_without_a_name_and_with_a_task() -> None:
    app = App()

    @app.model(task="chat")
    def talk(messages: list[Message]) -> Iterator[str]:
        yield ""

    assert [(s.name, s.task) for s in app] == [("talk", Task.CHAT)]


def test_model_decorator_raises_for_a_broken_function() -> None:
    app = App()

    def chat(messages: list[Message], temperature: float) -> Iterator[str]:
        yield ""

    decorate = app.model("chat")
    with pytest.raises(SignatureError, match="other parameters need defaults"):
        decorate(chat)
    assert len(app) == 0


def test_add_returns_the_spec() -> None:
    app = App()
    spec = app.add(embed)
    assert app.specs == (spec,)
    assert spec.name == "embed"


def test_add_overrides_the_decorator() -> None:
    app = App()
    spec = app.add(echo, name="parrot", aliases=["polly"], description="Parrots.")
    assert (spec.name, spec.aliases, spec.description, spec.task) == ("parrot", ("polly",), "Parrots.", Task.CHAT)
    original = spec_of(echo)
    assert original is not None
    assert (original.name, original.aliases, original.description) == ("echo", ("echo-1",), "Echoes.")


def test_add_keeps_what_the_override_leaves_out() -> None:
    spec = App().add(echo, name="parrot")
    assert (spec.name, spec.aliases, spec.description) == ("parrot", ("echo-1",), "Echoes.")
    spec = App().add(echo, aliases=["e"])
    assert (spec.name, spec.aliases, spec.description) == ("echo", ("e",), "Echoes.")


def test_add_can_clear_the_description() -> None:
    spec = App().add(echo, description="")
    assert spec.description == ""


def test_add_with_a_task_checks_its_rules() -> None:
    with pytest.raises(SignatureError, match="a speech function takes a voice"):
        App().add(echo, task="speech")


def test_add_names_a_plain_function() -> None:
    spec = App().add(embed, name="ones", aliases=["one"], task=Task.EMBEDDINGS)
    assert (spec.name, spec.aliases, spec.task) == ("ones", ("one",), Task.EMBEDDINGS)
    assert spec_of(embed) is None


def test_same_function_under_two_names() -> None:
    app = App("demo")
    first = app.add(embed, name="a")
    second = app.add(embed, name="b")
    assert [s.name for s in app] == ["a", "b"]
    assert first.target is second.target is embed
