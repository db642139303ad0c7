"""The `modelport` command, run as a subprocess the way a user runs it."""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
COMMAND_TIMEOUT = 60
STARTUP_TIMEOUT = 30.0


@pytest.fixture
def environment() -> dict[str, str]:
    """The outer environment without MODELPORT_* settings, so only the test's arguments count."""
    return {k: v for k, v in os.environ.items() if not k.upper().startswith("MODELPORT_")}


def modelport(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "modelport", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )


def test_models_lists_the_examples(environment: dict[str, str]) -> None:
    result = modelport("models", "examples/", env=environment)
    assert result.returncode == 0, result.stderr
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    tasks = {row[0]: row[1] for row in rows}
    assert tasks == {
        "echo": "chat",
        "shout": "chat",
        "hash-embed": "embeddings",
        "audio-length": "transcription",
        "tones": "speech",
        "patterns": "image",
    }
    details = {row[0]: row[2] for row in rows}
    assert "aliases=echo-1" in details["echo"]
    assert "voices=low,mid,high sample_rate=24000" in details["tones"]
    assert "sample_rate=16000" in details["audio-length"]


def test_models_reports_a_broken_signature(environment: dict[str, str], tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text(
        "from collections.abc import Iterator\n"
        "from modelport import Message, model\n"
        "\n"
        "@model\n"
        "def chatty(messages: list[Message], temperature: float) -> Iterator[str]:\n"
        "    yield ''\n"
    )
    result = modelport("models", str(broken), env=environment)
    assert result.returncode == 2
    assert result.stdout == ""
    assert "modelport: error: chatty, parameter 'temperature': a chat function's other parameters need defaults" in (
        result.stderr
    )
    assert "Traceback" not in result.stderr


def test_no_target_means_the_built_in_models(environment: dict[str, str]) -> None:
    # `serve` with no target serves the built-in models; `models` lists them without loading them.
    result = modelport("models", env=environment)
    assert result.returncode == 0, result.stderr
    for line in (
        "qwen2.5-coder-0.5b-instruct\tchat",
        "all-MiniLM-L6-v2\tembeddings\tOnnxSentenceEmbedder",
        "whisper-base\ttranscription",
        "whisper-tiny.en\ttranscription",
        "hibari\tspeech",
        "piper-joe\tspeech",
    ):
        assert line in result.stdout
    assert "Traceback" not in result.stderr


def test_serve_help_describes_every_option(environment: dict[str, str]) -> None:
    result = modelport("serve", "--help", env=environment)
    assert result.returncode == 0
    assert "TCP port to listen on" in result.stdout
    assert "None" not in result.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def server(environment: dict[str, str], tmp_path: Path) -> Iterator[str]:
    """`modelport serve examples/` on a free port; yields its base URL once /health answers."""
    port = free_port()
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "modelport", "serve", "examples/", "--port", str(port)],
        cwd=ROOT,
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        with httpx.Client(trust_env=False, timeout=2.0) as client:
            while True:
                if process.poll() is not None:
                    pytest.fail(
                        f"the server exited with {process.returncode}:\n{(tmp_path / 'server.log').read_text()}"
                    )
                try:
                    if client.get(f"{base}/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(f"the server did not answer within {STARTUP_TIMEOUT} s")
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def test_serve_answers_the_openai_client(server: str) -> None:
    with httpx.Client(trust_env=False) as http_client:
        health = http_client.get(f"{server}/health").json()
        assert health["status"] == "ok"
        assert health["models"]["tones"] == {"task": "speech", "loaded": True}
        client = openai.OpenAI(base_url=f"{server}/v1", api_key="unused", http_client=http_client, max_retries=0)
        ids = {model.id for model in client.models.list()}
        assert ids == {"echo", "echo-1", "shout", "hash-embed", "audio-length", "tones", "patterns"}
        assert client.models.retrieve("echo-1").owned_by == "modelport"
