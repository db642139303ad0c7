"""The exceptions every layer raises; the server turns each into OpenAI's error body.

Nothing here knows about HTTP frameworks: a status code is data carried by the exception, so the runtime
and the audio helpers can raise the error a client should see, and one handler writes it.
"""

from __future__ import annotations

from typing import Any


class ModelportError(Exception):
    """An error with everything OpenAI's body `{"error": {...}}` needs."""

    status_code: int = 500
    type: str = "server_error"
    code: str | None = None

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code
        self.headers = headers or {}

    def to_dict(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


class InvalidRequestError(ModelportError):
    """The request is malformed or asks for something the model cannot do (400)."""

    status_code = 400
    type = "invalid_request_error"


class AuthenticationError(ModelportError):
    """The API key is missing or refused (401); the response says which scheme to use (RFC 6750)."""

    status_code = 401
    type = "invalid_request_error"
    code = "invalid_api_key"

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message, param=param, code=code, headers={"WWW-Authenticate": "Bearer"})


class NotFoundError(ModelportError):
    """The model or route does not exist (404)."""

    status_code = 404
    type = "invalid_request_error"


class ModelNotFoundError(NotFoundError):
    """No served model has this name; the message lists the ones that are served."""

    code = "model_not_found"

    def __init__(self, name: str, served: list[str]) -> None:
        listing = ", ".join(sorted(served)) or "none"
        super().__init__(
            f"The model `{name}` does not exist. Models served here: {listing}.",
            param="model",
        )


class RequestTimeoutError(ModelportError):
    """The client did not send its whole request body in time (408); the connection is closed."""

    status_code = 408
    type = "invalid_request_error"
    code = "request_timeout"


class MisdirectedRequestError(ModelportError):
    """The Host header names a host this server does not answer to (421), as a DNS-rebinding page sends."""

    status_code = 421
    type = "invalid_request_error"
    code = "invalid_host"


class RequestTooLargeError(ModelportError):
    """The request body is over the configured limit (413)."""

    status_code = 413
    type = "invalid_request_error"
    code = "request_too_large"


class RateLimitError(ModelportError):
    """The model's queue is full (429); the client may retry after `Retry-After` seconds."""

    status_code = 429
    type = "rate_limit_error"
    code = "rate_limit_exceeded"


class PermissionDeniedError(ModelportError):
    """The key is valid but not allowed to do this (403), such as managing models without an admin key."""

    status_code = 403
    type = "invalid_request_error"
    code = "permission_denied"


class ConflictError(ModelportError):
    """The request conflicts with what the server is doing now (409); it may succeed later."""

    status_code = 409
    type = "invalid_request_error"
    code = "conflict"


class UnavailableError(ModelportError):
    """The server cannot serve this now (503): a model still loading, no memory free, shutting down."""

    status_code = 503
    type = "server_error"
    code = "service_unavailable"


class ModelLoadError(ModelportError):
    """A model failed to load (500); the message names the model and the reason, and the next request retries."""

    status_code = 500
    type = "server_error"
    code = "model_load_failed"


class PredictorError(ModelportError):
    """A predictor raised or broke its contract (500); the message names the model."""

    status_code = 500
    type = "server_error"
    code = "predictor_error"


class UpstreamError(ModelportError):
    """An upstream server answered a forwarded request with an error: its status and error body pass through."""

    def __init__(
        self,
        status_code: int,
        message: str,
        *,
        error_type: str | None = None,
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message, param=param, code=code)
        self.status_code = status_code
        self.type = error_type or ("invalid_request_error" if status_code < 500 else "server_error")


class UpstreamUnavailableError(ModelportError):
    """An upstream server cannot be reached, or broke the protocol (502); the message names it."""

    status_code = 502
    type = "server_error"
    code = "upstream_unavailable"


class UpstreamTimeoutError(ModelportError):
    """An upstream server did not answer in time (504); the message names it and the timeout."""

    status_code = 504
    type = "server_error"
    code = "upstream_timeout"


class SignatureError(TypeError):
    """A function or class breaks the predictor contract; raised at registration, before serving.

    The message names the function, the parameter (when one is at fault) and the rule.
    """

    def __init__(self, function: str, rule: str, parameter: str | None = None) -> None:
        where = f"{function}, parameter '{parameter}'" if parameter else function
        super().__init__(f"{where}: {rule}")
        self.function = function
        self.parameter = parameter
        self.rule = rule
