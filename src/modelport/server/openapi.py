"""The OpenAPI document: what the server really sends.

FastAPI documents a 422 for every route with a body, which this server never sends (a bad request is a
400 in OpenAI's error shape), and nothing for routes whose response is not one pydantic model. Here the
errors every route can answer are declared with their body, the 422 is dropped, and the routers declare
their 200 bodies (`RESPONSES_*` below), so that a client generator or a conformance checker reads the truth.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from modelport.audio import MEDIA_TYPES
from modelport.server.bodies import document_json_bodies
from modelport.server.errors import is_anthropic_route

ERROR_SCHEMA = "ErrorResponse"

_ERROR_BODY: dict[str, Any] = {
    "type": "object",
    "description": "OpenAI's error body.",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type", "param", "code"],
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                "code": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            },
        }
    },
}

ANTHROPIC_ERROR_SCHEMA = "AnthropicErrorResponse"

_ANTHROPIC_ERROR_BODY: dict[str, Any] = {
    "type": "object",
    "description": "Anthropic's error body, on the /v1/messages routes.",
    "required": ["type", "error"],
    "properties": {
        "type": {"const": "error"},
        "error": {
            "type": "object",
            "required": ["type", "message"],
            "properties": {"type": {"type": "string"}, "message": {"type": "string"}},
        },
    },
}

# Every status any route may answer with an error, and when.
_ERRORS = {
    "400": "The request is invalid: a field is missing, has the wrong type or value, or the model cannot do it.",
    "401": "An API key is configured and the request did not carry it (`Authorization: Bearer <key>`).",
    "404": "No model has this name.",
    "408": "The request body was not received in time.",
    "413": "The request body is over the size limit.",
    "421": "The Host header names a host this server does not answer to.",
    "429": "The model's queue is full; retry after `Retry-After` seconds.",
    "500": "The model failed, broke its contract, or ran out of time.",
}
# Routes outside /v1 are open, and those without a body or model name have fewer ways to fail.
_OPEN = {"401"}
_NO_BODY = {"400", "408", "413", "429"}


def event_stream(description: str) -> dict[str, Any]:
    """A `text/event-stream` body: `data: <json>` events, as `description` says. Before OpenAPI 3.2 (and
    its `itemSchema`), a stream's `schema` describes one event."""
    event = {
        "type": "object",
        "required": ["data"],
        "properties": {"data": {"type": "string", "description": description}, "event": {"type": "string"}},
    }
    return {"text/event-stream": {"schema": event}}


SPEECH_CONTENT: dict[str, Any] = {
    **{media: {"schema": {"type": "string", "format": "binary"}} for media in dict.fromkeys(MEDIA_TYPES.values())},
    **event_stream("With `stream_format=sse`: `speech.audio.delta` events, then one `speech.audio.done`."),
}


def install_openapi(app: FastAPI) -> None:
    """Replace the app's OpenAPI document by the refined one (built once, on first request)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes)
            document_json_bodies(schema, app.routes)
            refine(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def refine(schema: dict[str, Any]) -> None:
    """Drop the 422s and their schemas; declare the error responses of every operation."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)
    components[ERROR_SCHEMA] = _ERROR_BODY
    components[ANTHROPIC_ERROR_SCHEMA] = _ANTHROPIC_ERROR_BODY
    for path, operations in schema.get("paths", {}).items():
        # Each API answers errors in its own shape (server/errors.py chooses by the same route test).
        name = ANTHROPIC_ERROR_SCHEMA if is_anthropic_route(path) else ERROR_SCHEMA
        reference = {"$ref": f"#/components/schemas/{name}"}
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            # A query parameter can be invalid too: such a GET may answer 400.
            queried = any(p.get("in") == "query" for p in operation.get("parameters", ()))
            for status, description in _ERRORS.items():
                if status in _OPEN and not path.startswith("/v1/"):
                    continue
                if status in _NO_BODY and method == "get" and not (status == "400" and queried):
                    continue
                if status == "404" and method == "get" and "{" not in path:
                    continue
                responses.setdefault(
                    status, {"description": description, "content": {"application/json": {"schema": reference}}}
                )
