"""A route class for endpoints that take only the request: run as a plain Starlette endpoint.

An endpoint that reads its own body (`server.bodies.read_json`) and answers a `Response` leaves FastAPI's
request handler nothing to do but its bookkeeping: solving the dependencies, looking for a body, checking
the answer's type. Per request that bookkeeping costs about as much as the event loop's share of a
one-sentence embedding. `OnePassRoute` calls such an endpoint directly, after its dependencies when each
of them too takes only the request (as the API-key check does); any other endpoint, or a FastAPI without
the hook this relies on, gets FastAPI's own handler. The error handlers and the OpenAPI document are
FastAPI's either way; so is routing, except that an `OnePassApp` reaches a one-pass route of a fixed path
without asking the router (`OnePassLanes`).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from typing import Any

import fastapi.routing
from fastapi import FastAPI, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

Check = Callable[[Request], Awaitable[Any]]
Handler = Callable[[Request], Awaitable[Response]]

# FastAPI's routes as its router tries them, included routers' flattened (FastAPI 0.165). A private helper:
# a FastAPI without it routes every request itself, as plain FastAPI does.
_route_contexts: Callable[[Sequence[BaseRoute]], Iterable[Any]] | None = getattr(
    fastapi.routing, "iter_route_contexts", None
)


class OnePassRoute(APIRoute):
    """An `APIRoute` whose endpoint and dependencies, each `async def f(request: Request)`, are awaited in
    order with the request and nothing else."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        # FastAPI builds a handler per inclusion, with the dependencies the inclusion adds (`include_router
        # (dependencies=...)`) in the included route's dependant; without the variable that names it, the
        # dependencies cannot be known, and FastAPI's handler runs.
        current = getattr(fastapi.routing, "_effective_route_context_var", None)
        if current is None:
            return super().get_route_handler()
        context = current.get()
        route = context if context is not None and context.original_route is self else self
        dependant: Dependant | None = route.dependant
        if dependant is None:
            return super().get_route_handler()
        one_pass = _one_pass(dependant)
        if one_pass is None:
            return super().get_route_handler()
        # Overridden dependencies (a test's, say) are FastAPI's to resolve.
        provider = route.dependency_overrides_provider
        fastapi_handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            if getattr(provider, "dependency_overrides", None):
                return await fastapi_handler(request)
            return await one_pass(request)

        return handle


def _one_pass(dependant: Dependant) -> Handler | None:
    """The route's dependencies then its endpoint, each awaited with the request alone, when each of them
    takes only the request; else None."""
    if not _takes_only_the_request(dependant):
        return None
    checks = _request_only(dependant.dependencies)
    if checks is None:
        return None
    endpoint: Handler = dependant.call  # type: ignore[assignment]

    async def one_pass(request: Request) -> Response:
        for check in checks:
            await check(request)
        return await endpoint(request)

    return one_pass


def _takes_only_the_request(dependant: Dependant) -> bool:
    params = (
        dependant.path_params,
        dependant.query_params,
        dependant.header_params,
        dependant.cookie_params,
        dependant.body_params,
    )
    others = (
        dependant.websocket_param_name,
        dependant.http_connection_param_name,
        dependant.response_param_name,
        dependant.background_tasks_param_name,
        dependant.security_scopes_param_name,
    )
    call = dependant.call
    return (
        call is not None
        and inspect.iscoroutinefunction(call)
        and dependant.request_param_name is not None
        and len(inspect.signature(call).parameters) == 1
        and not any(params)
        and all(name is None for name in others)
    )


def _request_only(dependencies: list[Dependant]) -> list[Check] | None:
    """The dependencies' functions, in FastAPI's order, if each takes only the request and has none of its
    own; else None."""
    checks: list[Check] = []
    for dependency in dependencies:
        if dependency.dependencies or not _takes_only_the_request(dependency):
            return None
        assert dependency.call is not None
        checks.append(dependency.call)
    return checks


class OnePassApp(FastAPI):
    """FastAPI, with a lane to each one-pass route in the router's place (see `OnePassLanes`)."""

    def build_middleware_stack(self) -> ASGIApp:
        stack = super().build_middleware_stack()
        # The layer that calls the router, unless the router has middleware of its own, which a lane would skip.
        layer: Any = stack
        while (inner := getattr(layer, "app", None)) is not None and inner is not self.router:
            layer = inner
        if (
            _route_contexts is not None
            and inner is self.router
            and getattr(self.router, "middleware_stack", None) == self.router.app
        ):
            layer.app = OnePassLanes(self, self.router)
        return stack


class OnePassLanes:
    """The app's innermost layer, in the router's place: a request for the fixed path of a one-pass route goes
    straight to that route's dependencies and endpoint; every other request goes to the router.

    FastAPI's router finds a route by trying every route before it (an included router's twice: once to
    match, once to handle), then wraps the endpoint in two exit stacks and an exception handler of its own:
    per small embedding request, about a sixth of what the event loop spends on it. A lane is made only for a
    method and path that the router would give to that route, as read from the routes in the router's order:
    no route before it could take the request (one that might, such as a mount, leaves the path to the
    router). A lane's request carries the scope the router gives it (the route, the endpoint, the path
    parameters); its errors go to the same exception handlers, one layer up.
    """

    def __init__(self, app: FastAPI, router: ASGIApp) -> None:
        self.app = app
        self.router = router
        self.lanes = _lanes(app.routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        lane = None
        if scope["type"] == "http" and not scope.get("root_path") and not self.app.dependency_overrides:
            lane = self.lanes.get((scope["method"], scope["path"]))
        if lane is None:
            await self.router(scope, receive, send)
            return
        route, handle = lane
        if "router" not in scope:
            scope["router"] = self.app.router
        scope["endpoint"] = route.endpoint
        scope["path_params"] = dict(scope.get("path_params", {}))
        scope["route"] = route
        response = await handle(Request(scope, receive, send))
        await response(scope, receive, send)


def _lanes(routes: Sequence[BaseRoute]) -> dict[tuple[str, str], tuple[APIRoute, Handler]]:
    """The one-pass handler of every fixed path and method the router would give a `OnePassRoute`."""
    if _route_contexts is None:
        return {}
    contexts = list(_route_contexts(routes))
    lanes: dict[tuple[str, str], tuple[APIRoute, Handler]] = {}
    for index, context in enumerate(contexts):
        route = context.original_route
        path = context.path_format
        if not isinstance(route, OnePassRoute) or path is None or "{" in path:
            continue
        dependant: Dependant | None = getattr(context, "dependant", None)
        handle = _one_pass(dependant) if dependant is not None else None
        if handle is None:
            continue
        for method in context.methods or ():
            if not any(_may_take(earlier, method, path) for earlier in contexts[:index]):
                lanes.setdefault((method, path), (route, handle))
    return lanes


def _may_take(context: Any, method: str, path: str) -> bool:
    """Whether the router might give an HTTP request for `method` and `path` to this route: a route that
    matches paths by a pattern and names its methods can be told; any other kind is assumed to."""
    pattern = getattr(context, "path_regex", None)
    if pattern is None:
        return True
    if not pattern.match(path):
        return False
    methods = getattr(context, "methods", None)
    return not methods or method in methods
