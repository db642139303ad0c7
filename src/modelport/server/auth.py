"""API-key authentication for the `/v1` routes, when keys are configured, and the admin key check.

A key comes as `Authorization: Bearer <key>` (OpenAI's clients) or `x-api-key: <key>` (Anthropic's).
"""

from __future__ import annotations

import hashlib
import hmac

from fastapi import Request

from modelport.errors import AuthenticationError, PermissionDeniedError


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def key_matches(token: str, keys: list[str]) -> bool:
    """Whether `token` is one of `keys`, in time that depends on neither the keys nor where they differ.

    Both sides are hashed first, so the comparison never shows a key's length, and every key is compared,
    so the time does not show which one matched.
    """
    given = _digest(token)
    found = False
    for key in keys:
        found |= hmac.compare_digest(given, _digest(key))
    return found


def _presented_key(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    key = request.headers.get("x-api-key", "").strip()
    if not key:
        raise AuthenticationError(
            "You didn't provide an API key. Pass it in the Authorization header: 'Authorization: Bearer YOUR_KEY' "
            "(or as 'x-api-key: YOUR_KEY')."
        )
    return key


async def check_api_key(request: Request) -> None:
    """Refuse the request unless it carries one of the configured keys; a no-op when none are set."""
    settings = request.app.state.settings
    keys: list[str] = [*settings.api_keys, *settings.admin_keys]
    if not keys:
        return
    if not key_matches(_presented_key(request), keys):
        raise AuthenticationError("Incorrect API key provided.")


async def check_admin_key(request: Request) -> None:
    """For managing models: when keys are configured, only an admin key may; open when none are."""
    settings = request.app.state.settings
    if not settings.api_keys and not settings.admin_keys:
        return
    token = _presented_key(request)
    if not key_matches(token, settings.admin_keys):
        if key_matches(token, settings.api_keys):
            raise PermissionDeniedError("Loading and unloading models needs an admin key (the admin_keys setting).")
        raise AuthenticationError("Incorrect API key provided.")
