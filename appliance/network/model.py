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
        return " ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "mode": self.mode,
            "address": str(self.address) if self.address else None,
            "gateway": str(self.gateway) if self.gateway else None,
            "dns": [str(server) for server in self.dns],
            "vlan": self.vlan,
        }

    @classmethod
    def from_dict(cls, role: Role, data: dict[str, Any]) -> InterfaceConfig:
        """Parse a stored dict; ValueError names the field that is wrong."""
        if not isinstance(data, dict):
            raise ValueError(f"{role}: expected an object, got {type(data).__name__}")
        unknown = set(data) - {"device", "mode", "address", "gateway", "dns", "vlan"}
        if unknown:
            raise ValueError(f"{role}: unknown field(s) {', '.join(sorted(unknown))}")
        address = data.get("address")
        gateway = data.get("gateway")
        vlan = data.get("vlan")
        try:
            parsed_address = IPv4Interface(address) if address else None
        except ValueError as err:
            raise ValueError(f"{role}: address {address!r} is not an IPv4 address/prefix") from err
        return cls(
            role=role,
            device=str(data.get("device", "")),
            mode=data.get("mode", "dhcp"),
            address=parsed_address,
            gateway=parse_ipv4(gateway, f"{role} gateway") if gateway else None,
            dns=tuple(parse_ipv4(str(server), f"{role} DNS server") for server in data.get("dns") or ()),
            vlan=int(vlan) if vlan is not None else None,
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
