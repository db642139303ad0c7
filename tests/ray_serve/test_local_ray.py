"""The Ray that modelport starts listens on 127.0.0.1 only, on ports the OS picks (never modelport's 8000)."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

from .conftest import RayCluster

LISTEN = "0A"


def _address(hexadecimal: str) -> str:
    # The kernel writes each 32-bit word of the address in the machine's (little-endian) byte order.
    raw = b"".join(bytes.fromhex(hexadecimal[i : i + 8])[::-1] for i in range(0, len(hexadecimal), 8))
    address = ipaddress.ip_address(raw)
    mapped = getattr(address, "ipv4_mapped", None)
    return str(mapped or address)


def _listening() -> dict[int, list[tuple[str, int]]]:
    """Socket inode -> the (address, port) it listens on, from the kernel's tables."""
    found: dict[int, list[tuple[str, int]]] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, port = fields[1].split(":")
            if fields[3] == LISTEN:
                found.setdefault(int(fields[9]), []).append((_address(address), int(port, 16)))
    return found


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                # The parent's pid is the 2nd field after the command, which may hold spaces: split after ')'.
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            tree.setdefault(parent, []).append(int(entry.name))
    return tree


def _descendants(roots: tuple[int, ...]) -> set[int]:
    tree = _children()
    found: set[int] = set()
    pending = list(roots)
    while pending:
        pid = pending.pop()
        if pid not in found:
            found.add(pid)
            pending.extend(tree.get(pid, []))
    return found


def test_ray_listens_on_loopback_only(ray_cluster: RayCluster, ray_deployment: object) -> None:
    from ray import serve

    sockets = _listening()
    bound: list[tuple[int, str, int]] = []
    for pid in _descendants(ray_cluster.processes):
        try:
            descriptors = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for descriptor in descriptors:
            try:
                target = os.readlink(descriptor)
            except OSError:
                continue
            if target.startswith("socket:["):
                bound.extend((pid, host, port) for host, port in sockets.get(int(target[8:-1]), []))
    assert bound, "found no listening socket of the Ray processes"
    assert {host for _, host, _ in bound} <= {"127.0.0.1", "::1"}, bound
    ports = {port for _, _, port in bound}
    assert 8000 not in ports
    # Nor Ray's fixed default for the dashboard agent, which a second Ray on the machine would collide with.
    assert 52365 not in ports
    # Serve's HTTP proxy, which would take port 8000, is not started: modelport's app is the HTTP server.
    assert not serve.status().proxies
