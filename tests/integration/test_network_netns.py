"""Network configuration applied for real, inside network namespaces this test creates.

The "box" namespace has two veth ends, wan0 and lan0; their peers wanp and lanp live in a "peer"
namespace that plays the upstream router (10.77.0.1) and the office LAN (192.168.50.1), and runs
dnsmasq as the DHCP server when a test needs one. Nothing touches the host's own interfaces.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface
from pathlib import Path

import pytest

from appliance.network import (
    InterfaceConfig,
    NetContext,
    NetworkManager,
    NetworkSettings,
    apply,
    dhcp,
    link_statuses,
    live_addresses,
)

pytestmark = pytest.mark.integration

WAN_GW = IPv4Address("10.77.0.1")
LAN_GW = IPv4Address("192.168.50.1")


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=20)


def _skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "needs root to create network namespaces"
    if shutil.which("ip") is None:
        return "iproute2's `ip` is not installed"
    probe = f"aprobe-{uuid.uuid4().hex[:8]}"
    done = ip("netns", "add", probe, check=False)
    if done.returncode != 0:
        return f"no network namespace support: {done.stderr.strip()}"
    ip("netns", "del", probe, check=False)
    return None


SKIP_REASON = _skip_reason()
if SKIP_REASON:
    pytestmark = [pytestmark, pytest.mark.skip(reason=SKIP_REASON)]


@dataclass
class Namespaces:
    box: str
    peer: str
    tmp: Path

    def context(self, grace: float = 4.0) -> NetContext:
        return NetContext(
            netns=self.box,
            resolv_conf=self.tmp / "resolv.conf",
            run_dir=self.tmp / "run",
            dhcp_tries=3,
            dhcp_retry_interval=1,
            grace=grace,
            poll_interval=0.1,
        )

    def in_box(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ip", "netns", "exec", self.box, *argv], capture_output=True, text=True, check=check, timeout=20
        )

    def addresses(self, dev: str) -> list[str]:
        data = json.loads(ip("-n", self.box, "-j", "-4", "addr", "show", "dev", dev).stdout or "[]")
        return [f"{a['local']}/{a['prefixlen']}" for entry in data for a in entry.get("addr_info", [])]

    def default_routes(self) -> list[tuple[str, str, int]]:
        data = json.loads(ip("-n", self.box, "-j", "-4", "route", "show", "default").stdout or "[]")
        return [(route.get("gateway"), route["dev"], route.get("metric", 0)) for route in data]

    def link_exists(self, dev: str) -> bool:
        return ip("-n", self.box, "link", "show", dev, check=False).returncode == 0


def _kill_namespace_processes(name: str) -> None:
    pids = ip("netns", "pids", name, check=False).stdout.split()
    for pid in pids:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass


@pytest.fixture
def ns(tmp_path: Path) -> Iterator[Namespaces]:
    tag = uuid.uuid4().hex[:8]
    spaces = Namespaces(box=f"apbox-{tag}", peer=f"appeer-{tag}", tmp=tmp_path)
    created: list[str] = []
    try:
        for name in (spaces.box, spaces.peer):
            ip("netns", "add", name)
            created.append(name)
            ip("-n", name, "link", "set", "lo", "up")
        for dev, peer_dev, gateway in (("wan0", "wanp", WAN_GW), ("lan0", "lanp", LAN_GW)):
            ip("link", "add", dev, "netns", spaces.box, "type", "veth", "peer", "name", peer_dev, "netns", spaces.peer)
            ip("-n", spaces.peer, "addr", "add", f"{gateway}/24", "dev", peer_dev)
            ip("-n", spaces.peer, "link", "set", peer_dev, "up")
        yield spaces
    finally:
        # clean up even when the test failed half-way: DHCP clients and servers first, then the namespaces
        for name in created:
            _kill_namespace_processes(name)
        for name in created:
            ip("netns", "del", name, check=False)


def static(
    role: str, device: str, address: str, gateway: IPv4Address | str | None = None, **extra: object
) -> InterfaceConfig:
    return InterfaceConfig(
        role,  # type: ignore[arg-type]
        device,
        "static",
        address=IPv4Interface(address),
        gateway=IPv4Address(str(gateway)) if gateway else None,
        **extra,  # type: ignore[arg-type]
    )


@pytest.fixture
def dnsmasq(ns: Namespaces) -> Iterator[subprocess.Popen[bytes]]:
    binary = shutil.which("dnsmasq")
    if binary is None:
        pytest.skip("dnsmasq is not installed (scripts/install-system-deps.sh installs dnsmasq-base)")
    argv = [
        "ip",
        "netns",
        "exec",
        ns.peer,
        binary,
        "--keep-in-foreground",
        "--no-daemon",
        "--conf-file=/dev/null",
        "--port=0",
        "--no-resolv",
        "--no-hosts",
        "--user=root",
        "--interface=wanp",
        "--bind-interfaces",
        "--dhcp-range=10.77.0.100,10.77.0.150,255.255.255.0,1h",
        f"--dhcp-option=option:router,{WAN_GW}",
        "--dhcp-option=option:dns-server,10.77.0.53",
        "--domain=office.test",
        f"--dhcp-leasefile={ns.tmp / 'dnsmasq.leases'}",
        "--log-dhcp",
    ]
    log = open(ns.tmp / "dnsmasq.log", "wb")
    server = subprocess.Popen(argv, stdout=log, stderr=log)
    time.sleep(0.3)
    if server.poll() is not None:
        pytest.fail(f"dnsmasq did not start: {(ns.tmp / 'dnsmasq.log').read_text()}")
    yield server
    server.kill()
    server.wait()
    log.close()


def _needs_dhcp_client(ns: Namespaces) -> None:
    client = ns.context().dhcp_client[0]
    if shutil.which(client) is None:
        pytest.skip(f"{client} is not installed (scripts/install-system-deps.sh installs busybox)")


def test_static_addressing_configures_addresses_routes_and_dns(ns: Namespaces) -> None:
    settings = NetworkSettings(
        wan=static("wan", "wan0", "10.77.0.2/24", WAN_GW, dns=(IPv4Address("10.77.0.53"), IPv4Address("9.9.9.9"))),
        lan=static("lan", "lan0", "192.168.50.2/24"),
        search=("office.test",),
    )
    result = apply(settings, None, ns.context())
    assert result.ok, result.describe()
    assert ns.addresses("wan0") == ["10.77.0.2/24"]
    assert ns.addresses("lan0") == ["192.168.50.2/24"]
    assert ns.default_routes() == [(str(WAN_GW), "wan0", 100)]
    resolv = (ns.tmp / "resolv.conf").read_text()
    assert "search office.test\nnameserver 10.77.0.53\nnameserver 9.9.9.9\n" in resolv
    assert ns.in_box("ping", "-c", "1", "-W", "2", str(LAN_GW)).returncode == 0
    assert live_addresses(settings, ns.context()) == {
        "wan": IPv4Interface("10.77.0.2/24"),
        "lan": IPv4Interface("192.168.50.2/24"),
    }
    described = [status.describe() for status in link_statuses(settings, ns.context())]
    assert described[0].startswith("WAN wan0: up, 10.77.0.2/24")
    assert described[1].startswith("LAN lan0: up, 192.168.50.2/24")


def test_reapplying_changes_only_what_differs(ns: Namespaces) -> None:
    first = NetworkSettings(wan=static("wan", "wan0", "10.77.0.2/24", WAN_GW))
    assert apply(first, None, ns.context()).ok
    second = NetworkSettings(wan=static("wan", "wan0", "10.77.0.7/24", WAN_GW))
    assert apply(second, first, ns.context()).ok
    assert ns.addresses("wan0") == ["10.77.0.7/24"]
    assert ns.default_routes() == [(str(WAN_GW), "wan0", 100)]


def test_dhcp_takes_address_gateway_and_dns_from_the_server(ns: Namespaces, dnsmasq: subprocess.Popen[bytes]) -> None:
    _needs_dhcp_client(ns)
    ctx = ns.context(grace=10.0)
    settings = NetworkSettings(wan=InterfaceConfig("wan", "wan0", "dhcp"), lan=static("lan", "lan0", "192.168.50.2/24"))
    result = apply(settings, None, ctx)
    assert result.ok, result.describe() + (ctx.run_dir / "udhcpc-wan0.log").read_text()
    (address,) = ns.addresses("wan0")
    assert IPv4Interface(address) in IPv4Interface("10.77.0.100/24").network
    assert 100 <= int(IPv4Interface(address).ip) & 0xFF <= 150
    assert ns.default_routes() == [(str(WAN_GW), "wan0", 100)]
    resolv = (ns.tmp / "resolv.conf").read_text()
    assert "nameserver 10.77.0.53" in resolv and "search office.test" in resolv
    assert dhcp.running(ctx, "wan0")
    # back to static: the client is stopped and its address goes
    back = NetworkSettings(wan=static("wan", "wan0", "10.77.0.2/24", WAN_GW), lan=settings.lan)
    assert apply(back, settings, ctx).ok
    assert not dhcp.running(ctx, "wan0")
    assert ns.addresses("wan0") == ["10.77.0.2/24"]
    assert "10.77.0.53" not in (ns.tmp / "resolv.conf").read_text()


def test_dhcp_without_a_server_rolls_back_to_the_previous_settings(ns: Namespaces) -> None:
    _needs_dhcp_client(ns)
    ctx = ns.context(grace=3.0)
    previous = NetworkSettings(wan=static("wan", "wan0", "10.77.0.2/24", WAN_GW))
    assert apply(previous, None, ctx).ok
    result = apply(NetworkSettings(wan=InterfaceConfig("wan", "wan0", "dhcp")), previous, ctx)
    assert not result.ok and result.rolled_back
    assert "no DHCP lease" in result.problems[0]
    assert not dhcp.running(ctx, "wan0")
    assert ns.addresses("wan0") == ["10.77.0.2/24"]


def test_unreachable_gateway_rolls_back_to_the_previous_settings(ns: Namespaces) -> None:
    ctx = ns.context(grace=2.0)
    previous = NetworkSettings(wan=static("wan", "wan0", "10.77.0.2/24", WAN_GW))
    assert apply(previous, None, ctx).ok
    broken = NetworkSettings(wan=static("wan", "wan0", "10.77.0.3/24", "10.77.0.99"))
    started = time.monotonic()
    result = apply(broken, previous, ctx)
    assert time.monotonic() - started >= 2.0  # the grace period was granted
    assert not result.ok and result.rolled_back
    assert result.problems == ("WAN (wan0): gateway 10.77.0.99 does not answer ARP or ping",)
    assert ns.addresses("wan0") == ["10.77.0.2/24"]
    assert ns.default_routes() == [(str(WAN_GW), "wan0", 100)]


def test_missing_device_is_refused_and_rolled_back(ns: Namespaces) -> None:
    ctx = ns.context()
    previous = NetworkSettings(wan=static("wan", "wan0", "10.77.0.2/24", WAN_GW))
    assert apply(previous, None, ctx).ok
    result = apply(NetworkSettings(wan=static("wan", "eth9", "10.77.0.3/24")), previous, ctx)
    assert result.rolled_back
    assert "no network device named 'eth9'" in result.problems[0]
    assert ns.addresses("wan0") == ["10.77.0.2/24"]


def test_unplugged_port_is_reported_but_not_rolled_back(ns: Namespaces) -> None:
    ip("-n", ns.peer, "link", "set", "lanp", "down")  # the LAN cable is "unplugged"
    settings = NetworkSettings(
        wan=static("wan", "wan0", "10.77.0.2/24", WAN_GW), lan=static("lan", "lan0", "192.168.50.2/24", LAN_GW)
    )
    result = apply(settings, None, ns.context(grace=1.0))
    assert result.ok
    assert result.warnings == ("LAN (lan0): no carrier (cable unplugged?), settings not verified",)


def _vlan_supported(ns: Namespaces) -> str | None:
    done = ip("-n", ns.box, "link", "add", "link", "wan0", "name", "wan0.99", "type", "vlan", "id", "99", check=False)
    if done.returncode != 0:
        return done.stderr.strip()
    ip("-n", ns.box, "link", "del", "wan0.99")
    return None


def test_vlan_interface_is_created_used_and_removed(ns: Namespaces) -> None:
    error = _vlan_supported(ns)
    if error:
        pytest.skip(f"this kernel cannot create 802.1Q VLAN devices (no 8021q): {error}")
    ip("-n", ns.peer, "link", "add", "link", "wanp", "name", "wanp.7", "type", "vlan", "id", "7")
    ip("-n", ns.peer, "addr", "add", "10.70.0.1/24", "dev", "wanp.7")
    ip("-n", ns.peer, "link", "set", "wanp.7", "up")
    ctx = ns.context()
    untagged = NetworkSettings(wan=static("wan", "wan0", "10.77.0.2/24", WAN_GW))
    assert apply(untagged, None, ctx).ok
    tagged = NetworkSettings(wan=static("wan", "wan0", "10.70.0.2/24", "10.70.0.1", vlan=7))
    result = apply(tagged, untagged, ctx)
    assert result.ok, result.describe()
    assert ns.addresses("wan0.7") == ["10.70.0.2/24"]
    assert ns.addresses("wan0") == []
    assert ns.default_routes() == [("10.70.0.1", "wan0.7", 100)]
    assert apply(untagged, tagged, ctx).ok
    assert not ns.link_exists("wan0.7")
    assert ns.addresses("wan0") == ["10.77.0.2/24"]


class DictSettings(dict):
    def set(self, key: str, value: object) -> None:
        self[key] = value


def test_manager_saves_only_confirmed_changes_and_reverts_others(ns: Namespaces) -> None:
    store = DictSettings()
    first = NetworkSettings(wan=static("wan", "wan0", "10.77.0.2/24", WAN_GW))
    manager = NetworkManager(store, ns.context(), defaults=first)
    assert manager.apply_saved().ok
    second = NetworkSettings(wan=static("wan", "wan0", "10.77.0.5/24", WAN_GW))
    assert manager.apply(second).ok
    assert manager.pending and manager.current() == second and manager.saved() == first
    manager.revert()
    assert ns.addresses("wan0") == ["10.77.0.2/24"]
    assert not manager.pending and store == {}
    assert manager.apply(second).ok
    manager.confirm()
    assert NetworkSettings.from_dict(store["network.settings"]) == second
    assert ns.addresses("wan0") == ["10.77.0.5/24"]


def test_status_lists_links_and_names_configured_devices_that_are_missing(ns: Namespaces) -> None:
    settings = NetworkSettings(
        wan=static("wan", "wan0", "10.77.0.2/24", WAN_GW), lan=static("lan", "lan9", "192.168.50.2/24")
    )
    assert apply(NetworkSettings(wan=settings.wan), None, ns.context()).ok
    described = [status.describe() for status in link_statuses(settings, ns.context())]
    assert described[0].startswith("WAN wan0: up, 10.77.0.2/24 [")
    assert described[1] == "LAN lan9: device missing"
    assert described[2].startswith("lan0: down, no address")
    assert live_addresses(settings, ns.context()) == {"wan": IPv4Interface("10.77.0.2/24"), "lan": None}
