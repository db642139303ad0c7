"""The one error path: every failure leaves the server as OpenAI's `{"error": {...}}` body."""

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


class _ErrorJSONResponse(JSONResponse):
    """JSON in ASCII: a message may quote what the client sent, lone surrogates included, which UTF-8
    cannot encode; escaped, they still reach the client as the JSON string it sent."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")


def error_response(error: ModelportError) -> JSONResponse:
    return _ErrorJSONResponse(error.to_dict(), status_code=error.status_code, headers=error.headers)


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
    "content": {"text", "image_url", "input_audio", "file", "refusal"},
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
    async def _modelport(_: Request, exc: ModelportError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(validation_error(exc))

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
        return error_response(error)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        logger.exception("unexpected error", exc_info=exc)
        return error_response(PredictorError("The server had an error while processing your request.", code=None))
