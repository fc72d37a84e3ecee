"""resolv.conf from the static DNS servers and the DHCP leases, written atomically.

Both `apply` and the DHCP hook call `refresh`, so the file always reflects the settings plus the
leases currently held, whichever changed last. Static servers come first (an installer who typed a
DNS server means it), then lease servers by interface metric (WAN before LAN).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger(__name__)

STATIC_FILE = "static-dns.json"
LEASE_GLOB = "lease-*.json"
MAX_SERVERS = 3


def write_static(run_dir: Path, servers: Iterable[str], search: Iterable[str]) -> None:
    """Record the DNS servers and search domains from the settings for later refreshes."""
    atomic_write(run_dir / STATIC_FILE, json.dumps({"servers": list(servers), "search": list(search)}))


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as err:
        log.warning("ignoring unreadable %s: %s", path, err)
        return {}
    return data if isinstance(data, dict) else {}


def refresh(run_dir: Path, resolv_conf: Path) -> list[str]:
    """Rewrite resolv.conf from the recorded static servers and current leases; returns the servers."""
    static = _read_json(run_dir / STATIC_FILE)
    servers: list[str] = list(static.get("servers", []))
    search: list[str] = list(static.get("search", []))
    leases = [_read_json(path) for path in sorted(run_dir.glob(LEASE_GLOB))]
    for lease in sorted(leases, key=lambda item: item.get("metric", 0)):
        servers.extend(lease.get("dns", []))
        if lease.get("domain"):
            search.append(lease["domain"])
    unique_servers = list(dict.fromkeys(servers))[:MAX_SERVERS]
    write_resolv_conf(resolv_conf, unique_servers, list(dict.fromkeys(search)))
    return unique_servers


def write_resolv_conf(path: Path, servers: list[str], search: list[str]) -> None:
    lines = ["# Written by the appliance's network configuration; edits are overwritten."]
    if search:
        lines.append("search " + " ".join(search))
    lines.extend(f"nameserver {server}" for server in servers)
    atomic_write(path, "\n".join(lines) + "\n")


def atomic_write(path: Path, text: str) -> None:
    """Write through a temporary file and rename; a symlink (/etc/resolv.conf -> /run/...) is followed."""
    target = Path(os.path.realpath(path))
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
