"""A network namespace with veth devices, made and removed by a test (root only; skipped otherwise)."""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import pytest


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run `ip` with these arguments; raises on failure when `check`."""
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=20)


@contextmanager
def veth_namespace(prefix: str, devices: Mapping[str, str | None]) -> Iterator[str]:
    """A fresh namespace named `prefix`+random with `lo` up and, per device, a veth whose peer
    (`<dev minus trailing 0>peer`) is up; a device given an address gets it and is set up, one given
    None stays down for the code under test to configure. Its processes are killed when it goes."""
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    name = f"{prefix}{secrets.token_hex(3)}"
    if ip("netns", "add", name, check=False).returncode != 0:
        pytest.skip("cannot create network namespaces here")
    try:
        ip("-n", name, "link", "set", "lo", "up")
        for dev, address in devices.items():
            peer = dev.removesuffix("0") + "peer"
            ip("-n", name, "link", "add", dev, "type", "veth", "peer", "name", peer)
            if address is not None:
                ip("-n", name, "addr", "add", address, "dev", dev)
                ip("-n", name, "link", "set", dev, "up")
            ip("-n", name, "link", "set", peer, "up")
        yield name
    finally:
        for pid in ip("netns", "pids", name, check=False).stdout.split():
            subprocess.run(["kill", "-9", pid], check=False)
        ip("netns", "del", name, check=False)
