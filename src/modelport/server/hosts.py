"""The Host header checked against the names the server answers to: DNS-rebinding protection.

A web page can point a name it controls at 127.0.0.1 and then read a keyless local server as if it were
its own origin; the browser still sends that name in the Host header, so a server bound to loopback that
answers only to loopback names cannot be reached that way.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from starlette.types import ASGIApp, Receive, Scope, Send

from modelport.errors import MisdirectedRequestError
from modelport.server.asgi import send_error

ANY_HOST = "*"
VERDICTS_KEPT = 256
LOOPBACK = "localhost"


def _is_loopback(host: str) -> bool:
    if host.lower() == LOOPBACK:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def allowed_hosts(configured: Sequence[str], bind_host: str) -> tuple[str, ...]:
    """The configured hosts, or the default for `bind_host`: loopback names when it is a loopback address,
    any host otherwise (the names a network address is reached by cannot be known here)."""
    if configured:
        return tuple(host.lower() for host in configured)
    if _is_loopback(bind_host):
        return (LOOPBACK,)
    return (ANY_HOST,)


def host_name(header: str) -> str:
    """The name in a Host header, without its port: `[::1]:8000` gives `::1`, `Example:80` `example`."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1 : header.find("]")] if "]" in header else header
    if header.count(":") == 1:
        return header.partition(":")[0]
    return header


def host_allowed(header: str | None, allowed: Sequence[str]) -> bool:
    """Whether a request with this Host header may be answered. A loopback address is allowed wherever
    `localhost` is: no rebinding page can send one as its Host."""
    if ANY_HOST in allowed:
        return True
    if header is None:
        # Only HTTP/1.0 may leave it out, and no browser does: nothing to rebind.
        return True
    name = host_name(header)
    if name in allowed:
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    return (LOOPBACK in allowed and address.is_loopback) or any(_same_address(address, host) for host in allowed)


def _same_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address, host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")) == address
    except ValueError:
        return False


class HostCheckMiddleware:
    """Answers 421 in OpenAI's error shape to a request whose Host header names a host not allowed."""

    def __init__(self, app: ASGIApp, allowed: Sequence[str]) -> None:
        self.app = app
        self.allowed = tuple(allowed)
        # Verdicts by Host header: a client sends the same one on every request, and parsing it as an
        # address each time was a measurable part of a small request's cost. Bounded, since headers are
        # the client's to choose.
        self._verdicts: dict[str | None, bool] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or ANY_HOST in self.allowed:
            await self.app(scope, receive, send)
            return
        header = next((value for name, value in scope["headers"] if name == b"host"), None)
        host = header.decode("latin-1") if header is not None else None
        allowed = self._verdicts.get(host)
        if allowed is None:
            allowed = host_allowed(host, self.allowed)
            if len(self._verdicts) < VERDICTS_KEPT:
                self._verdicts[host] = allowed
        if allowed:
            await self.app(scope, receive, send)
            return
        await send_error(
            send,
            MisdirectedRequestError(
                f"This server does not answer to the host '{host}'. Reach it by an allowed name "
                "(localhost or a loopback address by default), or add the name to the `allowed_hosts` setting.",
            ),
            scope["path"],
        )
