"""Where and how network configuration acts: the namespace, file paths, helper commands, timings.

On the box every field keeps its default. Tests point `netns` at a namespace they created and the
paths at a temporary directory, so the same code configures a veth pair instead of the box's ports.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyroute2 import IPRoute


def default_dhcp_client() -> tuple[str, ...]:
    """busybox's udhcpc: a separate `udhcpc` on the box (Buildroot), the busybox applet on Debian."""
    if shutil.which("udhcpc"):
        return ("udhcpc",)
    return ("busybox", "udhcpc")


@dataclass(frozen=True)
class NetContext:
    """Everything `apply` needs besides the settings."""

    netns: str | None = None
    resolv_conf: Path = Path("/etc/resolv.conf")
    #: pid files, leases, DHCP hook scripts; /run is a tmpfs on the box, so nothing here survives a reboot
    run_dir: Path = Path("/run/appliance/network")
    dhcp_client: tuple[str, ...] = field(default_factory=default_dhcp_client)
    #: DHCP discover attempts per cycle and seconds between them (udhcpc -t/-T)
    dhcp_tries: int = 5
    dhcp_retry_interval: int = 2
    ping: tuple[str, ...] = ("ping",)
    #: how long new settings get to come up (carrier, DHCP lease, gateway answering) before rollback
    grace: float = 20.0
    poll_interval: float = 0.25
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep

    def iproute(self) -> IPRoute:
        """A netlink socket in our namespace (flags=0: never create a namespace by accident)."""
        if self.netns:
            return IPRoute(netns=self.netns, flags=0)
        return IPRoute()

    def command(self, argv: Sequence[str]) -> list[str]:
        """`argv` run inside our namespace; always an argument list, never a shell string."""
        if self.netns:
            return ["ip", "netns", "exec", self.netns, *argv]
        return list(argv)


RUN_DIR_ENV = "APPLIANCE_NET_RUN_DIR"
RESOLV_CONF_ENV = "APPLIANCE_RESOLV_CONF"


def context_from_env(environ: Mapping[str, str] | None = None) -> NetContext:
    """The box's NetContext; $APPLIANCE_NET_RUN_DIR and $APPLIANCE_RESOLV_CONF move its files.

    Every entry point that applies settings (pbxd's network service, `appliance network apply`) builds its
    context here, so a test or a developer's host can keep the run files and resolv.conf out of /run and /etc:
    `ip netns exec` shares the host's /etc/resolv.conf unless /etc/netns/<name>/resolv.conf exists.
    """
    env = os.environ if environ is None else environ
    changes: dict[str, Any] = {}
    if env.get(RUN_DIR_ENV):
        changes["run_dir"] = Path(env[RUN_DIR_ENV])
    if env.get(RESOLV_CONF_ENV):
        changes["resolv_conf"] = Path(env[RESOLV_CONF_ENV])
    return NetContext(**changes)
