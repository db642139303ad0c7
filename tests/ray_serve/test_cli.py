"""`modelport deploy` on the command line: its help, configs refused before Ray starts, and a built-in model
deployed by the command, then listed by `deploy status` and removed by `deploy shutdown`."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from openai import OpenAI

from modelport.cli import main

from .conftest import DEPLOY_TIMEOUT, EXAMPLES, RayCluster

APP = "cli-e2e"
MINILM = "all-MiniLM-L6-v2"


def test_help_documents_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["deploy", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for option in (
        "--config",
        "--ray-address",
        "--app-name",
        "--host",
        "--port",
        "--deploy-timeout",
        "status",
        "shutdown",
        "num_replicas",
        "autoscaling",
        "num_cpus",
        "num_gpus",
        "memory",
        "max_ongoing_requests",
        "max_queued_requests",
    ):
        assert option in text, option


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[models.nope]\nnum_replicas = 2\n", "configures models that are not deployed: nope"),
        ("[defaults]\nreplicas = 2\n", "replicas"),
        ("[models.echo]\nnum_replicas = 2\n[models.echo.autoscaling]\nmax_replicas = 3\n", "not both"),
        ("[models.echo.ray_actor_options]\nnum_cpu = 0.5\n", "num_cpu"),
    ],
)
def test_bad_config_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str], toml: str, message: str) -> None:
    config = tmp_path / "deploy.toml"
    config.write_text(toml)
    # No Ray is started (the test session's may not be either): the config is checked first.
    assert main(["deploy", str(EXAMPLES), "--config", str(config), "--ray-address", "127.0.0.1:1"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("modelport: error:")
    assert message in error


@pytest.fixture(scope="module")
def deployed(ray_cluster: RayCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`modelport deploy` of the built-in embedding model, as a user runs it, on the test cluster."""
    folder = tmp_path_factory.mktemp("deploy")
    config = folder / "deploy.toml"
    config.write_text(f"[models.{MINILM}]\nmax_ongoing_requests = 8\nray_actor_options = {{ num_cpus = 0.2 }}\n")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with httpx.Client() as probe:
        command = [sys.executable, "-m", "modelport", "deploy", "--builtin", "embeddings", "--config", str(config)]
        command += ["--ray-address", ray_cluster.address, "--app-name", APP, "--port", str(port)]
        # A file, not a pipe: nobody reads a pipe while the command runs, and a full one would block it.
        log = (folder / "deploy.log").open("w")
        process = subprocess.Popen(command, stderr=log)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + DEPLOY_TIMEOUT
            while True:
                try:
                    if probe.get(f"{url}/health/ready", timeout=5).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert process.poll() is None, (folder / "deploy.log").read_text()
                assert time.monotonic() < deadline, "modelport deploy did not become ready"
                time.sleep(0.5)
            yield url
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log.close()


def test_deploy_serves_a_builtin_and_status_and_shutdown_manage_it(
    deployed: str, ray_cluster: RayCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    with OpenAI(base_url=f"{deployed}/v1", api_key="unused", max_retries=0, timeout=120) as client:
        response = client.embeddings.create(model=MINILM, input=["a red apple", "a green pear"])
    assert [len(item.embedding) for item in response.data] == [384, 384]

    assert main(["deploy", "status", "--ray-address", ray_cluster.address, "--app-name", APP]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status == {MINILM: {"status": "HEALTHY", "replicas": {"RUNNING": 1}}}

    assert main(["deploy", "shutdown", "--ray-address", ray_cluster.address, "--app-name", APP]) == 0
    assert APP in capsys.readouterr().out
    assert main(["deploy", "status", "--ray-address", ray_cluster.address, "--app-name", APP]) == 1
    assert json.loads(capsys.readouterr().out) == {}
