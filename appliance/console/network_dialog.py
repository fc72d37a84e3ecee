"""The 'Set WAN/LAN network' dialog: ask, validate each field, confirm, apply, keep or undo.

Validation is the network model's (appliance.network.model), so the console refuses exactly what
the settings refuse, with the same messages. After a change is applied and verified it must be
confirmed within `confirm_timeout` seconds, or it is undone: an installer who cut off their own
remote session, or walked away, gets the old settings back.
"""

from __future__ import annotations

from collections.abc import Callable
from ipaddress import IPv4Address, IPv4Interface

from appliance.console.dialog import Flow, Ui
from appliance.console.services import ConsoleServices
from appliance.network.model import (
    InterfaceConfig,
    Mode,
    Role,
    check_gateway,
    check_host_in_network,
    parse_dns_list,
    parse_host_ipv4,
    parse_netmask,
    parse_vlan,
    prefix_to_netmask,
)

NONE_WORDS = ("none", "-")
MODES: dict[str, Mode] = {"d": "dhcp", "dhcp": "dhcp", "s": "static", "static": "static"}


def _gateway_parser(interface: IPv4Interface) -> Callable[[str], IPv4Address | None]:
    def parse(text: str) -> IPv4Address | None:
        if text.strip().lower() in NONE_WORDS:
            return None
        gateway = parse_host_ipv4(text, "gateway")
        check_gateway(gateway, interface)
        return gateway

    return parse


def _dns_parser(text: str) -> tuple[IPv4Address, ...]:
    return () if text.strip().lower() in NONE_WORDS else parse_dns_list(text)


def ask_static(
    ui: Ui, current: InterfaceConfig
) -> Flow[tuple[IPv4Interface, IPv4Address | None, tuple[IPv4Address, ...]]]:
    """Address and netmask (re-asked together when they do not make a host address), gateway, DNS."""
    old = current.address if current.mode == "static" else None
    while True:
        address = yield from ui.ask_value("IP address", parse_host_ipv4, default=str(old.ip) if old else None)
        prefix = yield from ui.ask_value(
            "Netmask", parse_netmask, default=prefix_to_netmask(old.network.prefixlen if old else 24)
        )
        interface = IPv4Interface(f"{address}/{prefix}")
        try:
            check_host_in_network(interface)
            break
        except ValueError as err:
            ui.say(f"  Invalid: {err}.")
    old_gateway = current.gateway if current.gateway and current.gateway in interface.network else None
    gateway = yield from ui.ask_value(
        "Gateway ('none' for no gateway)", _gateway_parser(interface), default=str(old_gateway or "none")
    )
    dns = yield from ui.ask_value(
        "DNS servers, comma separated ('none')", _dns_parser, default=",".join(map(str, current.dns)) or "none"
    )
    return interface, gateway, dns


def describe_config(config: InterfaceConfig) -> list[str]:
    lines = [f"  Mode:     {'static' if config.mode == 'static' else 'DHCP'}"]
    if config.address is not None:
        lines.append(f"  Address:  {config.address.ip}")
        lines.append(f"  Netmask:  {config.address.netmask} (/{config.address.network.prefixlen})")
        lines.append(f"  Gateway:  {config.gateway or 'none'}")
        lines.append(f"  DNS:      {', '.join(map(str, config.dns)) or 'none'}")
    lines.append(f"  VLAN:     {config.vlan or 'none (untagged)'}")
    lines.append(f"  Device:   {config.ifname}")
    lines += [f"  Route:    {route}" for route in config.routes]
    return lines


def set_network(ui: Ui, services: ConsoleServices, role: Role, confirm_timeout: float) -> Flow[None]:
    """The whole dialog for one role."""
    settings = services.network_settings()
    current = settings.get(role)
    if current is None:
        ui.say(f"This box has no {role.upper()} port configured.")
        return
    ui.say("")
    ui.say(f"--- Set {role.upper()} network ({current.device}) " + "-" * 30)
    ui.say(f"Now: {current.describe()}")
    mode = yield from ui.ask_choice("Mode: d = DHCP, s = static", MODES, default=current.mode)
    vlan = yield from ui.ask_value(
        "VLAN id (1-4094, 'none' for untagged)", parse_vlan, default=str(current.vlan or "none")
    )
    try:
        if mode == "static":
            interface, gateway, dns = yield from ask_static(ui, current)
            # the extra routes are kept (edited in the web admin); they must still fit the new subnet
            new = InterfaceConfig(role, current.device, "static", interface, gateway, dns, vlan, current.routes)
        else:
            new = InterfaceConfig(role, current.device, "dhcp", vlan=vlan, routes=current.routes)
        new_settings = settings.with_interface(new)
    except ValueError as err:
        ui.say(f"These settings cannot be used: {err}.")
        yield from ui.pause()
        return
    ui.say("")
    ui.say(f"New {role.upper()} settings:")
    for line in describe_config(new):
        ui.say(line)
    apply_now = yield from ui.ask_yes_no("Apply these settings now?")
    if not apply_now:
        ui.say("Nothing changed.")
        return
    ui.say(f"Applying; the new settings get up to {services.network_grace():g} s to work ...")
    yield from ui.work()
    result = services.apply_network(new_settings)
    now = yield from ui.work()  # the apply took a while: take the confirmation deadline from now
    for warning in result.warnings:
        ui.say(f"  Note: {warning}")
    if not result.ok:
        ui.say("The new settings did not work:")
        for problem in result.problems:
            ui.say(f"  {problem}")
        ui.say("The previous settings were restored." if result.rolled_back else "Nothing was changed.")
        yield from ui.pause()
        return
    ui.say("The new settings are active.")
    decided = False
    try:
        keep = yield from ui.ask_yes_no(
            f"Keep them? Without an answer they are undone in {confirm_timeout:g} s",
            timeout_at=now + confirm_timeout,
            cancellable=False,
        )
        decided = True
        if keep:
            services.confirm_network()
            ui.say("Saved.")
            return
        if keep is None:
            ui.say("")
            ui.say("No answer.")
        services.revert_network()
        ui.say("The previous settings are back.")
    finally:
        if not decided:  # the session was closed (idle timeout) while the question was open
            services.revert_network()
