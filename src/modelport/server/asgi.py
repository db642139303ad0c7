"""Answering from ASGI middleware, before or around the app: the same OpenAI error body the handlers write."""

from __future__ import annotations

import json

from starlette.types import Send

from modelport.errors import ModelportError
from modelport.server.errors import error_body


async def send_error(send: Send, error: ModelportError, path: str, *, close: bool = False) -> None:
    """Send `error` as a whole response, in the shape of the API `path` belongs to; `close` asks the server to
    close the connection after it."""
    body = json.dumps(error_body(error, path)).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in error.headers.items()]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": error.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": body})
