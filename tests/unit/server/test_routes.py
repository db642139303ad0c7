"""OnePassRoute (server.routes): an endpoint that takes only the request runs without FastAPI's handler,
after the dependencies that take only the request; anything else is FastAPI's, as before."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

import fastapi.routing
import pytest
from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient

from modelport.errors import AuthenticationError, ModelportError
from modelport.runtime import Registry
from modelport.server import create_app, routes
from modelport.server.errors import install_error_handlers
from modelport.server.routes import OnePassApp, OnePassRoute, _lanes

calls: list[str] = []


async def key_check(request: Request) -> None:
    calls.append("key")
    if request.headers.get("x-key") != "k":
        raise AuthenticationError("Incorrect API key provided.")


async def route_check(request: Request) -> None:
    calls.append("route")


async def reads_the_app(request: Request) -> str:
    return str(request.app.title)


router = APIRouter(route_class=OnePassRoute)


@router.post("/plain", dependencies=[Depends(route_check)])
async def plain(request: Request) -> Response:
    calls.append("endpoint")
    return Response(b"plain", media_type="text/plain")


@router.get("/with-a-query")
async def with_a_query(request: Request, n: int) -> dict[str, int]:
    return {"n": n}


@router.get("/with-a-value")
async def with_a_value(title: Annotated[str, Depends(reads_the_app)]) -> dict[str, str]:
    return {"title": title}


def _app() -> FastAPI:
    app = FastAPI(title="routes")
    install_error_handlers(app)
    app.include_router(router, dependencies=[Depends(key_check)])
    return app


@pytest.fixture
def fastapi_solves_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """FastAPI's handler fails from here on: a request answered took the one-pass way."""

    async def refuse(**_: Any) -> Any:
        raise ModelportError("FastAPI's handler ran")

    monkeypatch.setattr(fastapi.routing, "solve_dependencies", refuse)


@pytest.fixture
def client() -> Iterator[TestClient]:
    calls.clear()
    with TestClient(_app()) as client:
        yield client


@pytest.mark.usefixtures("fastapi_solves_nothing")
def test_the_dependencies_then_the_endpoint_run_without_fastapis_handler(client: TestClient) -> None:
    response = client.post("/plain", headers={"x-key": "k"})
    assert (response.status_code, response.text) == (200, "plain")
    assert calls == ["key", "route", "endpoint"]


@pytest.mark.usefixtures("fastapi_solves_nothing")
def test_a_failing_dependency_answers_through_the_error_handlers(client: TestClient) -> None:
    response = client.post("/plain")
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "Incorrect API key provided."
    assert calls == ["key"]


def test_other_endpoints_are_fastapis(client: TestClient) -> None:
    assert client.get("/with-a-query", params={"n": 3}, headers={"x-key": "k"}).json() == {"n": 3}
    assert client.get("/with-a-query", params={"n": "x"}, headers={"x-key": "k"}).status_code == 400
    assert client.get("/with-a-value", headers={"x-key": "k"}).json() == {"title": "routes"}
    assert client.get("/with-a-value").status_code == 401


def test_overridden_dependencies_are_honoured() -> None:
    app = _app()

    async def any_key(request: Request) -> None:
        calls.append("override")

    app.dependency_overrides[key_check] = any_key
    calls.clear()
    with TestClient(app) as client:
        assert client.post("/plain").status_code == 200
    assert calls == ["override", "route", "endpoint"]


@pytest.mark.usefixtures("fastapi_solves_nothing")
def test_the_servers_embeddings_route_takes_the_one_pass_way() -> None:
    with TestClient(create_app(Registry([])), base_url="http://localhost") as client:
        response = client.post("/v1/embeddings", json={"model": "nothing", "input": "hi"})
        assert response.json()["error"]["code"] == "model_not_found"
        # A route that FastAPI handles fails here: the patch takes hold.
        assert client.get("/v1/models").status_code == 500


# OnePassApp: a one-pass route of a fixed path is reached without the router.

lanes = APIRouter(route_class=OnePassRoute)


@lanes.post("/items/{name}")
async def by_name(request: Request) -> Response:
    return Response(f"by name {request.path_params['name']}", media_type="text/plain")


@lanes.post("/items/first")
async def shadowed(request: Request) -> Response:
    return Response(b"shadowed", media_type="text/plain")


@lanes.post("/scope")
async def scope_seen(request: Request) -> Response:
    scope = request.scope
    seen = {
        "route": scope["route"].path,
        "endpoint": scope["endpoint"].__name__,
        "path_params": scope["path_params"],
        "router": scope["router"] is request.app.router,
        "app": request.app.title,
        "calls": calls,
    }
    return JSONResponse(seen)


def _laned_app(kind: type[FastAPI] = OnePassApp) -> FastAPI:
    app = kind(title="lanes")
    install_error_handlers(app)
    app.include_router(router, dependencies=[Depends(key_check)])
    app.include_router(lanes)
    return app


@pytest.fixture
def router_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    """Apps made from here on fail in their router: a request answered took a lane."""
    route = fastapi.routing.APIRouter.app

    async def refuse(self: APIRouter, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            raise RuntimeError("the router ran")
        await route(self, scope, receive, send)

    monkeypatch.setattr(fastapi.routing.APIRouter, "app", refuse)


@pytest.mark.usefixtures("router_refuses", "fastapi_solves_nothing")
def test_a_one_pass_route_of_a_fixed_path_is_reached_without_the_router() -> None:
    calls.clear()
    with TestClient(_laned_app(), raise_server_exceptions=False) as client:
        response = client.post("/plain", headers={"x-key": "k"})
        assert (response.status_code, response.text) == (200, "plain")
        assert calls == ["key", "route", "endpoint"]
        # Its errors go through the same handlers.
        response = client.post("/plain")
        assert response.status_code == 401
        assert response.json()["error"]["message"] == "Incorrect API key provided."
        # Everything else is the router's, which fails here: the patch takes hold.
        assert client.get("/with-a-query", params={"n": 3}, headers={"x-key": "k"}).status_code == 500
        assert client.post("/items/x").status_code == 500


@pytest.mark.parametrize("kind", [FastAPI, OnePassApp])
def test_a_lanes_request_has_the_scope_the_router_gives(kind: type[FastAPI]) -> None:
    calls.clear()
    with TestClient(_laned_app(kind)) as client:
        assert client.post("/scope").json() == {
            "route": "/scope",
            "endpoint": "scope_seen",
            "path_params": {},
            "router": True,
            "app": "lanes",
            "calls": [],
        }


def test_a_path_a_route_before_may_take_stays_the_routers() -> None:
    # FastAPI gives /items/first to the route declared before it, /items/{name}; so does an OnePassApp.
    with TestClient(_laned_app()) as client:
        assert client.post("/items/first").text == "by name first"
        assert client.post("/scope").status_code == 200
    assert ("POST", "/items/first") not in _lanes(_laned_app().routes)
    assert ("POST", "/scope") in _lanes(_laned_app().routes)


@pytest.mark.usefixtures("router_refuses")
def test_overridden_dependencies_take_the_router() -> None:
    app = _laned_app()

    async def any_key(request: Request) -> None:
        calls.append("override")

    app.dependency_overrides[key_check] = any_key
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.post("/plain").status_code == 500


@pytest.mark.usefixtures("router_refuses", "fastapi_solves_nothing")
def test_the_servers_embeddings_route_has_a_lane() -> None:
    with TestClient(create_app(Registry([])), base_url="http://localhost", raise_server_exceptions=False) as client:
        response = client.post("/v1/embeddings", json={"model": "nothing", "input": "hi"})
        assert response.json()["error"]["code"] == "model_not_found"
        assert client.get("/v1/models").status_code == 500


@pytest.mark.usefixtures("fastapi_solves_nothing")
def test_without_fastapis_route_contexts_the_router_routes_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    # A FastAPI without the private helper the lanes are read with builds and routes as plain FastAPI.
    monkeypatch.setattr(routes, "_route_contexts", None)
    app = _laned_app()
    assert _lanes(app.routes) == {}
    calls.clear()
    with TestClient(app) as client:
        assert client.post("/plain", headers={"x-key": "k"}).text == "plain"
        assert client.post("/items/first").text == "by name first"
    assert calls == ["key", "route", "endpoint"]
