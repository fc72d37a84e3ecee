"""Domain errors of network configuration."""

from __future__ import annotations

from appliance.errors import ApplianceError


class NetworkError(ApplianceError):
    """Configuring the interfaces failed (missing device, netlink refused, DHCP client would not start)."""


class NoSuchDevice(NetworkError):
    """The settings name a network device the box does not have."""

    def __init__(self, device: str) -> None:
        super().__init__(f"no network device named {device!r}")
        self.device = device
