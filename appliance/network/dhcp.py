"""DHCP through busybox udhcpc: starting and stopping the client, and the lease it reports.

udhcpc runs detached (`-f` in its own session) for as long as the interface is in DHCP mode, so it
renews the lease after we exit. It calls a hook script per event; ours runs
`python -m appliance.network.dhcp_hook`, which applies the lease through netlink and records it in
`run_dir/lease-<ifname>.json` for `apply`'s verification and for resolv.conf.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface
from pathlib import Path
from collections.abc import Mapping, Sequence
from typing import Any

from appliance.network.context import NetContext
from appliance.network.exceptions import NetworkError
from appliance.network.model import StaticRoute
from appliance.network.resolv import atomic_write

log = logging.getLogger(__name__)

# Popen objects of clients this process started, so that stopping one also reaps it.
_children: dict[str, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class Lease:
    """What the DHCP server gave one interface."""

    ifname: str
    address: IPv4Interface
    router: IPv4Address | None
    dns: tuple[IPv4Address, ...]
    domain: str | None
    seconds: int | None
    metric: int

    @classmethod
    def from_env(cls, env: Mapping[str, str], metric: int) -> Lease:
        """Parse the environment udhcpc hands its script (ip, subnet or mask, router, dns, domain, lease)."""
        try:
            prefix = env.get("mask") or env.get("subnet") or "32"
            routers = env.get("router", "").split()
            return cls(
                ifname=env["interface"],
                address=IPv4Interface(f"{env['ip']}/{prefix}"),
                router=IPv4Address(routers[0]) if routers else None,
                dns=tuple(IPv4Address(server) for server in env.get("dns", "").split()),
                domain=env.get("domain") or None,
                seconds=int(env["lease"]) if env.get("lease", "").isdigit() else None,
                metric=metric,
            )
        except (KeyError, ValueError) as err:
            raise ValueError(f"udhcpc gave an unusable lease: {err}") from err

    def to_dict(self) -> dict[str, Any]:
        return {
            "ifname": self.ifname,
            "address": str(self.address),
            "router": str(self.router) if self.router else None,
            "dns": [str(server) for server in self.dns],
            "domain": self.domain,
            "lease": self.seconds,
            "metric": self.metric,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Lease:
        return cls(
            ifname=data["ifname"],
            address=IPv4Interface(data["address"]),
            router=IPv4Address(data["router"]) if data.get("router") else None,
            dns=tuple(IPv4Address(server) for server in data.get("dns", [])),
            domain=data.get("domain"),
            seconds=data.get("lease"),
            metric=int(data.get("metric", 0)),
        )


def lease_path(run_dir: Path, ifname: str) -> Path:
    return run_dir / f"lease-{ifname}.json"


def pid_path(run_dir: Path, ifname: str) -> Path:
    return run_dir / f"udhcpc-{ifname}.pid"


def routes_path(run_dir: Path, ifname: str) -> Path:
    return run_dir / f"routes-{ifname}.json"


def save_routes(run_dir: Path, ifname: str, routes: Sequence[StaticRoute]) -> None:
    """The extra routes the hook adds once a lease is bound (none: the file is removed)."""
    if routes:
        atomic_write(routes_path(run_dir, ifname), json.dumps([route.to_dict() for route in routes]))
    else:
        routes_path(run_dir, ifname).unlink(missing_ok=True)


def read_routes(run_dir: Path, ifname: str) -> tuple[StaticRoute, ...]:
    """What save_routes recorded for `ifname`; an unreadable file is logged and read as none."""
    try:
        return tuple(StaticRoute.from_dict(item) for item in json.loads(routes_path(run_dir, ifname).read_text()))
    except FileNotFoundError:
        return ()
    except (OSError, ValueError, TypeError) as err:
        log.warning("unreadable routes file for %s: %s", ifname, err)
        return ()


def save_lease(run_dir: Path, lease: Lease) -> None:
    atomic_write(lease_path(run_dir, lease.ifname), json.dumps(lease.to_dict()))


def read_lease(run_dir: Path, ifname: str) -> Lease | None:
    """The lease the hook recorded for `ifname`, or None."""
    try:
        return Lease.from_dict(json.loads(lease_path(run_dir, ifname).read_text()))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError) as err:
        log.warning("unreadable lease file for %s: %s", ifname, err)
        return None


def forget_lease(run_dir: Path, ifname: str) -> None:
    lease_path(run_dir, ifname).unlink(missing_ok=True)


def write_hook(ctx: NetContext, ifname: str, metric: int) -> Path:
    """The script udhcpc calls: our Python hook with this interface's metric and our paths."""
    script = ctx.run_dir / f"udhcpc-{ifname}.sh"
    argv = [
        sys.executable,
        "-m",
        "appliance.network.dhcp_hook",
        "--run-dir",
        str(ctx.run_dir),
        "--resolv",
        str(ctx.resolv_conf),
        "--metric",
        str(metric),
    ]
    atomic_write(script, "#!/bin/sh\nexec " + " ".join(shlex.quote(arg) for arg in argv) + ' "$@"\n')
    script.chmod(0o755)
    return script


def start(ctx: NetContext, ifname: str, metric: int, routes: Sequence[StaticRoute] = ()) -> None:
    """(Re)start the DHCP client on `ifname`; returns at once, the lease (and then `routes`) arrive through
    the hook."""
    stop(ctx, ifname)
    ctx.run_dir.mkdir(parents=True, exist_ok=True)
    save_routes(ctx.run_dir, ifname, routes)
    hook = write_hook(ctx, ifname, metric)
    argv = ctx.command(
        [
            *ctx.dhcp_client,
            "-f",
            "-i",
            ifname,
            "-s",
            str(hook),
            "-p",
            str(pid_path(ctx.run_dir, ifname)),
            "-t",
            str(ctx.dhcp_tries),
            "-T",
            str(ctx.dhcp_retry_interval),
            "-A",
            str(ctx.dhcp_retry_interval),
        ]
    )
    log.info("starting DHCP client: %s", shlex.join(argv))
    with open(ctx.run_dir / f"udhcpc-{ifname}.log", "ab") as output:
        try:
            child = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=output, stderr=output, start_new_session=True
            )
        except OSError as err:
            raise NetworkError(f"cannot start the DHCP client {ctx.dhcp_client[0]}: {err}") from err
    _children[ifname] = child


def _alive(pid: int) -> bool:
    """Running and not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _is_dhcp_client(pid: int) -> bool:
    try:
        return b"udhcpc" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def stop(ctx: NetContext, ifname: str, timeout: float = 3.0) -> None:
    """Stop the DHCP client on `ifname` (ours or one left by an earlier run, found by its pid file)."""
    pids: set[int] = set()
    child = _children.pop(ifname, None)
    if child is not None and child.poll() is None:
        pids.add(child.pid)
    pidfile = pid_path(ctx.run_dir, ifname)
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        pid = 0
    if pid and _is_dhcp_client(pid):  # a stale pid file may name a recycled pid: check before killing
        pids.add(pid)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
    deadline = time.monotonic() + timeout
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in pids:
        if _alive(pid):
            log.warning("DHCP client %d on %s ignored SIGTERM; killing it", pid, ifname)
            os.kill(pid, signal.SIGKILL)
    if child is not None:
        try:
            child.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            log.warning("DHCP client %d on %s did not exit", child.pid, ifname)
    pidfile.unlink(missing_ok=True)
    forget_lease(ctx.run_dir, ifname)
    save_routes(ctx.run_dir, ifname, ())


def running(ctx: NetContext, ifname: str) -> bool:
    """True if a DHCP client is running for `ifname`."""
    child = _children.get(ifname)
    if child is not None and child.poll() is None:
        return True
    try:
        pid = int(pid_path(ctx.run_dir, ifname).read_text().strip())
    except (OSError, ValueError):
        return False
    return _alive(pid) and _is_dhcp_client(pid)
