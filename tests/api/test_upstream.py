"""Another modelport server, started here, as the upstream of a second one: real HTTP on 127.0.0.1.

The upstream serves `examples/` and the test models; the proxy in front of it serves them through upstream
entries (all that /models lists under a prefix, an explicit list with local names, an unreachable server,
an impatient one, one that wants a key) and is driven through the openai client.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from openai import OpenAI

import live_server
from live_server import LiveServer
from modelport.cli import main
from modelport.config import Settings
from modelport.runtime import Registry, load_targets
from modelport.upstream import UpstreamConfig, upstream_specs

from . import faulty_models, upstream_models
from .conftest import API_KEY
from .helpers import assert_error, user

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
KEY_VARIABLE = "MODELPORT_TEST_UPSTREAM_KEY"
CHAT = "/v1/chat/completions"


def _closed_port() -> int:
    """A port nothing listens on: bound, then released."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture(scope="module")
def upstream() -> Iterator[LiveServer]:
    targets = [str(EXAMPLES), faulty_models.__name__, upstream_models.__name__]
    with live_server.serve(Registry(load_targets(targets)), Settings()) as live:
        yield live


@pytest.fixture(scope="module")
def proxy(upstream: LiveServer, locked_server: LiveServer) -> Iterator[LiveServer]:
    os.environ[KEY_VARIABLE] = API_KEY
    entries = [
        UpstreamConfig(base_url=upstream.v1, prefix="up/"),
        UpstreamConfig(base_url=upstream.v1, models=["echo", "no-such-model"], names={"echo": "parrot"}),
        UpstreamConfig(base_url=f"http://127.0.0.1:{_closed_port()}/v1", models=["ghost"], connect_timeout=2),
        UpstreamConfig(base_url=upstream.v1, models=["gated-chat"], names={"gated-chat": "impatient"}, timeout=0.5),
        UpstreamConfig(base_url=locked_server.v1, models=["echo"], prefix="locked/", api_key_env=KEY_VARIABLE),
    ]
    try:
        registry = Registry([spec for entry in entries for spec in upstream_specs(entry)])
        with live_server.serve(registry, Settings()) as live:
            yield live
    finally:
        os.environ.pop(KEY_VARIABLE, None)


@pytest.fixture(scope="module")
def proxied(proxy: LiveServer) -> Iterator[OpenAI]:
    with OpenAI(base_url=proxy.v1, api_key="unused", max_retries=0, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def direct(upstream: LiveServer) -> Iterator[OpenAI]:
    with OpenAI(base_url=upstream.v1, api_key="unused", max_retries=0, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def raw(proxy: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=proxy.url, timeout=30) as client:
        yield client


def test_models_listed_under_prefix_and_names(proxied: OpenAI, direct: OpenAI) -> None:
    served = {model.id: model for model in proxied.models.list()}
    upstream_ids = [model.id for model in direct.models.list()]
    assert {f"up/{name}" for name in upstream_ids} <= set(served)
    assert {"parrot", "no-such-model", "ghost", "impatient", "locked/echo"} <= set(served)
    assert served["parrot"].owned_by == "127.0.0.1"
    assert served["up/echo"].owned_by == "modelport"


def test_chat_relayed(proxied: OpenAI) -> None:
    completion = proxied.chat.completions.create(model="up/echo", messages=user("over the hills"))
    assert completion.model == "up/echo"
    assert completion.choices[0].message.content == "over the hills"
    assert completion.usage is not None
    assert completion.usage.completion_tokens == 3
    renamed = proxied.chat.completions.create(model="parrot", messages=user("far away"), max_tokens=1)
    assert renamed.model == "parrot"
    assert renamed.choices[0].message.content == "far"
    assert renamed.choices[0].finish_reason == "length"


def test_unknown_fields_reach_the_upstream(proxied: OpenAI) -> None:
    completion = proxied.chat.completions.create(
        model="up/fields-chat", messages=user("hi"), temperature=0.5, extra_body={"flavor": "salty"}
    )
    assert completion.choices[0].message.content == "flavor=salty temperature=0.5"


def test_stream_relayed_chunk_by_chunk(proxied: OpenAI, direct: OpenAI) -> None:
    stream = proxied.chat.completions.create(
        model="up/echo", messages=user("one two three"), stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    assert all(chunk.model == "up/echo" for chunk in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "one two three"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    reference = list(direct.chat.completions.create(model="echo", messages=user("one two three"), stream=True))
    # The same chunks as the upstream sent, one for one (less the usage chunk, which was not asked for there).
    assert len(chunks) == len(reference) + 1


def test_stream_events_pass_before_the_upstream_finishes(raw: httpx.Client) -> None:
    # `slow-chat` takes ten seconds; its first ticks must arrive long before, then leaving closes it upstream.
    key = f"upstream disconnect {uuid.uuid4().hex}"
    closed = faulty_models.closed(key)
    body = {"model": "up/slow-chat", "messages": user(key), "stream": True}
    with raw.stream("POST", CHAT, json=body, timeout=5) as response:
        assert response.status_code == 200
        lines = response.iter_lines()
        events = []
        for line in lines:
            if line.startswith("data: "):
                events.append(json.loads(line.removeprefix("data: ")))
            if len(events) == 3:
                break
        assert [e["choices"][0]["delta"].get("content") for e in events[1:]] == [" tick", " tick"]
        assert not closed.is_set()
    assert closed.wait(timeout=5), "the upstream's generator was not closed after the client left"


def test_completions_relayed(proxied: OpenAI) -> None:
    completion = proxied.completions.create(model="up/reverse", prompt="abcdef")
    assert completion.model == "up/reverse"
    assert completion.choices[0].text == "fedcba"
    pieces = list(proxied.completions.create(model="up/reverse", prompt="abcdef", stream=True))
    assert "".join(c.choices[0].text for c in pieces if c.choices) == "fedcba"
    assert all(c.model == "up/reverse" for c in pieces)


def test_embeddings_relayed(proxied: OpenAI, direct: OpenAI) -> None:
    relayed = proxied.embeddings.create(model="up/hash-embed", input=["a cat", "a dog"], dimensions=16)
    reference = direct.embeddings.create(model="hash-embed", input=["a cat", "a dog"], dimensions=16)
    assert relayed.model == "up/hash-embed"
    assert [d.embedding for d in relayed.data] == [d.embedding for d in reference.data]


def test_speech_and_transcription_relayed(proxied: OpenAI, direct: OpenAI) -> None:
    speech = proxied.audio.speech.create(model="up/tones", voice="mid", input="hello", response_format="wav")
    reference = direct.audio.speech.create(model="tones", voice="mid", input="hello", response_format="wav")
    assert speech.content == reference.content
    events = list(
        proxied.audio.speech.create(
            model="up/tones", voice="mid", input="hello", response_format="wav", stream_format="sse"
        ).iter_lines()
    )
    assert any('"speech.audio.delta"' in line for line in events)
    text = proxied.audio.transcriptions.create(model="up/audio-length", file=("hello.wav", speech.content)).text
    assert text == direct.audio.transcriptions.create(model="audio-length", file=("hello.wav", speech.content)).text
    verbose = proxied.audio.transcriptions.create(
        model="up/audio-length", file=("hello.wav", speech.content), response_format="srt"
    )
    assert "-->" in str(verbose)
    accented = proxied.audio.transcriptions.create(
        model="up/fields-transcriber", file=("hello.wav", speech.content), extra_body={"accent": "scottish"}
    )
    assert accented.text == "accent=scottish"


def test_upstream_4xx_passed_through(raw: httpx.Client) -> None:
    wrong_endpoint = raw.post(CHAT, json={"model": "up/tones", "messages": user("hi")})
    error = assert_error(wrong_endpoint, 400, param="model", code="model_not_supported")
    assert "speech model" in error["message"]
    missing = raw.post(CHAT, json={"model": "no-such-model", "messages": user("hi")})
    assert_error(missing, 404, param="model", code="model_not_found")
    invalid = raw.post(CHAT, json={"model": "up/echo", "messages": user("hi"), "temperature": 3})
    assert_error(invalid, 400, param="temperature")
    streamed = raw.post(CHAT, json={"model": "no-such-model", "messages": user("hi"), "stream": True})
    assert_error(streamed, 404, code="model_not_found")


def test_unreachable_upstream_is_502(raw: httpx.Client) -> None:
    for stream in (False, True):
        response = raw.post(CHAT, json={"model": "ghost", "messages": user("hi"), "stream": stream})
        error = assert_error(response, 502, code="upstream_unavailable")
        assert "127.0.0.1" in error["message"]
        assert "cannot be reached" in error["message"]


def test_upstream_timeout_is_504(raw: httpx.Client) -> None:
    key = f"upstream timeout {uuid.uuid4().hex}"
    try:
        response = raw.post(CHAT, json={"model": "impatient", "messages": user(key)})
        error = assert_error(response, 504, code="upstream_timeout")
        assert "0.5 seconds" in error["message"]
        assert "127.0.0.1" in error["message"]
    finally:
        faulty_models.gate(key).set()
    key = f"upstream stream timeout {uuid.uuid4().hex}"
    try:
        # Streamed, the status is sent with the first chunk: the timeout ends the stream with an error event.
        with raw.stream("POST", CHAT, json={"model": "impatient", "messages": user(key), "stream": True}) as stream:
            assert stream.status_code == 200
            body = stream.read().decode()
    finally:
        faulty_models.gate(key).set()
    assert '"first"' in body
    assert '"upstream_timeout"' in body
    assert body.endswith("data: [DONE]\n\n")


def test_api_key_from_the_environment(proxied: OpenAI) -> None:
    completion = proxied.chat.completions.create(model="locked/echo", messages=user("let me in"))
    assert completion.choices[0].message.content == "let me in"


def test_refused_key_passes_the_401_through(locked_server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_VARIABLE, "not-the-key")
    registry = Registry(
        upstream_specs(UpstreamConfig(base_url=locked_server.v1, models=["echo"], api_key_env=KEY_VARIABLE))
    )
    with (
        live_server.serve(registry, Settings()) as live,
        OpenAI(base_url=live.v1, api_key="unused", max_retries=0) as client,
        pytest.raises(openai.AuthenticationError) as caught,
    ):
        client.chat.completions.create(model="echo", messages=user("hi"))
    assert "not-the-key" not in str(caught.value)


def test_unset_key_variable_fails_at_start() -> None:
    entry = UpstreamConfig(base_url="http://127.0.0.1:9/v1", models=["m"], api_key_env="MODELPORT_TEST_UNSET_VARIABLE")
    with pytest.raises(ValueError, match="MODELPORT_TEST_UNSET_VARIABLE is not set"):
        upstream_specs(entry)


def test_speaches_variables(
    upstream: LiveServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CHAT_COMPLETION_BASE_URL", upstream.v1)
    monkeypatch.setenv("CHAT_COMPLETION_MODEL", "shout")
    assert main(["models", upstream_models.__file__]) == 0
    listed = dict(line.split("\t")[:2] for line in capsys.readouterr().out.splitlines())
    assert listed == {"fields-chat": "chat", "reverse": "chat", "fields-transcriber": "transcription", "shout": "chat"}


def test_upstreams_from_the_environment(
    upstream: LiveServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MODELPORT_UPSTREAMS", json.dumps([{"base_url": upstream.v1, "prefix": "far/"}]))
    assert main(["models", upstream_models.__file__]) == 0
    listed = [line.split("\t")[0] for line in capsys.readouterr().out.splitlines()]
    assert {"fields-chat", "reverse", "far/echo", "far/echo-1", "far/fields-chat", "far/tones"} <= set(listed)
