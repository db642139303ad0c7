"""A `modelport serve` subprocess for the benchmarks: on a free loopback port, ready before it is measured."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class Served:
    """A running server: its base URL and its process (for its PID, to read its memory)."""

    url: str
    process: subprocess.Popen[bytes]


@contextmanager
def modelport_process(
    *options: str,
    env: Mapping[str, str] | None = None,
    timeout: float = 300,
    quiet: bool = False,
    command: str = "serve",
) -> Iterator[Served]:
    """Run `modelport serve OPTIONS` (or `modelport deploy OPTIONS`, with `command`) and yield it once its
    models are loaded, then stop it by its PID.

    Readiness, not liveness: models load in the background after the server starts, so `/health` answers
    before a model could serve and the first measured request would pay for the load. The server gets this
    process's environment without its `MODELPORT_*` variables (a developer's settings must not change what is
    measured), plus `env`; `quiet` also drops the server's log on stderr.
    """
    port = free_port()
    argv = [sys.executable, "-m", "modelport", command, "--port", str(port), "--log-level", "warning"]
    environment = {key: value for key, value in os.environ.items() if not key.startswith("MODELPORT_")}
    process = subprocess.Popen(
        [*argv, *options],
        cwd=ROOT,
        env={**environment, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL if quiet else None,
    )
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        return httpx.get(f"{url}/health/ready", timeout=2).status_code == 200

    with serving(process, url, ready, timeout=timeout, what="the server") as served:
        yield served


@contextmanager
def serving(
    process: subprocess.Popen[bytes],
    url: str,
    ready: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    interval: float = 0.5,
    stop_within: float = 60,
) -> Iterator[Served]:
    """Yield the server `process` answering at `url` once `ready()` holds (an HTTP error counts as not yet),
    then stop it by its PID."""
    try:
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if ready():
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not start")
            time.sleep(interval)
        yield Served(url, process)
    finally:
        process.terminate()
        process.wait(timeout=stop_within)


@contextmanager
def modelport_server(
    *options: str, env: Mapping[str, str] | None = None, timeout: float = 300, command: str = "serve"
) -> Iterator[str]:
    """Run `modelport serve OPTIONS` (see `modelport_process`) and yield its base URL once it is ready."""
    with modelport_process(*options, env=env, timeout=timeout, command=command) as served:
        yield served.url
