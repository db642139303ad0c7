"""A `modelport serve` subprocess for the benchmarks: on a free loopback port, ready before it is measured."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def modelport_server(*options: str, timeout: float = 300, command: str = "serve") -> Iterator[str]:
    """Run `modelport serve OPTIONS` (or `modelport deploy OPTIONS`, with `command`) and yield its base URL
    once its models are loaded, then stop it.

    Readiness, not liveness: models load in the background after the server starts, so `/health` answers
    before a model could serve and the first measured request would pay for the load.
    """
    port = free_port()
    argv = [sys.executable, "-m", "modelport", command, "--port", str(port), "--log-level", "warning"]
    process = subprocess.Popen([*argv, *options], stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{url}/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
