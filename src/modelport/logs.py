"""Logging: the request a log line belongs to, and plain-text or JSON lines.

The server sets the current request (`RequestContext`) for everything done on its behalf, in this task and
the threads it hands work to; every log line then carries the request's id, whichever layer writes it.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

LogFormat = Literal["text", "json"]


@dataclass
class RequestContext:
    """What is known about the request being served: its id, then the model once it is chosen."""

    request_id: str
    model: str | None = None
    # Run when the response has been sent in full (a stream included): releases the model the request holds.
    on_finish: list[Callable[[], None]] = field(default_factory=list)

    def finish(self) -> None:
        callbacks, self.on_finish = self.on_finish, []
        for callback in reversed(callbacks):
            callback()


current_request: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar(
    "modelport_request", default=None
)


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every record: the current request's id, or "-" outside of one."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = current_request.get()
        record.request_id = context.request_id if context is not None else "-"
        return True


# Attributes every LogRecord has; anything else was passed in `extra` and goes into the JSON line.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "request_id"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, and any `extra` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", "-")
        if request_id != "-":
            entry["request_id"] = request_id
        entry.update({key: value for key, value in record.__dict__.items() if key not in _STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


TEXT_FORMAT = "%(levelname)s:     %(name)s: [%(request_id)s] %(message)s"


def configure_logging(level: str = "info", fmt: LogFormat = "text") -> None:
    """Send modelport's and uvicorn's logs to stderr in `fmt`, each line with its request id."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        # Through the root handler, so uvicorn's lines share the format.
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True
