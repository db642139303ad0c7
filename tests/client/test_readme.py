"""The README's client examples run as written, against a live modelport."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from .conftest import API_KEY, LiveServer

README = Path(__file__).resolve().parents[2] / "README.md"


def python_blocks(heading: str) -> list[str]:
    section = README.read_text().split(f"## {heading}", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)


def client_blocks() -> list[str]:
    return python_blocks("The client SDK")


def test_the_image_example(
    server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (block,) = [block for block in python_blocks("The examples") if "client.images" in block]
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {}
    exec(block.replace("http://127.0.0.1:8000/v1", server.v1), namespace)
    with Image.open(tmp_path / "sea.png") as sea:
        assert (sea.format, sea.size) == ("PNG", (256, 256))
    url = namespace["edited"].data[0].url
    assert url.startswith(f"{server.v1}/images/files/")
    assert httpx.get(url).headers["content-type"] == "image/png"
    assert capsys.readouterr().out.split() == [
        "image_generation.partial_image",
        "image_generation.partial_image",
        "image_generation.completed",
    ]


def test_the_local_example(
    server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The example expects modelport on 127.0.0.1:8000; the generic variable points it at the test server.
    monkeypatch.setenv("OPENAI_COMPATIBLE_BASE_URL", server.v1)
    monkeypatch.chdir(tmp_path)
    exec(client_blocks()[0], {})
    assert capsys.readouterr().out == "hello there"
    assert (tmp_path / "hi.wav").read_bytes()[:4] == b"RIFF"


def test_the_two_endpoint_example(
    server: LiveServer, locked_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_COMPATIBLE_BASE_URL_LLM", locked_server.v1)
    monkeypatch.setenv("OPENAI_COMPATIBLE_API_KEY_LLM", API_KEY)
    monkeypatch.setenv("OPENAI_COMPATIBLE_BASE_URL_EMBEDDING", server.v1)
    namespace: dict[str, object] = {}
    exec(
        "from modelport.client import AIFactory\n" + client_blocks()[1].replace("qwen2.5-coder-0.5b", "echo"), namespace
    )
    chat, embedder = namespace["chat"], namespace["embedder"]
    assert chat.chat_complete("hi").choices[0].message.content == "hi"  # type: ignore[attr-defined]
    assert chat.base_url == locked_server.v1  # type: ignore[attr-defined]
    assert len(embedder.embed(["hi"])[0]) == 256  # type: ignore[attr-defined]
