"""Checks OpenAI makes on chat and completions requests: scalars of their own type only, values in range,
and fields that need another field. Each is a 400 naming the field, never a coerced value or a 500."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI

from .helpers import assert_error, user

CHAT = "/v1/chat/completions"
COMPLETIONS = "/v1/completions"


def chat(**fields: Any) -> dict[str, Any]:
    return {"model": "echo", "messages": user("hi"), **fields}


def completion(**fields: Any) -> dict[str, Any]:
    return {"model": "echo", "prompt": "hi", **fields}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("stream", "yes"),
        ("stream", 1),
        ("n", "2"),
        ("n", 2.0),
        ("max_tokens", "10"),
        ("max_completion_tokens", "10"),
        ("logprobs", "yes"),
        ("temperature", "0.5"),
        ("seed", "7"),
        ("parallel_tool_calls", "false"),
        ("stream_options", {"include_usage": "yes"}),
    ],
)
def test_chat_scalars_are_not_coerced(http: httpx.Client, field: str, value: Any) -> None:
    body = chat(**{field: value})
    if field == "stream_options":
        body["stream"] = True
    error = assert_error(http.post(CHAT, json=body), 400)
    assert error["param"] is not None
    assert error["param"].split(".")[0] == field, error


@pytest.mark.parametrize(
    ("field", "value"),
    [("stream", "yes"), ("n", "2"), ("max_tokens", "10"), ("logprobs", "1"), ("echo", "yes"), ("seed", 1.5)],
)
def test_completion_scalars_are_not_coerced(http: httpx.Client, field: str, value: Any) -> None:
    error = assert_error(http.post(COMPLETIONS, json=completion(**{field: value})), 400)
    assert error["param"] == field, error


def test_an_integer_is_a_valid_number(client: OpenAI) -> None:
    # JSON has one number type: `temperature: 1` is as valid as `1.0`, as OpenAI takes it.
    response = client.chat.completions.create(
        model="echo", messages=user("hi"), temperature=1, top_p=1, presence_penalty=0, logit_bias={"5": 1}
    )
    assert response.choices[0].message.content


@pytest.mark.parametrize("path", [CHAT, COMPLETIONS])
def test_stream_options_need_stream(http: httpx.Client, path: str) -> None:
    make = chat if path == CHAT else completion
    for extra in ({}, {"stream": False}):
        body = make(stream_options={"include_usage": True}, **extra)
        error = assert_error(http.post(path, json=body), 400, param="stream_options")
        assert "stream" in error["message"]
    # A null stream_options is no stream option (and `echo` has no legacy completions: a 400 about that).
    response = http.post(path, json=make(stream_options=None))
    assert response.status_code == 200 or response.json()["error"]["param"] == "model"


def test_stream_options_without_stream_through_the_client(client: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="echo", messages=user("hi"), stream_options={"include_usage": True})
    assert caught.value.param == "stream_options"


@pytest.mark.parametrize("path", [CHAT, COMPLETIONS])
@pytest.mark.parametrize("bias", ["101", "-100.5", "1e308", "-1e308", "NaN", "Infinity", "-Infinity"])
def test_logit_bias_out_of_range(http: httpx.Client, path: str, bias: str) -> None:
    # NaN and Infinity are not JSON, but Python's parser reads them: the body is written by hand.
    prefix = '"messages": [{"role": "user", "content": "hi"}]' if path == CHAT else '"prompt": "hi"'
    body = f'{{"model": "echo", {prefix}, "logit_bias": {{"15": {bias}}}}}'.encode()
    response = http.post(path, content=body, headers={"content-type": "application/json"})
    error = assert_error(response, 400, param="logit_bias")
    assert "-100 to 100" in error["message"]


@pytest.mark.parametrize("path", [CHAT, COMPLETIONS])
def test_logit_bias_at_its_bounds_is_valid(http: httpx.Client, path: str) -> None:
    make = chat if path == CHAT else completion
    response = http.post(path, json=make(logit_bias={"15": 100, "16": -100.0}))
    assert response.status_code == 200 or response.json()["error"]["param"] == "model"


@pytest.mark.parametrize("logprobs", [None, False])
def test_top_logprobs_need_logprobs(client: OpenAI, logprobs: bool | None) -> None:
    extra = {} if logprobs is None else {"logprobs": logprobs}
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="echo", messages=user("hi"), top_logprobs=2, **extra)
    assert caught.value.param == "top_logprobs"


@pytest.mark.parametrize("path", [CHAT, COMPLETIONS])
@pytest.mark.parametrize("seed", [2**63, -(2**63) - 1, 10**30])
def test_seed_beyond_64_bits(http: httpx.Client, path: str, seed: int) -> None:
    make = chat if path == CHAT else completion
    assert_error(http.post(path, json=make(seed=seed)), 400, param="seed")


@pytest.mark.parametrize("seed", [2**63 - 1, -(2**63), -1, 0])
def test_seed_within_64_bits(http: httpx.Client, seed: int) -> None:
    assert http.post(CHAT, json=chat(seed=seed)).status_code == 200


@pytest.mark.parametrize(
    "response_format",
    [
        {"type": "json_schema", "json_schema": "x"},
        {"type": "json_schema"},
        {"type": "json_schema", "json_schema": {"name": "a", "schema": "x"}},
        {"type": "json_schema", "json_schema": {"name": 5, "schema": {}}},
        {"type": "xml"},
        {"json_schema": {"name": "a", "schema": {}}},
    ],
)
def test_malformed_response_format(http: httpx.Client, response_format: Any) -> None:
    error = assert_error(http.post(CHAT, json=chat(response_format=response_format)), 400)
    assert error["param"] == "response_format", error
