"""Request fields passed to a predictor's optional parameters (modelport.serving.arguments)."""

from collections.abc import Iterator
from typing import Annotated, Any, Literal

import pytest

from modelport import InvalidRequestError, Message, Parameter
from modelport.predictor import ModelSpec, build_spec
from modelport.serving.arguments import optional_arguments


class Engine:
    """A type pydantic has no validator for."""


def chat(
    messages: list[Message],
    temperature: float = 1.0,
    max_tokens: Annotated[int | None, Parameter.Generic(description="stop after this many tokens")] = None,
    stop: list[str] | None = None,
    style: Literal["plain", "fancy"] = "plain",
    engine: Engine | None = None,
) -> Iterator[str]:
    yield ""


@pytest.fixture(scope="module")
def spec() -> ModelSpec:
    return build_spec(chat)


MESSAGES: list[dict[str, Any]] = [{"role": "user", "content": "hi"}]


def test_matching_fields_are_passed(spec: ModelSpec) -> None:
    values = {"temperature": 0.5, "max_tokens": 10, "stop": ["\n"], "style": "fancy"}
    assert optional_arguments(spec, values) == values


def test_none_and_missing_fields_keep_the_default(spec: ModelSpec) -> None:
    assert optional_arguments(spec, {"temperature": None, "max_tokens": None}) == {}
    assert optional_arguments(spec, {}) == {}


def test_unknown_and_required_fields_are_skipped(spec: ModelSpec) -> None:
    values = {"model": "echo", "messages": MESSAGES, "top_p": 0.9, "temperature": 0.2}
    assert optional_arguments(spec, values) == {"temperature": 0.2}


def test_skip(spec: ModelSpec) -> None:
    values = {"temperature": 0.2, "max_tokens": 5}
    assert optional_arguments(spec, values, skip={"max_tokens"}) == {"temperature": 0.2}


def test_values_are_converted_to_the_annotation(spec: ModelSpec) -> None:
    arguments = optional_arguments(spec, {"temperature": 1, "stop": ("a", "b")})
    assert arguments == {"temperature": 1.0, "stop": ["a", "b"]}
    assert isinstance(arguments["temperature"], float)
    assert isinstance(arguments["stop"], list)


@pytest.mark.parametrize(
    ("name", "value"),
    [("temperature", "hot"), ("max_tokens", "many"), ("stop", 3), ("style", "loud"), ("max_tokens", 1.5)],
)
def test_wrong_type(spec: ModelSpec, name: str, value: Any) -> None:
    with pytest.raises(InvalidRequestError) as excinfo:
        optional_arguments(spec, {name: value})
    error = excinfo.value
    assert error.param == name
    assert error.status_code == 400
    assert error.message.startswith(f"Invalid value for '{name}': ")


def test_a_type_without_a_validator_is_passed_unchecked(spec: ModelSpec) -> None:
    engine = Engine()
    assert optional_arguments(spec, {"engine": engine}) == {"engine": engine}
