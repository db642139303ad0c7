"""The Host check's rules: the default for each bind address, names with ports, IPv6, explicit lists."""

from __future__ import annotations

import pytest

from modelport.server.hosts import allowed_hosts, host_allowed, host_name


@pytest.mark.parametrize(
    ("header", "name"),
    [("Example.com:80", "example.com"), ("localhost", "localhost"), ("[::1]:8000", "::1"), ("[::1]", "::1")],
)
def test_host_name(header: str, name: str) -> None:
    assert host_name(header) == name


@pytest.mark.parametrize("bind", ["127.0.0.1", "localhost", "::1", "127.0.0.5"])
def test_a_loopback_server_answers_only_loopback_names(bind: str) -> None:
    allowed = allowed_hosts([], bind)
    for header in ("localhost:8000", "127.0.0.1:8000", "127.9.9.9", "[::1]:1234", None):
        assert host_allowed(header, allowed), header
    for header in ("evil.example", "evil.example:8000", "localhost.evil.example", "192.168.1.2", "0.0.0.0"):
        assert not host_allowed(header, allowed), header


@pytest.mark.parametrize("bind", ["0.0.0.0", "::", "192.168.1.20", "myhost.lan"])
def test_a_network_server_answers_any_host_by_default(bind: str) -> None:
    assert host_allowed("anything.example:80", allowed_hosts([], bind))


def test_configured_hosts_replace_the_default() -> None:
    allowed = allowed_hosts(["API.example.com", "10.0.0.5", "::1"], "0.0.0.0")
    assert host_allowed("api.example.com:8443", allowed)
    assert host_allowed("10.0.0.5", allowed)
    assert host_allowed("[0:0::1]:80", allowed)
    assert not host_allowed("localhost", allowed)
    assert not host_allowed("other.example.com", allowed)
    assert host_allowed("whatever", allowed_hosts(["*"], "127.0.0.1"))
