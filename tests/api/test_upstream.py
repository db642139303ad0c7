"""Another modelport server, started here, as the upstream of a second one: real HTTP on 127.0.0.1.

The upstream serves `examples/` and the test models; the proxy in front of it serves them through upstream
entries (all that /models lists under a prefix, an explicit list with local names, an unreachable server,
an impatient one, one that wants a key) and is driven through the openai client. A third server declares
upstream models in a models file, each with its own lifecycle.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from openai import OpenAI

import live_server
from live_server import LiveServer
from modelport.catalog import build_registry
from modelport.cli import main
from modelport.config import Settings, load_settings
from modelport.runtime import Registry, load_targets
from modelport.upstream import UpstreamConfig, upstream_specs

from . import audio_models, faulty_models, upstream_models
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
    targets = [str(EXAMPLES), faulty_models.__name__, upstream_models.__name__, audio_models.__name__]
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
    # Listed under the task the upstream says (a modelport upstream says it); chat when it does not.
    tasks = {name: (model.model_extra or {}).get("task") for name, model in served.items()}
    assert (tasks["up/tones"], tasks["up/hash-embed"], tasks["up/echo"], tasks["parrot"]) == (
        "speech",
        "embeddings",
        "chat",
        "chat",
    )


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


# Upstream models declared in a models file: each loads on demand (or at start), unloads when idle.


@pytest.fixture(scope="module")
def declared(upstream: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    models_file = tmp_path_factory.mktemp("declared") / "models.toml"
    models_file.write_text(
        f"""
[models.far-echo]
engine = "upstream"
source = "{upstream.v1}"
model = "echo"
aliases = ["distant-echo"]
idle_timeout = 0.5

[models.far-tones]
engine = "upstream"
source = "{upstream.v1}"
model = "tones"
task = "speech"
load = "start"

[models.far-missing]
engine = "upstream"
source = "{upstream.v1}"
model = "no-such-model"

[models.far-ghost]
engine = "upstream"
source = "http://127.0.0.1:{_closed_port()}/v1"
connect_timeout = 2

[models.far-silent]
engine = "upstream"
source = "http://127.0.0.1:{_closed_port()}/v1"
model = "tts-1"
task = "speech"
connect_timeout = 2
"""
    )
    # A budget far below any local model: another server's models take nothing here, so they still load.
    settings = load_settings(models_file=models_file, max_memory="1MB")
    with live_server.serve(build_registry(settings), settings) as live:
        yield live


def _states(http: httpx.Client) -> dict[str, str]:
    return {entry["id"]: entry["state"] for entry in http.get("/v1/models").json()["data"]}


def test_a_declared_upstream_model_loads_on_demand_and_unloads_when_idle(declared: LiveServer, direct: OpenAI) -> None:
    with (
        httpx.Client(base_url=declared.url, timeout=30) as http,
        OpenAI(base_url=declared.v1, api_key="unused", max_retries=0, timeout=30) as client,
    ):
        assert http.get("/health/ready").status_code == 200
        states = _states(http)
        # Loaded at start means the upstream answered and lists the model.
        assert states["far-tones"] == "loaded"
        assert states["far-echo"] == states["far-missing"] == states["far-ghost"] == "unloaded"
        assert client.models.retrieve("far-tones").model_extra == {"task": "speech", "state": "loaded"}

        completion = client.chat.completions.create(model="distant-echo", messages=user("hello there"))
        assert completion.choices[0].message.content == "hello there"
        assert completion.model == "distant-echo"
        entry = http.get("/v1/models/far-echo").json()
        assert entry["state"] == "loaded"
        assert "memory_bytes" not in entry

        deadline = time.monotonic() + 30
        while _states(http)["far-echo"] != "unloaded":
            assert time.monotonic() < deadline, "the idle upstream model did not unload"
            time.sleep(0.05)
        # Loaded again by the next request, streamed through as before.
        stream = client.chat.completions.create(model="far-echo", messages=user("once more"), stream=True)
        assert "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices) == "once more"

        speech = client.audio.speech.create(model="far-tones", voice="mid", input="hello", response_format="wav")
        reference = direct.audio.speech.create(model="tones", voice="mid", input="hello", response_format="wav")
        assert speech.content == reference.content


def test_a_declared_upstream_model_that_cannot_load_says_why_and_retries(declared: LiveServer) -> None:
    with httpx.Client(base_url=declared.url, timeout=30) as http:
        missing = http.post(CHAT, json={"model": "far-missing", "messages": user("hi")})
        error = assert_error(missing, 502, code="upstream_unavailable")
        assert "`far-missing`" in error["message"]
        assert "does not serve `no-such-model`" in error["message"]
        assert "echo" in error["message"]
        for _ in range(2):
            # Each request tries the load again: the upstream may be back.
            ghost = http.post(CHAT, json={"model": "far-ghost", "messages": user("hi"), "stream": True})
            assert "cannot be reached" in assert_error(ghost, 502, code="upstream_unavailable")["message"]
        entry = http.get("/v1/models/far-ghost").json()
        assert entry["state"] == "unloaded"
        assert "cannot be reached" in entry["last_error"]


def _voices(url: str, **query: str) -> dict[str, dict[str, object]]:
    body = httpx.get(f"{url}/v1/audio/voices", params=query, timeout=30).json()
    return {entry["model"]: entry for entry in body["data"]}


def test_upstream_speech_models_list_the_voices_their_server_gives(
    upstream: LiveServer, proxy: LiveServer, declared: LiveServer
) -> None:
    theirs = _voices(upstream.url)
    assert theirs["tone-stream"]["aliases"]
    relayed = _voices(proxy.url)
    assert relayed["up/tones"] == {**theirs["tones"], "model": "up/tones"}
    # The aliases are the upstream's: it is the upstream that reads the voice a request names.
    assert relayed["up/tone-stream"] == {**theirs["tone-stream"], "model": "up/tone-stream"}
    assert "up/echo" not in relayed
    assert _voices(declared.url, model="far-tones") == {
        "far-tones": {"model": "far-tones", "voices": ["low", "mid", "high"], "aliases": {}}
    }
    assert _voices(declared.url, model="far-echo") == {}


def test_an_upstream_that_cannot_list_its_voices_gets_openais(declared: LiveServer) -> None:
    listed = _voices(declared.url)
    assert set(listed) == {"far-tones", "far-silent"}
    assert listed["far-silent"] == {
        "model": "far-silent",
        "voices": ["alloy", "ash", "ballad", "coral", "echo", "fable", "nova", "onyx", "sage", "shimmer", "verse"],
        "aliases": {},
    }
