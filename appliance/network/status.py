"""Reading the live network state: what the console shows and what `**11`/`**12` announce."""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Interface

from appliance.network import netlink
from appliance.network.context import NetContext
from appliance.network.model import NetworkSettings, Role, StaticRoute


@dataclass(frozen=True)
class LinkStatus:
    """One device: link state and IPv4 addresses, labelled with its role when it has one."""

    name: str
    role: Role | None
    up: bool
    carrier: bool
    mac: str | None
    addresses: tuple[IPv4Interface, ...]
    present: bool = True
    #: the extra static routes of ours the kernel has out of this device now
    routes: tuple[StaticRoute, ...] = ()

    def describe(self) -> str:
        label = f"{self.role.upper()} " if self.role else ""
        if not self.present:
            return f"{label}{self.name}: device missing"
        state = "up" if self.up and self.carrier else ("no carrier" if self.up else "down")
        addresses = ", ".join(map(str, self.addresses)) or "no address"
        text = f"{label}{self.name}: {state}, {addresses}" + (f" [{self.mac}]" if self.mac else "")
        return text + (f"; routes {', '.join(map(str, self.routes))}" if self.routes else "")


def link_statuses(settings: NetworkSettings | None, ctx: NetContext | None = None) -> list[LinkStatus]:
    """Every device but loopback, with its role from `settings`; configured devices that are absent too."""
    ctx = ctx or NetContext()
    roles = {config.ifname: config.role for config in settings.interfaces()} if settings else {}
    with ctx.iproute() as ipr:
        found = [
            LinkStatus(
                name=link.name,
                role=roles.get(link.name),
                up=link.up,
                carrier=link.carrier,
                mac=link.mac,
                addresses=tuple(netlink.ipv4_addresses(ipr, link.index)),
                routes=tuple(route for route, _ in netlink.static_routes(ipr, link.index)),
            )
            for link in netlink.links(ipr)
            if link.name != "lo"
        ]
    seen = {status.name for status in found}
    found += [
        LinkStatus(name, role, up=False, carrier=False, mac=None, addresses=(), present=False)
        for name, role in roles.items()
        if name not in seen
    ]
    order = {"wan": 0, "lan": 1}
    return sorted(found, key=lambda status: (order.get(status.role or "", 2), status.name))


def live_addresses(settings: NetworkSettings, ctx: NetContext | None = None) -> dict[Role, IPv4Interface | None]:
    """The first IPv4 address currently on the WAN and LAN devices (None if none or no such device)."""
    ctx = ctx or NetContext()
    found: dict[Role, IPv4Interface | None] = {"wan": None, "lan": None}
    with ctx.iproute() as ipr:
        for config in settings.interfaces():
            link = netlink.find_link(ipr, config.ifname)
            if link is not None:
                addresses = netlink.ipv4_addresses(ipr, link.index)
                found[config.role] = addresses[0] if addresses else None
    return found
