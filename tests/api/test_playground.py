"""The playground's files at `/`, the offline `/docs`, and `--no-playground`, over HTTP (the browser tests drive
the page itself)."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

import live_server
from modelport.config import Settings
from modelport.runtime import Registry, load_targets

from .conftest import EXAMPLES, LiveServer
from .helpers import assert_error

PLAYGROUND = Path(__file__).resolve().parents[2] / "src" / "modelport" / "playground"


def test_page_and_its_files_are_served(http: httpx.Client) -> None:
    page = http.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    referenced = set(re.findall(r'(?:src|href)="(/playground/[^"]+)"', page.text))
    imported = {
        f"/playground/{name}"
        for source in PLAYGROUND.glob("*.js")
        for name in re.findall(r'from "\./([\w.]+)"', source.read_text())
    }
    assert referenced >= {"/playground/main.js", "/playground/playground.css"}
    for path in referenced | imported:
        response = http.get(path)
        assert response.status_code == 200, path
        assert response.headers["cache-control"] == "no-cache"
    assert http.get("/playground/main.js").headers["content-type"] == "text/javascript; charset=utf-8"
    assert http.get("/playground/playground.css").headers["content-type"] == "text/css; charset=utf-8"


def test_page_names_no_other_host() -> None:
    # The browser tests refuse any request off 127.0.0.1; this names the culprit file sooner.
    for source in PLAYGROUND.iterdir():
        if source.suffix in (".html", ".js", ".css"):
            text = source.read_text()
            assert not re.search(r"""(?:src|href|url)\s*[=(]\s*["']?(?:https?:)?//""", text), source.name
            assert "cdn" not in text.lower(), source.name


def test_unknown_file_is_a_404(http: httpx.Client) -> None:
    assert_error(http.get("/playground/nothing.js"), 404, code="not_found")
    assert http.get("/playground/..%2Fcli.py").status_code == 404
    assert http.get("/playground/__init__.py").status_code == 404


def test_page_is_open_on_a_keyed_server(locked_server: LiveServer) -> None:
    with httpx.Client(base_url=locked_server.url) as http:
        assert http.get("/").status_code == 200
        assert http.get("/playground/api.js").status_code == 200
        assert http.get("/v1/models").status_code == 401


def test_docs_use_local_files(http: httpx.Client) -> None:
    page = http.get("/docs").text
    assets = re.findall(r"""(?:src|href)=["']([^"']+)["']|url: ?["']([^"']+)["']""", page)
    urls = {url for pair in assets for url in pair if url}
    assert urls, page
    assert all(url.startswith("/") for url in urls), urls
    bundle = http.get("/docs/assets/swagger-ui-bundle.js")
    assert bundle.status_code == 200
    assert bundle.headers["content-type"].startswith("text/javascript")
    assert "SwaggerUIBundle" in bundle.text[:2000]
    assert http.get("/docs/assets/swagger-ui.css").status_code == 200
    redoc = http.get("/redoc").text
    assert "/docs/assets/redoc.standalone.js" in redoc
    assert "fonts.googleapis" not in redoc
    assert http.get("/docs/assets/redoc.standalone.js").status_code == 200
    assert_error(http.get("/docs/assets/other.js"), 404, code="not_found")


def test_models_say_their_task(http: httpx.Client) -> None:
    tasks = {m["id"]: m["task"] for m in http.get("/v1/models").json()["data"]}
    assert tasks["echo"] == tasks["echo-1"] == "chat"
    assert tasks["hash-embed"] == "embeddings"
    assert tasks["tones"] == "speech"
    assert tasks["audio-length"] == "transcription"
    assert http.get("/v1/models/tones").json()["task"] == "speech"


def test_no_playground_setting() -> None:
    registry = Registry(load_targets([str(EXAMPLES)]))
    with live_server.serve(registry, Settings(playground=False)) as live, httpx.Client(base_url=live.url) as http:
        assert_error(http.get("/"), 404)
        assert http.get("/playground/main.js").status_code == 404
        assert http.get("/docs").status_code == 200
