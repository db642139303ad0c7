"""Bodies read in one pass (server.bodies) answer as FastAPI's body parameters do: the same values, the same
400s, the same response bytes and the same OpenAPI document."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

import pytest
from fastapi import FastAPI, Request, Response
from fastapi.openapi.utils import get_openapi
from fastapi.testclient import TestClient
from pydantic import BaseModel, ConfigDict, Field

from modelport.protocol.text import Text
from modelport.server.bodies import document_json_bodies, json_body, json_response, read_json
from modelport.server.errors import install_error_handlers


class Thing(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: Text
    count: int = Field(ge=1)
    tags: list[str] | list[int] = []
    kind: Literal["a", "b"] = "a"
    weight: float | None = None


class Answer(BaseModel):
    thing: Thing
    doubled: list[float]


def _answer(thing: Thing) -> Answer:
    return Answer(thing=thing, doubled=[thing.count * 2.5, 1 / 3, 1e-7])


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/fastapi")
    async def by_fastapi(thing: Thing) -> Answer:
        return _answer(thing)

    @app.post("/one-pass", response_model=Answer)
    @json_body(Thing)
    async def one_pass(request: Request) -> Response:
        return json_response(_answer(await read_json(request, Thing)))

    return app


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(_app()) as client:
        yield client


JSON = "application/json"
BODIES = [
    (b'{"name": "x", "count": 2}', JSON),
    (b'{"name": "x", "count": 2, "tags": [1, 2], "kind": "b", "weight": 0.1, "extra": {"deep": [null]}}', JSON),
    (b'{"name": "x", "count": 2}', "application/json; charset=utf-8"),
    (b'{"name": "x", "count": 2}', "application/vnd.api+json"),
    (b'{"name": "x", "count": 2}', "text/plain"),
    (b'{"name": "x", "count": 2}', ""),
    ('{"name": "x", "count": 2}'.encode("utf-16"), JSON),
    (b'{"name": "x", "count": "2"}', JSON),
    (b'{"name": "x", "count": 2.0}', JSON),
    (b'{"name": "x", "count": 2, "count": 3}', JSON),
    (b'{"name": "x", "count": 2, "weight": NaN}', JSON),
    (b'{"name": "x", "count": 2, "weight": 1e999}', JSON),
    (b'{"name": "x", "count": 2} trailing', JSON),
    (b'{"name": ', JSON),
    (b"", JSON),
    (b"null", JSON),
    (b"[1]", JSON),
    (b'"x"', JSON),
    (b"{}", JSON),
    (b'{"count": 2}', JSON),
    (b'{"name": "x", "count": 0}', JSON),
    (b'{"name": "x", "count": "many"}', JSON),
    (b'{"name": "x", "count": 2, "kind": "c"}', JSON),
    (b'{"name": "x", "count": 2, "tags": [1, "a"]}', JSON),
    (b'{"name": "\\ud800", "count": 2}', JSON),
    (b'{"name": "caf\xc3", "count": 2}', JSON),
]


@pytest.mark.parametrize(("body", "content_type"), BODIES)
def test_every_body_is_answered_as_fastapi_answers_it(client: TestClient, body: bytes, content_type: str) -> None:
    headers = {"content-type": content_type} if content_type else {}
    theirs = client.post("/fastapi", content=body, headers=headers)
    mine = client.post("/one-pass", content=body, headers=headers)
    assert (mine.status_code, mine.headers["content-type"]) == (theirs.status_code, theirs.headers["content-type"])
    assert mine.content == theirs.content


def test_some_bodies_are_valid_and_some_are_not(client: TestClient) -> None:
    # Both kinds are above: the comparisons prove something only if both answers occur.
    headers = {"content-type": JSON}
    statuses = {client.post("/one-pass", content=body, headers=headers).status_code for body, _ in BODIES}
    assert statuses == {200, 400}


def test_the_openapi_document_shows_the_body_a_parameter_would() -> None:
    app = _app()
    schema = get_openapi(title="t", version="1", routes=app.routes)
    assert "requestBody" not in schema["paths"]["/one-pass"]["post"]
    document_json_bodies(schema, app.routes)
    theirs, mine = schema["paths"]["/fastapi"]["post"], schema["paths"]["/one-pass"]["post"]
    assert mine["requestBody"] == theirs["requestBody"]
    assert mine["responses"]["200"] == theirs["responses"]["200"]
    assert "Thing" in schema["components"]["schemas"]
