"""API-key authentication for the `/v1` routes, when keys are configured.

A key comes as `Authorization: Bearer <key>` (OpenAI's clients) or `x-api-key: <key>` (Anthropic's).
"""

from __future__ import annotations

import hmac

from fastapi import Request

from modelport.errors import AuthenticationError


def _presented_key(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    key = request.headers.get("x-api-key", "").strip()
    return key or None


def check_api_key(request: Request) -> None:
    """Refuse the request unless it carries one of the configured keys; a no-op when none are set."""
    keys: list[str] = request.app.state.settings.api_keys
    if not keys:
        return
    token = _presented_key(request)
    if token is None:
        raise AuthenticationError(
            "You didn't provide an API key. Pass it in the Authorization header: 'Authorization: Bearer YOUR_KEY' "
            "(or as 'x-api-key: YOUR_KEY')."
        )
    if not any(hmac.compare_digest(token.encode(), key.encode()) for key in keys):
        raise AuthenticationError("Incorrect API key provided.")
