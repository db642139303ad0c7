"""SIGTERM on `modelport serve`: streams finish within the grace period, the rest end with an error event,
the models unload and the process exits 0; logs are JSON lines carrying request ids."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from .test_cli import ROOT, STARTUP_TIMEOUT, free_port

GRACE = 2.0


def stream_lines(base: str, words: int, received: list[str], first: threading.Event) -> None:
    body = {
        "model": "shout",
        "messages": [{"role": "user", "content": " ".join(["word"] * words)}],
        "stream": True,
        "delay": 0.3,
    }
    with (
        httpx.Client(trust_env=False, timeout=30) as client,
        client.stream("POST", f"{base}/v1/chat/completions", json=body) as response,
    ):
        for line in response.iter_lines():
            if line:
                received.append(line)
                first.set()


def test_sigterm_lets_short_streams_finish_and_ends_long_ones(tmp_path: Path) -> None:
    environment = {k: v for k, v in os.environ.items() if not k.upper().startswith("MODELPORT_")}
    port = free_port()
    log_path = tmp_path / "server.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "modelport",
                "serve",
                "examples/",
                "--port",
                str(port),
                "--shutdown-grace",
                str(GRACE),
                "--log-format",
                "json",
            ],
            cwd=ROOT,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + STARTUP_TIMEOUT
            while True:
                assert process.poll() is None, log_path.read_text()
                try:
                    if httpx.get(f"{base}/health/ready", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "the server did not become ready"
                time.sleep(0.1)
            short: list[str] = []
            long: list[str] = []
            started = [threading.Event(), threading.Event()]
            threads = [
                threading.Thread(target=stream_lines, args=(base, 3, short, started[0])),
                threading.Thread(target=stream_lines, args=(base, 40, long, started[1])),
            ]
            for thread in threads:
                thread.start()
            assert all(event.wait(10) for event in started)
            process.send_signal(signal.SIGTERM)
            sent = time.monotonic()
            for thread in threads:
                thread.join(30)
            assert process.wait(timeout=30) == 0, log_path.read_text()
            elapsed = time.monotonic() - sent
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    # The short stream finished on its own: its words, then [DONE], no error.
    assert short[-1] == "data: [DONE]"
    assert not any('"error"' in line for line in short)
    assert (
        "".join(
            json.loads(line[6:])["choices"][0]["delta"].get("content") or ""
            for line in short[:-1]
            if json.loads(line[6:]).get("choices")
        )
        == "WORD WORD WORD"
    )
    # The long one was cut at the end of the grace period with an error event, then [DONE].
    assert long[-1] == "data: [DONE]"
    error = json.loads(long[-2][6:])["error"]
    assert error["code"] == "server_shutting_down"
    assert error["type"] == "server_error"
    assert len(long) < 40
    # The grace period was given (the short stream had it); then the process ended without waiting for the long one.
    assert GRACE - 0.5 <= elapsed < 30
    records = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    access = [r for r in records if r["logger"] == "modelport.access"]
    assert {r["path"] for r in access} >= {"/v1/chat/completions", "/health/ready"}
    assert all(len(r["request_id"]) == 32 for r in access)
    assert any("shutting down" in r["message"] for r in records)
