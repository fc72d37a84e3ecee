"""Network configuration through netlink (pyroute2): WAN/LAN, DHCP or static, DNS, gateway, VLAN."""

from __future__ import annotations

from appliance.network.apply import ApplyResult, apply, configure
from appliance.network.context import NetContext
from appliance.network.exceptions import NetworkError, NoSuchDevice
from appliance.network.manager import NetworkManager
from appliance.network.model import (
    SETTINGS_KEY,
    InterfaceConfig,
    NetworkSettings,
    default_settings,
    parse_dns_list,
    parse_host_ipv4,
    parse_ipv4,
    parse_netmask,
    parse_vlan,
)
from appliance.network.status import LinkStatus, link_statuses, live_addresses

__all__ = [
    "SETTINGS_KEY",
    "ApplyResult",
    "InterfaceConfig",
    "LinkStatus",
    "NetContext",
    "NetworkError",
    "NetworkManager",
    "NetworkSettings",
    "NoSuchDevice",
    "apply",
    "configure",
    "default_settings",
    "link_statuses",
    "live_addresses",
    "parse_dns_list",
    "parse_host_ipv4",
    "parse_ipv4",
    "parse_netmask",
    "parse_vlan",
]
