"""The validated model of the box's network settings, and the parsers the console and web UI share.

Parsers raise ValueError with a message meant for the installer who typed the value ("netmask
255.0.255.0 is not contiguous"), so every front end reports mistakes the same way.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field, replace
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import Any, Literal

Role = Literal["wan", "lan"]
Mode = Literal["dhcp", "static"]
ROLES: tuple[Role, ...] = ("wan", "lan")
MODES: tuple[Mode, ...] = ("dhcp", "static")
MAX_DNS = 3  # what resolv.conf(5) honours
MAX_ROUTES = 16  # extra static routes per interface; an office box needs a few, not a routing table
IFNAME_MAX = 15  # IFNAMSIZ - 1
_IFNAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_DOTTED_RE = re.compile(r"\d{1,3}(\.\d{1,3}){3}")
#: the settings-store key holding NetworkSettings.to_dict()
SETTINGS_KEY = "network.settings"


def parse_ipv4(text: str, what: str = "address") -> IPv4Address:
    """A dotted-quad IPv4 address, with a message that says what was wrong."""
    value = text.strip()
    if not value:
        raise ValueError(f"the {what} is empty")
    if not _DOTTED_RE.fullmatch(value):
        raise ValueError(f"{what} '{value}' is not an IPv4 address: use four numbers 0-255 separated by dots")
    try:
        return IPv4Address(value)
    except ValueError as err:
        raise ValueError(
            f"{what} '{value}' is not an IPv4 address: each number must be 0-255, no leading zeros"
        ) from err


def parse_host_ipv4(text: str, what: str = "address") -> IPv4Address:
    """An address a host may use: not 0.0.0.0, loopback, multicast, link-local-broadcast or reserved."""
    address = parse_ipv4(text, what)
    if address.is_unspecified or address.is_loopback or address.is_multicast or address.is_reserved:
        raise ValueError(f"{what} {address} cannot be used by a host (unspecified, loopback, multicast or reserved)")
    if address == IPv4Address("255.255.255.255"):
        raise ValueError(f"{what} {address} is the broadcast address")
    return address


def parse_netmask(text: str) -> int:
    """A netmask as dotted quad ('255.255.255.0') or prefix length ('24', '/24'); returns the prefix."""
    value = text.strip()
    digits = value[1:] if value.startswith("/") else value
    if digits.isdigit():
        prefix = int(digits)
    else:
        mask = int(parse_ipv4(value, "netmask"))
        inverted = ~mask & 0xFFFFFFFF
        if inverted & (inverted + 1):
            raise ValueError(f"netmask {value} is not contiguous: its one-bits must all come before its zero-bits")
        prefix = 32 - inverted.bit_length()
    if not 1 <= prefix <= 30:
        raise ValueError(f"netmask /{prefix} leaves no room for hosts and a gateway: use /1 to /30")
    return prefix


def prefix_to_netmask(prefix: int) -> str:
    """24 -> '255.255.255.0'."""
    return str(IPv4Network(f"0.0.0.0/{prefix}").netmask)


def check_host_in_network(interface: IPv4Interface, what: str = "address") -> None:
    """Refuse the network and broadcast addresses of the subnet as a host address."""
    network = interface.network
    if interface.ip == network.network_address:
        raise ValueError(f"{what} {interface.ip} is the network address of {network}: pick a host address")
    if interface.ip == network.broadcast_address:
        raise ValueError(f"{what} {interface.ip} is the broadcast address of {network}: pick a host address")


def check_gateway(gateway: IPv4Address, interface: IPv4Interface) -> None:
    """A gateway must be another host inside the interface's subnet."""
    network = interface.network
    if gateway not in network:
        raise ValueError(f"gateway {gateway} is outside the subnet {network} of {interface.ip}")
    if gateway == interface.ip:
        raise ValueError(f"gateway {gateway} is the box's own address")
    check_host_in_network(IPv4Interface(f"{gateway}/{network.prefixlen}"), "gateway")


def parse_dns_list(text: str) -> tuple[IPv4Address, ...]:
    """Comma- or space-separated DNS servers, at most three."""
    items = [item for item in re.split(r"[,\s]+", text.strip()) if item]
    if len(items) > MAX_DNS:
        raise ValueError(f"at most {MAX_DNS} DNS servers, got {len(items)}")
    servers = tuple(parse_host_ipv4(item, "DNS server") for item in items)
    if len(set(servers)) != len(servers):
        raise ValueError("a DNS server is listed twice")
    return servers


def parse_vlan(text: str) -> int | None:
    """An 802.1Q VLAN id 1-4094, or None for an empty answer."""
    value = text.strip()
    if not value or value.lower() in ("none", "no", "0"):
        return None
    if not value.isdigit() or not 1 <= int(value) <= 4094:
        raise ValueError(f"VLAN id '{value}' must be a number from 1 to 4094")
    return int(value)


def check_device_name(name: str) -> str:
    """A Linux interface name."""
    if not _IFNAME_RE.fullmatch(name) or len(name) > IFNAME_MAX:
        raise ValueError(f"'{name}' is not a network device name (letters, digits, . _ -; at most {IFNAME_MAX})")
    return name


def parse_prefix_length(text: str, what: str = "netmask") -> int:
    """A prefix length 0-32 as '24', '/24' or a dotted contiguous netmask ('255.255.0.0')."""
    value = text.strip()
    digits = value[1:] if value.startswith("/") else value
    if digits.isdigit():
        prefix = int(digits)
        if prefix > 32:
            raise ValueError(f"{what} /{prefix} is longer than 32 bits")
        return prefix
    mask = int(parse_ipv4(value, what))
    inverted = ~mask & 0xFFFFFFFF
    if inverted & (inverted + 1):
        raise ValueError(f"{what} {value} is not contiguous: its one-bits must all come before its zero-bits")
    return 32 - inverted.bit_length()


@dataclass(frozen=True)
class StaticRoute:
    """An extra route out of one interface: `destination` reached through `gateway` (never the default route)."""

    destination: IPv4Network
    gateway: IPv4Address

    def __post_init__(self) -> None:
        dest = self.destination
        if dest.prefixlen == 0:
            raise ValueError(f"{dest} is the default route: set it as the interface's gateway instead")
        if dest.is_loopback or dest.is_multicast or dest.network_address.is_reserved or dest.is_unspecified:
            raise ValueError(f"{dest} cannot be routed (loopback, multicast or reserved addresses)")

    def __str__(self) -> str:
        return f"{self.destination} via {self.gateway}"

    @classmethod
    def parse(cls, text: str) -> StaticRoute:
        """'10.20.0.0/16 via 192.168.10.254' (also without 'via', with a dotted netmask, or a bare host)."""
        words = text.split()
        if len(words) == 3 and words[1].lower() == "via":
            words = [words[0], words[2]]
        if len(words) != 2 or "via" in (word.lower() for word in words):
            raise ValueError(f"'{text.strip()}' is not a route: write 'destination/prefix via gateway'")
        address, slash, mask = words[0].partition("/")
        network_address = parse_ipv4(address, "destination")
        prefix = parse_prefix_length(mask, "destination netmask") if slash else 32
        try:
            destination = IPv4Network(f"{network_address}/{prefix}")
        except ValueError:
            network = IPv4Network(f"{network_address}/{prefix}", strict=False)
            raise ValueError(
                f"destination {words[0]} has host bits set: the network is {network}"
            ) from None
        return cls(destination, parse_host_ipv4(words[1], "gateway"))

    def to_dict(self) -> dict[str, str]:
        return {"destination": str(self.destination), "gateway": str(self.gateway)}

    @classmethod
    def from_dict(cls, data: Any) -> StaticRoute:
        if not isinstance(data, dict) or set(data) != {"destination", "gateway"}:
            raise ValueError(f"a route is an object with 'destination' and 'gateway', not {data!r}")
        return cls.parse(f"{data['destination']} via {data['gateway']}")


def parse_route_lines(text: str) -> tuple[list[tuple[int, StaticRoute]], list[tuple[int, str]]]:
    """One route per line (blank lines and '#' comments skipped): (line number, route) for each route and
    (line number, message) for each line that is not one. Lines count from 1.

    Only the form of each line is checked here; check_routes (InterfaceConfig) checks them against the port.
    """
    routes: list[tuple[int, StaticRoute]] = []
    errors: list[tuple[int, str]] = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            routes.append((number, StaticRoute.parse(line)))
        except ValueError as err:
            errors.append((number, str(err)))
    return routes, errors


def check_routes(routes: tuple[StaticRoute, ...], address: IPv4Interface | None, label: str = "") -> None:
    """Routes of one interface: at most MAX_ROUTES, no destination twice, and (when the subnet is known, i.e.
    a static address) each gateway a host of the subnet other than the box, and no route to the subnet itself.

    With DHCP the subnet arrives with the lease: apply() checks the gateways then.
    """
    prefix = f"{label}: " if label else ""
    if len(routes) > MAX_ROUTES:
        raise ValueError(f"{prefix}at most {MAX_ROUTES} routes, got {len(routes)}")
    seen: set[IPv4Network] = set()
    for route in routes:
        if route.destination in seen:
            raise ValueError(f"{prefix}the route to {route.destination} is listed twice")
        seen.add(route.destination)
        if address is None:
            continue
        if route.destination.subnet_of(address.network):
            raise ValueError(
                f"{prefix}route to {route.destination}: that is inside the subnet {address.network}, reached directly"
            )
        try:
            check_gateway(route.gateway, address)
        except ValueError as err:
            raise ValueError(f"{prefix}route to {route.destination}: {err}") from None


@dataclass(frozen=True)
class InterfaceConfig:
    """How one role (WAN or LAN) is configured on one device, possibly through a VLAN on it."""

    role: Role
    device: str
    mode: Mode = "dhcp"
    address: IPv4Interface | None = None
    gateway: IPv4Address | None = None
    dns: tuple[IPv4Address, ...] = ()
    vlan: int | None = None
    #: extra routes out of this interface, besides the default route through `gateway`
    routes: tuple[StaticRoute, ...] = ()

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"interface role '{self.role}' must be one of {', '.join(ROLES)}")
        if self.mode not in MODES:
            raise ValueError(f"{self.role}: mode '{self.mode}' must be one of {', '.join(MODES)}")
        check_device_name(self.device)
        if self.vlan is not None and not 1 <= self.vlan <= 4094:
            raise ValueError(f"{self.role}: VLAN id {self.vlan} must be from 1 to 4094")
        check_device_name(self.ifname)
        if len(self.dns) > MAX_DNS:
            raise ValueError(f"{self.role}: at most {MAX_DNS} DNS servers")
        if self.mode == "static":
            if self.address is None:
                raise ValueError(f"{self.role}: a static configuration needs an address")
            if not 1 <= self.address.network.prefixlen <= 30:
                raise ValueError(f"{self.role}: prefix /{self.address.network.prefixlen} must be /1 to /30")
            check_host_in_network(self.address)
            if self.gateway is not None:
                check_gateway(self.gateway, self.address)
        elif self.address is not None or self.gateway is not None:
            raise ValueError(f"{self.role}: DHCP takes its address and gateway from the server; leave them empty")
        check_routes(self.routes, self.address if self.mode == "static" else None, self.role)

    @property
    def ifname(self) -> str:
        """The device the addresses go on: the VLAN device `<dev>.<vid>` or the device itself."""
        return f"{self.device}.{self.vlan}" if self.vlan is not None else self.device

    def describe(self) -> str:
        """One line: 'static 192.168.1.10/24 gw 192.168.1.1 dns 1.1.1.1 on eth0.10'."""
        parts: list[str] = [self.mode]
        if self.address is not None:
            parts.append(str(self.address))
        if self.gateway is not None:
            parts.append(f"gw {self.gateway}")
        if self.dns:
            parts.append("dns " + ",".join(map(str, self.dns)))
        parts.append(f"on {self.ifname}")
        if self.routes:
            parts.append("routes " + ", ".join(map(str, self.routes)))
        return " ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "mode": self.mode,
            "address": str(self.address) if self.address else None,
            "gateway": str(self.gateway) if self.gateway else None,
            "dns": [str(server) for server in self.dns],
            "vlan": self.vlan,
            "routes": [route.to_dict() for route in self.routes],
        }

    @classmethod
    def from_dict(cls, role: Role, data: dict[str, Any]) -> InterfaceConfig:
        """Parse a stored dict; ValueError names the field that is wrong."""
        if not isinstance(data, dict):
            raise ValueError(f"{role}: expected an object, got {type(data).__name__}")
        unknown = set(data) - {"device", "mode", "address", "gateway", "dns", "vlan", "routes"}
        if unknown:
            raise ValueError(f"{role}: unknown field(s) {', '.join(sorted(unknown))}")
        address = data.get("address")
        gateway = data.get("gateway")
        vlan = data.get("vlan")
        try:
            parsed_address = IPv4Interface(address) if address else None
        except ValueError as err:
            raise ValueError(f"{role}: address {address!r} is not an IPv4 address/prefix") from err
        try:
            routes = tuple(StaticRoute.from_dict(route) for route in data.get("routes") or ())
        except ValueError as err:
            raise ValueError(f"{role}: {err}") from err
        return cls(
            role=role,
            device=str(data.get("device", "")),
            mode=data.get("mode", "dhcp"),
            address=parsed_address,
            gateway=parse_ipv4(gateway, f"{role} gateway") if gateway else None,
            dns=tuple(parse_ipv4(str(server), f"{role} DNS server") for server in data.get("dns") or ()),
            vlan=int(vlan) if vlan is not None else None,
            routes=routes,
        )


@dataclass(frozen=True)
class NetworkSettings:
    """The box's WAN and (optional) LAN; the WAN's gateway is the preferred default route."""

    wan: InterfaceConfig
    lan: InterfaceConfig | None = None
    search: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.wan.role != "wan" or (self.lan is not None and self.lan.role != "lan"):
            raise ValueError("the WAN and LAN slots must hold interfaces of those roles")
        if self.lan is not None:
            if self.lan.ifname == self.wan.ifname:
                raise ValueError(f"WAN and LAN cannot both use {self.wan.ifname}")
            if self.wan.address and self.lan.address and self.wan.address.network.overlaps(self.lan.address.network):
                raise ValueError(
                    f"WAN subnet {self.wan.address.network} overlaps LAN subnet {self.lan.address.network}"
                )
            both = {r.destination for r in self.wan.routes} & {r.destination for r in self.lan.routes}
            if both:
                raise ValueError(f"the route to {min(both)} is on both WAN and LAN: keep it on one")

    def interfaces(self) -> tuple[InterfaceConfig, ...]:
        """Configured interfaces, WAN first."""
        return (self.wan,) if self.lan is None else (self.wan, self.lan)

    def get(self, role: Role) -> InterfaceConfig | None:
        return self.wan if role == "wan" else self.lan

    def with_interface(self, config: InterfaceConfig) -> NetworkSettings:
        """A copy with `config` replacing the interface of its role (validated again)."""
        if config.role == "wan":
            return replace(self, wan=config)
        return replace(self, lan=config)

    def to_dict(self) -> dict[str, Any]:
        return {
            "wan": self.wan.to_dict(),
            "lan": self.lan.to_dict() if self.lan else None,
            "search": list(self.search),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NetworkSettings:
        if not isinstance(data, dict) or "wan" not in data:
            raise ValueError("network settings need a 'wan' object")
        lan = data.get("lan")
        return cls(
            wan=InterfaceConfig.from_dict("wan", data["wan"]),
            lan=InterfaceConfig.from_dict("lan", lan) if lan else None,
            search=tuple(str(domain) for domain in data.get("search") or ()),
        )


def default_settings(wan_device: str = "eth0", lan_device: str | None = "eth1") -> NetworkSettings:
    """Factory defaults: DHCP on the WAN, 192.168.10.1/24 on the LAN (so an installer can always reach it)."""
    lan = (
        InterfaceConfig("lan", lan_device, "static", address=ipaddress.IPv4Interface("192.168.10.1/24"))
        if lan_device
        else None
    )
    return NetworkSettings(wan=InterfaceConfig("wan", wan_device, "dhcp"), lan=lan)
