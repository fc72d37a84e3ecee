"""The netlink operations network configuration needs, over an open pyroute2 IPRoute.

Each function is idempotent (bring to a wanted state rather than issue a blind command), so that a
re-apply, a rollback or a DHCP renewal never fails on "File exists".
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from collections.abc import Sequence
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from socket import AF_INET
from typing import Any

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from appliance.network.exceptions import NetworkError, NoSuchDevice
from appliance.network.model import StaticRoute

log = logging.getLogger(__name__)

IFF_UP = 0x1
IFF_LOWER_UP = 0x10000  # carrier
# neighbour states that mean "this address answered ARP" (include/uapi/linux/neighbour.h)
NUD_REACHABLE, NUD_STALE, NUD_DELAY, NUD_PROBE, NUD_PERMANENT = 0x02, 0x04, 0x08, 0x10, 0x80
_NUD_ANSWERED = NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE | NUD_PERMANENT
RT_TABLE_MAIN = 254
#: rtm_protocol of the extra static routes we install (values above RTPROT_STATIC are the user's to pick;
#: iproute2 names none 77): what we added is told apart from the kernel's, DHCP's and an admin's by it alone
RTPROT_APPLIANCE = 77


@dataclass(frozen=True)
class LinkState:
    """One network device as netlink reports it."""

    index: int
    name: str
    up: bool
    carrier: bool
    mac: str | None
    kind: str | None
    vlan_id: int | None
    parent: int | None


def _link_state(msg: Any) -> LinkState:
    flags = msg.get("flags") or 0
    kind = msg.get_nested("IFLA_LINKINFO", "IFLA_INFO_KIND")
    vlan_id = msg.get_nested("IFLA_LINKINFO", "IFLA_INFO_DATA", "IFLA_VLAN_ID") if kind == "vlan" else None
    return LinkState(
        index=msg["index"],
        name=msg.get("ifname"),
        up=bool(flags & IFF_UP),
        carrier=bool(flags & IFF_LOWER_UP),
        mac=msg.get("address"),
        kind=kind,
        vlan_id=vlan_id,
        parent=msg.get("link"),
    )


def links(ipr: IPRoute) -> list[LinkState]:
    """Every device in the namespace."""
    return [_link_state(msg) for msg in ipr.get_links()]


def find_link(ipr: IPRoute, name: str) -> LinkState | None:
    """The device called `name`, or None."""
    indexes = ipr.link_lookup(ifname=name)
    if not indexes:
        return None
    return _link_state(ipr.get_links(indexes[0])[0])


def require_link(ipr: IPRoute, name: str) -> LinkState:
    link = find_link(ipr, name)
    if link is None:
        raise NoSuchDevice(name)
    return link


def set_up(ipr: IPRoute, link: LinkState) -> None:
    if not link.up:
        ipr.link("set", index=link.index, state="up")


def ensure_vlan(ipr: IPRoute, parent: LinkState, name: str, vlan_id: int) -> LinkState:
    """Create `name` as 802.1Q VLAN `vlan_id` on `parent`, replacing a different device of that name."""
    existing = find_link(ipr, name)
    if existing is not None:
        if existing.kind == "vlan" and existing.vlan_id == vlan_id and existing.parent == parent.index:
            return existing
        log.info(
            "replacing %s (kind %s, vlan %s) by VLAN %d on %s",
            name,
            existing.kind,
            existing.vlan_id,
            vlan_id,
            parent.name,
        )
        ipr.link("del", index=existing.index)
    try:
        ipr.link("add", ifname=name, kind="vlan", link=parent.index, vlan_id=vlan_id)
    except NetlinkError as err:
        raise NetworkError(f"cannot create VLAN {vlan_id} on {parent.name}: {err}") from err
    return require_link(ipr, name)


def delete_vlan(ipr: IPRoute, name: str) -> None:
    """Remove a VLAN device we created (never a physical device)."""
    link = find_link(ipr, name)
    if link is not None and link.kind == "vlan":
        ipr.link("del", index=link.index)


def ipv4_addresses(ipr: IPRoute, index: int) -> list[IPv4Interface]:
    return [
        IPv4Interface(f"{msg.get('IFA_ADDRESS') or msg.get('address')}/{msg['prefixlen']}")
        for msg in ipr.get_addr(family=AF_INET, index=index)
    ]


def set_ipv4_addresses(ipr: IPRoute, index: int, wanted: list[IPv4Interface]) -> None:
    """Make the device's IPv4 addresses exactly `wanted` (others removed, missing ones added)."""
    present = ipv4_addresses(ipr, index)
    for address in present:
        if address not in wanted:
            ipr.addr("del", index=index, address=str(address.ip), prefixlen=address.network.prefixlen)
    for address in wanted:
        if address not in present:
            ipr.addr(
                "add",
                index=index,
                address=str(address.ip),
                prefixlen=address.network.prefixlen,
                broadcast=str(address.network.broadcast_address),
            )


def default_routes(ipr: IPRoute, index: int) -> list[tuple[IPv4Address | None, int]]:
    """(gateway, metric) of the main table's IPv4 default routes out of this device."""
    found = []
    for msg in ipr.get_routes(family=AF_INET, table=RT_TABLE_MAIN):
        if msg["dst_len"] == 0 and msg.get("oif") == index:
            gateway = msg.get("gateway")
            found.append((IPv4Address(gateway) if gateway else None, msg.get("priority") or 0))
    return found


def set_default_route(ipr: IPRoute, index: int, gateway: IPv4Address | None, metric: int) -> None:
    """Make the device's default route exactly `gateway` with `metric` (or none)."""
    current = default_routes(ipr, index)
    for old_gateway, old_metric in current:
        if (old_gateway, old_metric) != (gateway, metric):
            kwargs: dict[str, Any] = {"dst": "0.0.0.0/0", "oif": index, "priority": old_metric, "table": RT_TABLE_MAIN}
            if old_gateway is not None:
                kwargs["gateway"] = str(old_gateway)
            ipr.route("del", **kwargs)
    if gateway is not None and (gateway, metric) not in current:
        ipr.route("add", dst="0.0.0.0/0", gateway=str(gateway), oif=index, priority=metric, table=RT_TABLE_MAIN)


def static_routes(ipr: IPRoute, index: int) -> list[tuple[StaticRoute, int]]:
    """(route, metric) of the extra routes we installed out of this device (our protocol, main table)."""
    found = []
    for msg in ipr.get_routes(family=AF_INET, table=RT_TABLE_MAIN, proto=RTPROT_APPLIANCE):
        if msg["dst_len"] == 0 or msg.get("oif") != index or msg["proto"] != RTPROT_APPLIANCE:
            continue
        gateway = msg.get("gateway")
        if gateway is None:
            continue
        destination = IPv4Network(f"{msg.get('dst')}/{msg['dst_len']}")
        found.append((StaticRoute(destination, IPv4Address(gateway)), msg.get("priority") or 0))
    return found


def set_static_routes(
    ipr: IPRoute, index: int, wanted: Sequence[StaticRoute], metric: int
) -> list[tuple[StaticRoute, str]]:
    """Make our routes out of the device exactly `wanted` (with `metric`); returns the routes the kernel
    refused with its reason (a gateway it cannot reach on the device), the others are in place."""
    present = static_routes(ipr, index)
    for route, old_metric in present:
        if route not in wanted or old_metric != metric:
            ipr.route("del", dst=str(route.destination), gateway=str(route.gateway), oif=index,
                      priority=old_metric, proto=RTPROT_APPLIANCE, table=RT_TABLE_MAIN)
    kept = {route for route, old_metric in present if old_metric == metric}
    refused = []
    for route in wanted:
        if route in kept:
            continue
        try:
            ipr.route("add", dst=str(route.destination), gateway=str(route.gateway), oif=index,
                      priority=metric, proto=RTPROT_APPLIANCE, table=RT_TABLE_MAIN)
        except NetlinkError as err:
            log.warning("route %s refused by the kernel: %s", route, err)
            refused.append((route, err.args[1] if len(err.args) > 1 else str(err)))
    return refused


def neighbour_answered(ipr: IPRoute, index: int, address: IPv4Address) -> bool:
    """True if `address` has a resolved ARP entry on the device (it answered ARP recently)."""
    for msg in ipr.get_neighbours(family=AF_INET, ifindex=index):
        if msg.get("NDA_DST") == str(address) and msg["state"] & _NUD_ANSWERED and msg.get("NDA_LLADDR"):
            return True
    return False


def clear_interface(ipr: IPRoute, name: str) -> None:
    """Remove every IPv4 address, default route and extra static route of ours from `name` (if it exists)."""
    link = find_link(ipr, name)
    if link is None:
        return
    set_static_routes(ipr, link.index, (), 0)
    set_default_route(ipr, link.index, None, 0)
    set_ipv4_addresses(ipr, link.index, [])
