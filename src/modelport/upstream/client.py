"""HTTP to one upstream server: one `httpx.AsyncClient` its models share, errors turned into OpenAI's.

An upstream's 4xx passes through with its status and error body; its 5xx, a connection that fails and a
body that is not what the API promises are a 502, and a timeout a 504, each naming the upstream. Streams
are read line by line as they arrive, and closing one (a client that went away) closes the upstream's.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import httpx

from modelport.errors import ModelportError, UpstreamError, UpstreamTimeoutError, UpstreamUnavailableError
from modelport.upstream.config import UpstreamConfig

logger = logging.getLogger(__name__)

_ERROR_TEXT_LIMIT = 500


class UpstreamClient:
    """One upstream server, opened by the first of its models to load and closed by the last to unload."""

    def __init__(self, config: UpstreamConfig) -> None:
        self.config = config
        self._client: httpx.AsyncClient | None = None
        self._users = 0

    @property
    def label(self) -> str:
        return self.config.base_url

    def headers(self) -> dict[str, str]:
        key = self.config.api_key()
        return {"Authorization": f"Bearer {key}"} if key else {}

    def timeout(self) -> httpx.Timeout:
        return httpx.Timeout(self.config.timeout, connect=self.config.connect_timeout)

    async def open(self) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(
                base_url=self.config.base_url + "/", headers=self.headers(), timeout=self.timeout()
            )
        self._users += 1

    async def close(self) -> None:
        self._users -= 1
        if self._users <= 0 and self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            raise UpstreamUnavailableError(f"The upstream server {self.label} is not open.")
        return self._client

    def _build(self, endpoint: str, fields: Mapping[str, Any], file: tuple[str, bytes] | None) -> httpx.Request:
        if file is None:
            return self._http().build_request("POST", endpoint, json=dict(fields))
        data = {key: _form_value(value) for key, value in fields.items() if value is not None}
        return self._http().build_request("POST", endpoint, data=data, files={"file": file})

    @asynccontextmanager
    async def _send(
        self, endpoint: str, fields: Mapping[str, Any], file: tuple[str, bytes] | None
    ) -> AsyncIterator[httpx.Response]:
        """The upstream's response, its status checked, its body not yet read; closed on leaving."""
        try:
            response = await self._http().send(self._build(endpoint, fields, file), stream=True)
        except httpx.TimeoutException as exc:
            raise self._timed_out(exc) from None
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from None
        try:
            if response.status_code >= 400:
                await self._raise_for(response)
            yield response
        except httpx.TimeoutException as exc:
            raise self._timed_out(exc) from None
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from None
        finally:
            await response.aclose()

    async def post_json(
        self, endpoint: str, fields: Mapping[str, Any], file: tuple[str, bytes] | None = None
    ) -> dict[str, Any]:
        """POST and read the whole JSON answer."""
        async with self._send(endpoint, fields, file) as response:
            body = await response.aread()
            try:
                value = json.loads(body)
            except ValueError:
                if "json" not in response.headers.get("content-type", ""):
                    # A plain-text answer (a transcription's `text`, `srt` or `vtt`).
                    return {"text": body.decode("utf-8", "replace")}
                raise self._bad_body(f"its answer to {endpoint} is not JSON") from None
            if not isinstance(value, dict):
                raise self._bad_body(f"its answer to {endpoint} is not a JSON object")
            return value

    async def post_events(
        self, endpoint: str, fields: Mapping[str, Any], file: tuple[str, bytes] | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """POST and yield each server-sent event's JSON as it arrives, up to `[DONE]` or the end."""
        async with self._send(endpoint, fields, file) as response:
            if "text/event-stream" not in response.headers.get("content-type", ""):
                # A server that ignored `stream` (or answered an error as 200) sent one JSON object.
                yield self._event(await response.aread(), endpoint)
                return
            data: list[str] = []
            async for line in response.aiter_lines():
                if line.startswith("data:"):
                    data.append(line[5:].removeprefix(" "))
                    continue
                if line or not data:
                    continue
                payload, data = "\n".join(data), []
                if payload.strip() == "[DONE]":
                    return
                yield self._event(payload.encode(), endpoint)
            if data and "\n".join(data).strip() != "[DONE]":
                yield self._event("\n".join(data).encode(), endpoint)

    async def post_bytes(
        self, endpoint: str, fields: Mapping[str, Any], file: tuple[str, bytes] | None = None
    ) -> AsyncIterator[bytes]:
        """POST and yield the body's bytes as they arrive."""
        async with self._send(endpoint, fields, file) as response:
            async for data in response.aiter_bytes():
                if data:
                    yield data

    def _event(self, payload: bytes, endpoint: str) -> dict[str, Any]:
        try:
            value = json.loads(payload)
        except ValueError:
            raise self._bad_body(f"its stream from {endpoint} holds an event that is not JSON") from None
        if not isinstance(value, dict):
            raise self._bad_body(f"its stream from {endpoint} holds an event that is not a JSON object")
        error = value.get("error")
        if isinstance(error, dict) and "choices" not in value:
            # An error sent as an event after the status line: the status cannot change any more.
            raise _error_from(502, error, self.label)
        return value

    async def list_models(self) -> list[dict[str, Any]]:
        """The upstream's `GET /models` entries."""
        response = await self._get("models")
        if response.status_code >= 400:
            await self._raise_for(response)
        return models_in(response.json(), self.label)

    async def check_serves(self, upstream_id: str, model: str) -> None:
        """Raise a 502 naming the upstream and `model` (the local name) unless its `/models` lists `upstream_id`.

        A server without `/models` (a 404 or 405) is given the benefit of the doubt: it answered, so it is up.
        Its refusal (a key it does not take, say) is a 502 too: the client's own request was not at fault.
        """
        response = await self._get("models")
        if response.status_code in (404, 405):
            logger.info("upstream %s has no /models; %s is not checked", self.label, upstream_id)
            return
        try:
            if response.status_code >= 400:
                await self._raise_for(response)
            listed = [entry["id"] for entry in models_in(response.json(), self.label)]
        except (ModelportError, ValueError) as exc:
            reason = exc.message if isinstance(exc, ModelportError) else "its answer is not JSON"
            raise UpstreamUnavailableError(
                f"The model `{model}` cannot load: the upstream server {self.label} did not list its models "
                f"({response.status_code}: {reason})"
            ) from None
        if upstream_id not in listed:
            shown = ", ".join(listed[:20]) + (", ..." if len(listed) > 20 else "") or "none"
            raise UpstreamUnavailableError(
                f"The model `{model}` cannot load: the upstream server {self.label} does not serve `{upstream_id}` "
                f"(it serves: {shown})."
            )

    async def get_json(self, endpoint: str, query: Mapping[str, Any]) -> dict[str, Any]:
        """GET with `query` and read the whole JSON object; an error or another shape as for `post_json`."""
        response = await self._get(endpoint, query)
        if response.status_code >= 400:
            await self._raise_for(response)
        try:
            value = response.json()
        except ValueError:
            raise self._bad_body(f"its answer to {endpoint} is not JSON") from None
        if not isinstance(value, dict):
            raise self._bad_body(f"its answer to {endpoint} is not a JSON object")
        return value

    async def _get(self, endpoint: str, query: Mapping[str, Any] | None = None) -> httpx.Response:
        try:
            return await self._http().get(endpoint, params=dict(query) if query else None)
        except httpx.TimeoutException as exc:
            raise self._timed_out(exc) from None
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from None

    async def _raise_for(self, response: httpx.Response) -> None:
        body = await response.aread()
        status = response.status_code
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        error = parsed.get("error") if isinstance(parsed, dict) else None
        if isinstance(error, str):
            error = {"message": error}
        if not isinstance(error, dict):
            text = body.decode("utf-8", "replace").strip()[:_ERROR_TEXT_LIMIT] or response.reason_phrase
            error = {"message": text}
        # A server error upstream is a bad gateway here; a refusal of the request is the client's to see.
        raise _error_from(status if status < 500 else 502, error, self.label)

    def _timed_out(self, exc: httpx.TimeoutException) -> UpstreamTimeoutError:
        waited = self.config.connect_timeout if isinstance(exc, httpx.ConnectTimeout) else self.config.timeout
        return UpstreamTimeoutError(f"The upstream server {self.label} did not answer within {waited:g} seconds.")

    def _unreachable(self, exc: httpx.HTTPError) -> UpstreamUnavailableError:
        logger.warning("upstream %s failed: %s: %s", self.label, type(exc).__name__, exc)
        reason = str(exc) or type(exc).__name__
        return UpstreamUnavailableError(f"The upstream server {self.label} cannot be reached: {reason}.")

    def _bad_body(self, what: str) -> UpstreamUnavailableError:
        return UpstreamUnavailableError(f"The upstream server {self.label} broke the API: {what}.")


def _error_from(status: int, error: Mapping[str, Any], label: str) -> ModelportError:
    message = str(error.get("message") or "The upstream server refused the request.")
    if status >= 500:
        message = f"The upstream server {label} failed: {message}"
    error_type = error.get("type") if isinstance(error.get("type"), str) else None
    param = error.get("param") if isinstance(error.get("param"), str) else None
    code = error.get("code")
    return UpstreamError(
        status, message, error_type=error_type, param=param, code=str(code) if code is not None else None
    )


def _form_value(value: Any) -> Any:
    # Multipart fields are text: booleans as JSON spells them, lists (timestamp_granularities[]) repeated.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return [_form_value(item) for item in value]
    return value


def models_in(body: Any, label: str) -> list[dict[str, Any]]:
    """The entries of a `/models` answer (`{"data": [...]}`; Ollama's older `{"models": [...]}` too)."""
    entries = body.get("data", body.get("models")) if isinstance(body, dict) else None
    if not isinstance(entries, list):
        raise UpstreamUnavailableError(f"The upstream server {label} broke the API: its /models has no list.")
    return [entry for entry in entries if isinstance(entry, dict) and isinstance(entry.get("id"), str)]
