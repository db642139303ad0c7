"""A route class for endpoints that take only the request: run as a plain Starlette endpoint.

An endpoint that reads its own body (`server.bodies.read_json`) and answers a `Response` leaves FastAPI's
request handler nothing to do but its bookkeeping: solving the dependencies, looking for a body, checking
the answer's type. Per request that bookkeeping costs about as much as the event loop's share of a
one-sentence embedding. `OnePassRoute` calls such an endpoint directly, after its dependencies when each
of them too takes only the request (as the API-key check does); any other endpoint, or a FastAPI without
the hook this relies on, gets FastAPI's own handler. Routing, the error handlers and the OpenAPI document
are FastAPI's either way.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import fastapi.routing
from fastapi import Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

Check = Callable[[Request], Awaitable[Any]]


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
        if dependant is None or not _takes_only_the_request(dependant):
            return super().get_route_handler()
        checks = _request_only(dependant.dependencies)
        if checks is None:
            return super().get_route_handler()
        endpoint: Callable[[Request], Awaitable[Response]] = self.endpoint
        # Overridden dependencies (a test's, say) are FastAPI's to resolve.
        provider = route.dependency_overrides_provider
        fastapi_handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            if getattr(provider, "dependency_overrides", None):
                return await fastapi_handler(request)
            for check in checks:
                await check(request)
            return await endpoint(request)

        return handle


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
