"""The one error path: every failure leaves the server as OpenAI's `{"error": {...}}` body, or, on the
Anthropic Messages routes, as Anthropic's `{"type": "error", "error": {"type", "message"}}`."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from modelport.errors import InvalidRequestError, ModelportError, NotFoundError, PredictorError

logger = logging.getLogger(__name__)


# Anthropic's error type for each status it uses; any other status takes the type of its class.
_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}

ANTHROPIC_PREFIX = "/v1/messages"


def anthropic_error_body(error: ModelportError) -> dict[str, Any]:
    """The error as Anthropic's API writes it."""
    kind = _ANTHROPIC_TYPES.get(error.status_code) or (
        "api_error" if error.status_code >= 500 else "invalid_request_error"
    )
    return {"type": "error", "error": {"type": kind, "message": error.message}}


def is_anthropic_route(path: str) -> bool:
    return path == ANTHROPIC_PREFIX or path.startswith(ANTHROPIC_PREFIX + "/")


def error_body(error: ModelportError, path: str) -> dict[str, Any]:
    """The body for `error` on the route `path`: each API answers in its own shape."""
    return anthropic_error_body(error) if is_anthropic_route(path) else error.to_dict()


class _ErrorJSONResponse(JSONResponse):
    """JSON in ASCII: a message may quote what the client sent, lone surrogates included, which UTF-8
    cannot encode; escaped, they still reach the client as the JSON string it sent."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")


def error_response(error: ModelportError, request: Request) -> JSONResponse:
    return _ErrorJSONResponse(error_body(error, request.url.path), status_code=error.status_code, headers=error.headers)


def validation_error(exc: RequestValidationError) -> InvalidRequestError:
    """A 400 naming the first invalid field, as OpenAI reports one problem at a time."""
    errors = exc.errors()
    if not errors:
        return InvalidRequestError("The request is invalid.")
    first = errors[0]
    if first.get("type") == "json_invalid":
        return InvalidRequestError(
            "We could not parse the JSON body of your request: it is not valid JSON.", code="invalid_json"
        )
    param = _param(first.get("loc", ()))
    message = first.get("msg", "Invalid value")
    if first.get("type") == "missing":
        message = (
            f"Missing required parameter: '{param}'." if param else "The request body is missing; send a JSON object."
        )
    elif param:
        message = f"Invalid value for '{param}': {message}."
    return InvalidRequestError(
        message, param=param, code="missing_required_parameter" if first.get("type") == "missing" else None
    )


# Tagged unions add their tag to an error's location ("messages", 0, "user", "content"); it names no field.
_UNION_TAGS = {
    "messages": {"system", "developer", "user", "assistant", "tool", "function"},
    "input": {"message", "function_call", "function_call_output", "reasoning"},
    "content": {
        "text",
        "input_text",
        "input_image",
        "input_file",
        "output_text",
        "image_url",
        "input_audio",
        "file",
        "refusal",
        "image",
        "tool_use",
        "tool_result",
    },
}

# A plain union names the member that failed ("content", "str"); that names no field either.
_UNION_MEMBERS = {"str", "int", "float", "bool", "list", "dict", "none"}


def _param(location: tuple[int | str, ...] | list[int | str]) -> str | None:
    """The field path in OpenAI's style, `messages[0].content`, without where the value came from."""
    parts = [
        p
        for p in location
        if isinstance(p, int)
        or (p not in ("body", "query", "path", "header") and p not in _UNION_MEMBERS and "[" not in p)
    ]
    param = ""
    for i, part in enumerate(parts):
        if isinstance(part, int):
            param += f"[{part}]"
        elif not (i >= 2 and isinstance(parts[i - 1], int) and part in _UNION_TAGS.get(str(parts[i - 2]), ())):
            param += f".{part}" if param else part
    return param or None


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ModelportError)
    async def _modelport(request: Request, exc: ModelportError) -> JSONResponse:
        return error_response(exc, request)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(validation_error(exc), request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            error: ModelportError = NotFoundError(
                f"Unknown request URL: {request.method} {request.url.path}.", code="unknown_url"
            )
        else:
            error = ModelportError(str(exc.detail))
            error.status_code = exc.status_code
            error.type = "invalid_request_error" if exc.status_code < 500 else "server_error"
        return error_response(error, request)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unexpected error", exc_info=exc)
        error = PredictorError("The server had an error while processing your request.", code=None)
        return error_response(error, request)
