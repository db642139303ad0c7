"""The errors the client raises: each says what went wrong and what to change.

The `openai` package's exceptions are translated at one place, `translate_errors`, so every capability
reports a refused key, an unreachable server, an unknown model or a timeout the same way.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import openai

__all__ = [
    "AuthenticationError",
    "ClientError",
    "ConfigurationError",
    "EndpointConnectionError",
    "EndpointNotFoundError",
    "MissingExtraError",
    "ModelNotFoundError",
    "RequestRejectedError",
    "RequestTimeoutError",
    "translate_errors",
]


class ClientError(Exception):
    """Base class of every error `modelport.client` raises."""


class ConfigurationError(ClientError, ValueError):
    """The configuration is incomplete or invalid (a missing base URL, a bad timeout, an unknown key)."""


class EndpointConnectionError(ClientError):
    """The endpoint could not be reached; the message names the URL that was tried."""

    def __init__(self, url: str) -> None:
        super().__init__(
            f"Could not connect to {url}. Is the server running there? Check the base URL "
            "(config['base_url'] or the OPENAI_COMPATIBLE_BASE_URL* environment variables)."
        )
        self.url = url


class AuthenticationError(ClientError):
    """The endpoint refused the API key (HTTP 401)."""

    def __init__(self, url: str, detail: str) -> None:
        super().__init__(
            f"{url} refused the API key (401: {detail}). Set the key the server expects "
            "(config['api_key'] or the OPENAI_COMPATIBLE_API_KEY* environment variables)."
        )
        self.url = url


class ModelNotFoundError(ClientError):
    """The endpoint does not serve the model; `available` lists the models it does serve."""

    def __init__(self, model: str, url: str, available: list[str] | None = None) -> None:
        super().__init__(model, url)
        self.model = model
        self.url = url
        # Filled in after the endpoint's model list is fetched (asynchronously on the async path).
        self.available = available

    def __str__(self) -> str:
        listing = ", ".join(self.available) if self.available else "(the endpoint did not list any)"
        return f"The model '{self.model}' is not served at {self.url}. Models served there: {listing}."


class EndpointNotFoundError(ClientError):
    """The endpoint answered 404 for the route itself: the base URL is probably wrong."""

    def __init__(self, url: str, detail: str) -> None:
        super().__init__(
            f"{url} answered 404 ({detail}). Check the base URL: an OpenAI-compatible one usually ends in /v1."
        )
        self.url = url


class RequestTimeoutError(ClientError):
    """A request took longer than the capability's timeout; the message says how to raise it."""

    def __init__(self, url: str, seconds: float, source: str, env_var: str) -> None:
        super().__init__(
            f"The request to {url} timed out after {seconds:g} s (the timeout came from {source}). "
            f"Raise it with config={{'timeout': SECONDS}} or the {env_var} environment variable."
        )
        self.url = url
        self.seconds = seconds


class RequestRejectedError(ClientError):
    """The endpoint refused the request for another reason (a bad parameter, a server failure, ...).

    The message is the server's; `status_code` and `param` (when the server names one) are kept.
    """

    def __init__(self, url: str, status_code: int, detail: str, param: str | None) -> None:
        where = f" (parameter '{param}')" if param else ""
        super().__init__(f"{url} answered {status_code}{where}: {detail}")
        self.url = url
        self.status_code = status_code
        self.param = param


class MissingExtraError(ClientError, ImportError):
    """An optional dependency is not installed; the message names the extra that installs it."""

    def __init__(self, feature: str, extra: str, package: str) -> None:
        super().__init__(f"{feature} needs the optional package '{package}': pip install 'modelport[{extra}]'.")
        self.extra = extra


@contextmanager
def translate_errors(*, url: str, model: str, timeout: tuple[float, str, str]) -> Iterator[None]:
    """Turn the `openai` package's exceptions into the errors above.

    `timeout` is (seconds, where the value came from, the environment variable that sets it). A
    `ModelNotFoundError` leaves here without its list of served models: the caller fetches it.
    """
    try:
        yield
    # APITimeoutError subclasses APIConnectionError, so it is caught first.
    except openai.APITimeoutError as exc:
        raise RequestTimeoutError(url, *timeout) from exc
    except openai.APIConnectionError as exc:
        raise EndpointConnectionError(url) from exc
    except openai.AuthenticationError as exc:
        raise AuthenticationError(url, _detail(exc)) from exc
    except openai.NotFoundError as exc:
        if _is_model_not_found(exc):
            raise ModelNotFoundError(model, url) from exc
        raise EndpointNotFoundError(url, _detail(exc)) from exc
    except openai.APIStatusError as exc:
        param = exc.body.get("param") if isinstance(exc.body, dict) else None
        raise RequestRejectedError(
            url, exc.status_code, _detail(exc), param if isinstance(param, str) else None
        ) from exc


def _detail(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])
    return exc.message


def _is_model_not_found(exc: openai.NotFoundError) -> bool:
    # OpenAI and modelport say code "model_not_found" or param "model"; other servers at least name the model.
    body = exc.body
    if isinstance(body, dict) and (body.get("code") == "model_not_found" or body.get("param") == "model"):
        return True
    return "model" in exc.message.lower()
