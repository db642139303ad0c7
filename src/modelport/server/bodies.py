"""JSON request bodies read and validated in one pass, and pydantic responses written in one pass.

FastAPI parses a body to Python objects, validates those, then validates the handler's answer again before
it serializes it; for a one-sentence embedding that is a large part of the request's cost on the event
loop. Here a route reads its body with `read_json` (pydantic validates the raw bytes in Rust) and answers
with `json_response`, and declares both models to OpenAPI as FastAPI would (`json_body` and the route's
`response_model`). A body that fails the one pass is read again as FastAPI reads it, so every error is the
one a FastAPI body parameter gives, through the same error path.
"""

from __future__ import annotations

import email.message
import inspect
import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from fastapi import HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel, ValidationError
from starlette.routing import BaseRoute

from modelport.server.errors import validation_error

Model = TypeVar("Model", bound=BaseModel)
Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])

_JSON = "application/json"
# The body model each endpoint reads with `read_json`, for the OpenAPI document.
_BODIES: dict[Callable[..., Any], type[BaseModel]] = {}


def json_body(model: type[BaseModel]) -> Callable[[Endpoint], Endpoint]:
    """Declares that the endpoint reads a `model` body with `read_json`: OpenAPI documents it as the
    body parameter it stands for."""

    def declare(endpoint: Endpoint) -> Endpoint:
        _BODIES[endpoint] = model
        return endpoint

    return declare


def document_json_bodies(schema: dict[str, Any], routes: Sequence[BaseRoute]) -> None:
    """Add to the OpenAPI `schema` of `routes` the request bodies `json_body` declared, each with its
    schemas exactly as FastAPI writes them for a body parameter (it writes them here, for stand-in routes)."""
    stand_ins = []
    for context in iter_route_contexts(routes):
        route = context.original_route
        if isinstance(route, APIRoute) and route.endpoint in _BODIES and context.path_format is not None:
            stand_ins.append(APIRoute(context.path_format, _taking(_BODIES[route.endpoint]), methods=route.methods))
    if not stand_ins:
        return
    bodies = get_openapi(title="", version="", routes=stand_ins)
    for route in stand_ins:
        for method in route.methods or ():
            operation = bodies["paths"][route.path][method.lower()]
            schema["paths"][route.path][method.lower()]["requestBody"] = operation["requestBody"]
    found = bodies.get("components", {}).get("schemas", {})
    schema.setdefault("components", {}).setdefault("schemas", {}).update(found)


def _taking(model: type[BaseModel]) -> Callable[..., Any]:
    """An endpoint that takes a `model` body, for the stand-in routes."""

    async def endpoint(body: Any) -> None:
        raise NotImplementedError

    parameter = inspect.Parameter("body", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=model)
    endpoint.__signature__ = inspect.Signature([parameter])  # type: ignore[attr-defined]
    return endpoint


async def read_json(request: Request, model: type[Model]) -> Model:
    """The request's body as `model`; a 400 in OpenAI's shape, naming the first problem, when it is not one."""
    body = await request.body()
    content_type = request.headers.get("content-type", "")
    if content_type == _JSON or content_type.startswith(_JSON + ";"):
        try:
            return model.model_validate_json(body)
        except ValidationError:
            pass
    return _as_fastapi_reads(body, content_type, model)


def _as_fastapi_reads(body: bytes, content_type: str, model: type[Model]) -> Model:
    """The body read and validated as FastAPI reads a body parameter: an empty body is missing, and the
    bytes are parsed as JSON only when the content type says JSON; the errors are located in the body."""
    if not body:
        missing = {"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}
        raise validation_error(RequestValidationError([missing]))
    value: Any = body
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    if message.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json")):
        try:
            value = json.loads(body)
        except json.JSONDecodeError as exc:
            error = {"type": "json_invalid", "loc": ("body", exc.pos), "msg": "JSON decode error", "input": {}}
            raise validation_error(RequestValidationError([error])) from exc
        except ValueError as exc:  # not text in any encoding JSON may have
            raise HTTPException(400, "There was an error parsing the body") from exc
    try:
        return model.model_validate(value, from_attributes=True)
    except ValidationError as exc:
        errors = [{**error, "loc": ("body", *error["loc"])} for error in exc.errors()]
        raise validation_error(RequestValidationError(errors)) from exc


def json_response(answer: BaseModel) -> Response:
    """`answer` as the JSON body FastAPI writes for a route's response model, without validating it again."""
    return Response(answer.__pydantic_serializer__.to_json(answer, by_alias=True), media_type=_JSON)
