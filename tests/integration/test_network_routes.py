"""Extra static routes applied for real in the namespaces of test_network_netns.py: they appear in the box's
routing table, carry traffic, follow the settings (removed when deleted, restored on rollback), and work on a
DHCP interface once the lease is there. The peer namespace also owns 10.99.5.1 (on its LAN side); the box,
with no default route, reaches it only through a route via the LAN router 192.168.50.1."""

from __future__ import annotations

import json
import subprocess
from ipaddress import IPv4Interface

import pytest

from appliance.network import InterfaceConfig, NetworkSettings, apply, link_statuses
from appliance.network.model import StaticRoute
from appliance.network.netlink import RTPROT_APPLIANCE
from tests.integration import test_network_netns as netns
from tests.integration.test_network_netns import LAN_GW, WAN_GW, Namespaces, ip, static

pytestmark = netns.pytestmark  # integration; skipped where namespaces cannot be made
ns = netns.ns  # the box and peer namespaces with their veth pairs
dnsmasq = netns.dnsmasq

FAR = "10.99.5.1"


def routes_in_table(ns: Namespaces) -> list[tuple[str, str, str, int]]:
    """(destination, gateway, device, metric) of the routes our protocol put in the box's main table."""
    data = json.loads(ip("-n", ns.box, "-j", "-4", "route", "show", "proto", str(RTPROT_APPLIANCE)).stdout or "[]")
    return sorted((r["dst"], r.get("gateway", ""), r["dev"], r.get("metric", 0)) for r in data)


def reaches_far(ns: Namespaces) -> bool:
    return ns.in_box("ping", "-c", "1", "-W", "1", FAR, check=False).returncode == 0


@pytest.fixture
def far_network(ns: Namespaces) -> Namespaces:
    ip("-n", ns.peer, "addr", "add", f"{FAR}/24", "dev", "lanp")
    return ns


def lan(*routes: str, address: str = "192.168.50.2/24") -> InterfaceConfig:
    return static("lan", "lan0", address, routes=tuple(StaticRoute.parse(r) for r in routes))


def test_a_static_route_appears_in_the_table_and_goes_when_deleted(far_network: Namespaces) -> None:
    ns, ctx = far_network, far_network.context()
    wan = static("wan", "wan0", "10.77.0.2/24")  # no default route: only our route leads to FAR
    routed = NetworkSettings(wan=wan, lan=lan(f"10.99.0.0/16 via {LAN_GW}", f"172.20.0.0/16 via {LAN_GW}"))

    result = apply(routed, None, ctx)

    assert result.ok, result.describe()
    assert routes_in_table(ns) == [
        ("10.99.0.0/16", str(LAN_GW), "lan0", 200), ("172.20.0.0/16", str(LAN_GW), "lan0", 200)
    ]
    assert reaches_far(ns)
    described = [status.describe() for status in link_statuses(routed, ctx)]
    assert described[1].endswith(f"; routes 10.99.0.0/16 via {LAN_GW}, 172.20.0.0/16 via {LAN_GW}")

    fewer = NetworkSettings(wan=wan, lan=lan(f"172.20.0.0/16 via {LAN_GW}"))
    assert apply(fewer, routed, ctx).ok
    assert routes_in_table(ns) == [("172.20.0.0/16", str(LAN_GW), "lan0", 200)]
    assert not reaches_far(ns)

    assert apply(NetworkSettings(wan=wan, lan=None), fewer, ctx).ok  # LAN switched off: its routes go with it
    assert routes_in_table(ns) == []


def test_routes_of_others_are_never_touched(far_network: Namespaces) -> None:
    ns, ctx = far_network, far_network.context()
    wan = static("wan", "wan0", "10.77.0.2/24", WAN_GW)
    settings = NetworkSettings(wan=wan, lan=lan(f"10.99.0.0/16 via {LAN_GW}"))
    assert apply(settings, None, ctx).ok
    ip("-n", ns.box, "route", "add", "10.55.0.0/16", "via", str(LAN_GW), "dev", "lan0")  # an admin's own route
    assert apply(NetworkSettings(wan=settings.wan, lan=lan()), settings, ctx).ok
    table = ip("-n", ns.box, "-4", "route", "show").stdout
    assert "10.55.0.0/16 via 192.168.50.1 dev lan0" in table and "10.99.0.0/16" not in table


def test_a_rolled_back_change_brings_the_previous_routes_back(far_network: Namespaces) -> None:
    ns, ctx = far_network, far_network.context(grace=1.5)
    previous = NetworkSettings(wan=static("wan", "wan0", "10.77.0.2/24"), lan=lan(f"10.99.0.0/16 via {LAN_GW}"))
    assert apply(previous, None, ctx).ok
    broken = NetworkSettings(
        wan=static("wan", "wan0", "10.77.0.2/24", "10.77.0.99"),  # nobody answers there: rolled back
        lan=lan(f"172.20.0.0/16 via {LAN_GW}"),
    )

    result = apply(broken, previous, ctx)

    assert result.rolled_back, result.describe()
    assert routes_in_table(ns) == [("10.99.0.0/16", str(LAN_GW), "lan0", 200)]
    assert reaches_far(ns)


def test_routes_on_a_dhcp_interface_follow_the_lease(ns: Namespaces, dnsmasq: subprocess.Popen[bytes]) -> None:
    netns._needs_dhcp_client(ns)
    ctx = ns.context(grace=10.0)
    wan = InterfaceConfig("wan", "wan0", "dhcp", routes=(StaticRoute.parse(f"10.98.0.0/16 via {WAN_GW}"),))
    settings = NetworkSettings(wan=wan, lan=lan())

    result = apply(settings, None, ctx)

    assert result.ok, result.describe() + (ctx.run_dir / "udhcpc-wan0.log").read_text()
    assert routes_in_table(ns) == [("10.98.0.0/16", str(WAN_GW), "wan0", 100)]


def test_a_dhcp_route_through_a_gateway_off_the_leased_subnet_is_rolled_back(
    ns: Namespaces, dnsmasq: subprocess.Popen[bytes]
) -> None:
    netns._needs_dhcp_client(ns)
    ctx = ns.context(grace=8.0)  # time for the lease; the route's problem then stays until the grace ends
    previous = NetworkSettings(wan=static("wan", "wan0", "10.77.0.2/24", WAN_GW))
    assert apply(previous, None, ctx).ok
    wan = InterfaceConfig("wan", "wan0", "dhcp", routes=(StaticRoute.parse("10.98.0.0/16 via 10.66.0.1"),))

    result = apply(NetworkSettings(wan=wan), previous, ctx)

    assert result.rolled_back
    assert result.problems == (
        "WAN (wan0): route 10.98.0.0/16 via 10.66.0.1: the gateway is not a host of the leased subnet "
        "10.77.0.0/24",
    )
    assert routes_in_table(ns) == [] and ns.addresses("wan0") == [str(IPv4Interface("10.77.0.2/24"))]


def test_appliance_network_show_lists_the_saved_and_the_live_routes(far_network: Namespaces) -> None:
    import os
    import sys

    from appliance.cli import main
    from appliance.store import SettingsStore, open_database

    ns, data = far_network, far_network.tmp / "data"
    assert main(["init", "--data", str(data)]) == 0
    settings = NetworkSettings(wan=static("wan", "wan0", "10.77.0.2/24"), lan=lan(f"10.99.0.0/16 via {LAN_GW}"))
    db = open_database(data / "pbx.sqlite3")
    SettingsStore(db).set("network.settings", settings.to_dict())
    db.close()
    # the namespace shares the host's /etc: resolv.conf and the run files stay in the test's directory
    env = {**os.environ, "APPLIANCE_RESOLV_CONF": str(ns.tmp / "resolv.conf"),
           "APPLIANCE_NET_RUN_DIR": str(ns.tmp / "run")}

    applied = subprocess.run(["ip", "netns", "exec", ns.box, sys.executable, "-m", "appliance", "network", "apply",
                              "--data", str(data)], capture_output=True, text=True, timeout=60, env=env)
    assert applied.returncode == 0, applied.stderr + applied.stdout
    shown = subprocess.run(["ip", "netns", "exec", ns.box, sys.executable, "-m", "appliance", "network", "show",
                            "--data", str(data)], capture_output=True, text=True, timeout=60, env=env)
    lines = shown.stdout.splitlines()
    assert f"static 192.168.50.2/24 on lan0 routes 10.99.0.0/16 via {LAN_GW}" in lines
    live = [line for line in lines if line.startswith("  LAN lan0: up, 192.168.50.2/24")]
    assert live and live[0].endswith(f"; routes 10.99.0.0/16 via {LAN_GW}"), shown.stdout
