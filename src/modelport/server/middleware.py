"""Per request: an id (`x-request-id`, the client's or a new one), an access log line, the request metrics,
the release of the model it used, and the end of whatever is still open when a shutdown's grace is over."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import time
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelport.errors import UnavailableError
from modelport.logs import RequestContext, current_request
from modelport.metrics import Metrics
from modelport.server.shutdown import Drain

logger = logging.getLogger("modelport.access")

# A client's id is echoed only when it is short and plain, so it cannot forge log lines or headers.
_CLIENT_ID = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")
_STREAMED_ENDPOINTS_WITH_DONE = ("/v1/chat/completions", "/v1/completions")


@dataclass
class _Response:
    """What has been sent so far."""

    status: int = 500
    started: bool = False
    ended: bool = False
    sse: bool = False


class RequestMiddleware:
    """The outermost layer: every response, the inner layers' refusals included, passes through it."""

    def __init__(self, app: ASGIApp, metrics: Metrics, drain: Drain, access_log: bool = True) -> None:
        self.app = app
        self.metrics = metrics
        self.drain = drain
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = ""
        for key, value in scope["headers"]:
            # The last one counts, as in a dict of the headers (this runs on every request: no dict built).
            if key == b"x-request-id":
                given = value.decode("latin-1")
        # 32 random hex digits, as uuid4().hex has, without building a UUID on every request.
        request_id = given if _CLIENT_ID.match(given) else os.urandom(16).hex()
        context = RequestContext(request_id)
        token = current_request.set(context)
        started = time.monotonic()
        response = _Response()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers: list[tuple[bytes, bytes]] = []
                content_type = b""
                for key, value in message.get("headers", []):
                    if key.lower() == b"x-request-id":
                        continue
                    if key == b"content-type":
                        content_type = value
                    headers.append((key, value))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
                response.status = message["status"]
                response.started = True
                response.sse = content_type.startswith(b"text/event-stream")
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                response.ended = True
            await send(message)

        this = asyncio.current_task()
        assert this is not None
        # The drain cancels this task when the shutdown's grace period ends with the request still open.
        self.drain.enter(this)
        try:
            cut = False
            try:
                try:
                    await self.app(scope, receive, send_with_id)
                finally:
                    cut = self.drain.leave(this)
            except asyncio.CancelledError:
                if not cut:
                    raise
                this.uncancel()
            if cut and not response.ended:
                await self._end(scope, response, send_with_id)
        finally:
            context.finish()
            seconds = time.monotonic() - started
            route = scope.get("route")
            endpoint = getattr(route, "path", None) or "unmatched"
            status = response.status
            self.metrics.request_finished(context.model, endpoint, status, seconds)
            # Checked first so a server logging at WARNING builds no record's arguments on every request.
            if self.access_log and logger.isEnabledFor(logging.INFO):
                logger.info(
                    "%s %s %d %.3fs model=%s",
                    scope["method"],
                    scope["path"],
                    status,
                    seconds,
                    context.model or "-",
                    extra={
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "duration_s": round(seconds, 4),
                        "model": context.model,
                        "request_id": request_id,
                    },
                )
            current_request.reset(token)

    async def _end(self, scope: Scope, response: _Response, send: Send) -> None:
        """Answer or close what the grace period cut short."""
        error = UnavailableError("The server is shutting down.", code="server_shutting_down")
        if not response.started:
            body = json.dumps(error.to_dict()).encode()
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            await send({"type": "http.response.start", "status": 503, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        tail = b""
        if response.sse:
            tail = f"data: {json.dumps(error.to_dict())}\n\n".encode()
            if scope["path"] in _STREAMED_ENDPOINTS_WITH_DONE:
                tail += b"data: [DONE]\n\n"
        await send({"type": "http.response.body", "body": tail, "more_body": False})
