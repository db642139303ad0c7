"""Bearer-key authentication for the `/v1` routes, when keys are configured."""

from __future__ import annotations

import hmac

from fastapi import Request

from modelport.errors import AuthenticationError


def check_api_key(request: Request) -> None:
    """Refuse the request unless it carries one of the configured keys; a no-op when none are set."""
    keys: list[str] = request.app.state.settings.api_keys
    if not keys:
        return
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError(
            "You didn't provide an API key. Pass it in the Authorization header: 'Authorization: Bearer YOUR_KEY'."
        )
    token = token.strip()
    if not any(hmac.compare_digest(token.encode(), key.encode()) for key in keys):
        raise AuthenticationError("Incorrect API key provided.")
