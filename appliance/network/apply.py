"""Applying network settings through netlink, verifying them, and rolling back if they cut the box off.

`apply(new, previous, ctx)` configures, then gives the new settings `ctx.grace` seconds to come up:
on every interface whose configuration changed and that has a carrier, the address and the extra static
routes must be present and the gateway must answer ARP or ping. If not, the previous settings are
configured again and the result says why. An interface without carrier is reported, not held against the settings: an
installer may configure the LAN before plugging it in.
"""

from __future__ import annotations

import logging
import subprocess
from dataclasses import dataclass
from ipaddress import IPv4Address

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from appliance.network import dhcp, netlink, resolv
from appliance.network.context import NetContext
from appliance.network.exceptions import NetworkError
from appliance.network.model import InterfaceConfig, NetworkSettings, Role, StaticRoute

log = logging.getLogger(__name__)

#: default-route metrics: the WAN's gateway wins while both interfaces have one
METRICS: dict[Role, int] = {"wan": 100, "lan": 200}


@dataclass(frozen=True)
class ApplyResult:
    """What happened to a change: kept (ok), or refused and rolled back, with reasons."""

    ok: bool
    rolled_back: bool = False
    problems: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    def describe(self) -> str:
        head = "applied" if self.ok else ("rolled back" if self.rolled_back else "failed")
        return "; ".join([head, *self.problems, *self.warnings])


def configure(settings: NetworkSettings, previous: NetworkSettings | None, ctx: NetContext) -> None:
    """Bring the interfaces to `settings`, undoing what `previous` set up and `settings` no longer uses."""
    ctx.run_dir.mkdir(parents=True, exist_ok=True)
    wanted = {config.ifname for config in settings.interfaces()}
    with ctx.iproute() as ipr:
        for old in previous.interfaces() if previous else ():
            if old.ifname not in wanted:
                dhcp.stop(ctx, old.ifname)
                netlink.clear_interface(ipr, old.ifname)
                if old.vlan is not None:
                    netlink.delete_vlan(ipr, old.ifname)
        for config in settings.interfaces():
            _configure_interface(ipr, config, ctx)
    static_dns = [str(server) for config in settings.interfaces() for server in config.dns]
    resolv.write_static(ctx.run_dir, static_dns, settings.search)
    resolv.refresh(ctx.run_dir, ctx.resolv_conf)


def _configure_interface(ipr: IPRoute, config: InterfaceConfig, ctx: NetContext) -> None:
    parent = netlink.require_link(ipr, config.device)
    netlink.set_up(ipr, parent)
    link = parent
    if config.vlan is not None:
        link = netlink.ensure_vlan(ipr, parent, config.ifname, config.vlan)
        netlink.set_up(ipr, link)
    metric = METRICS[config.role]
    if config.mode == "static":
        dhcp.stop(ctx, config.ifname)
        assert config.address is not None  # guaranteed by InterfaceConfig
        netlink.set_ipv4_addresses(ipr, link.index, [config.address])
        netlink.set_default_route(ipr, link.index, config.gateway, metric)
        refused = netlink.set_static_routes(ipr, link.index, config.routes, metric)
        if refused:
            raise NetworkError("; ".join(f"route {route} refused: {why}" for route, why in refused))
    else:
        # udhcpc's first event is "deconfig", which clears the interface; the hook adds the lease, then the
        # routes (their gateways are reachable only once the leased subnet is on the device)
        dhcp.start(ctx, config.ifname, metric, config.routes)


def apply(
    settings: NetworkSettings, previous: NetworkSettings | None, ctx: NetContext, *, verify: bool = True
) -> ApplyResult:
    """Configure `settings`; if they leave a connected interface unusable, go back to `previous`."""
    try:
        configure(settings, previous, ctx)
    except (NetworkError, NetlinkError, OSError) as err:
        log.error("configuring the network failed: %s", err)
        problems: tuple[str, ...] = (f"configuration failed: {err}",)
        warnings: tuple[str, ...] = ()
    else:
        if not verify:
            return ApplyResult(ok=True)
        changed = [
            config for config in settings.interfaces() if previous is None or previous.get(config.role) != config
        ]
        problems, warnings = check(changed, ctx)
        if not problems:
            return ApplyResult(ok=True, warnings=warnings)
    if previous is None:
        return ApplyResult(ok=False, problems=problems, warnings=warnings)
    log.warning("new network settings failed (%s); rolling back", "; ".join(problems))
    try:
        configure(previous, settings, ctx)
    except (NetworkError, NetlinkError, OSError) as err:
        log.error("rolling back the network failed: %s", err)
        problems = (*problems, f"rollback failed: {err}")
    return ApplyResult(ok=False, rolled_back=True, problems=problems, warnings=warnings)


def check(configs: list[InterfaceConfig], ctx: NetContext) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Poll until every interface is usable or the grace period ends; returns (problems, warnings)."""
    deadline = ctx.clock() + ctx.grace
    while True:
        problems, warnings = [], []
        with ctx.iproute() as ipr:
            for config in configs:
                problem, warning = _check_interface(ipr, config, ctx)
                if problem:
                    problems.append(problem)
                if warning:
                    warnings.append(warning)
        if not problems or ctx.clock() >= deadline:
            return tuple(problems), tuple(warnings)
        ctx.sleep(ctx.poll_interval)


def _check_interface(ipr: IPRoute, config: InterfaceConfig, ctx: NetContext) -> tuple[str | None, str | None]:
    name = f"{config.role.upper()} ({config.ifname})"
    link = netlink.find_link(ipr, config.ifname)
    if link is None:
        return f"{name}: device missing", None
    if not link.up:
        return f"{name}: link is down", None
    if config.mode == "static" and (missing := _missing_routes(ipr, link.index, config)):
        return f"{name}: route {missing[0]} is not in the routing table", None
    if not link.carrier:
        return None, f"{name}: no carrier (cable unplugged?), settings not verified"
    addresses = netlink.ipv4_addresses(ipr, link.index)
    if config.mode == "static":
        if config.address not in addresses:
            return f"{name}: address {config.address} is not configured", None
        gateway = config.gateway
    else:
        lease = dhcp.read_lease(ctx.run_dir, config.ifname)
        if lease is None or lease.address not in addresses:
            return f"{name}: no DHCP lease within {ctx.grace:g} s", None
        for route in config.routes:
            if route.gateway not in lease.address.network or route.gateway == lease.address.ip:
                return (f"{name}: route {route}: the gateway is not a host of the leased subnet "
                        f"{lease.address.network}"), None
        if missing := _missing_routes(ipr, link.index, config):
            return f"{name}: route {missing[0]} is not in the routing table", None
        gateway = lease.router
    if gateway is not None and not gateway_answers(ipr, link.index, config.ifname, gateway, ctx):
        return f"{name}: gateway {gateway} does not answer ARP or ping", None
    return None, None


def _missing_routes(ipr: IPRoute, index: int, config: InterfaceConfig) -> list[StaticRoute]:
    present = {route for route, _ in netlink.static_routes(ipr, index)}
    return [route for route in config.routes if route not in present]


def gateway_answers(ipr: IPRoute, index: int, ifname: str, gateway: IPv4Address, ctx: NetContext) -> bool:
    """ARP first (a gateway may drop ICMP); a ping both tests ICMP and makes the kernel resolve ARP."""
    if netlink.neighbour_answered(ipr, index, gateway):
        return True
    argv = ctx.command([*ctx.ping, "-c", "1", "-W", "1", "-I", ifname, str(gateway)])
    try:
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        log.warning("ping %s failed to run: %s", gateway, err)
    else:
        if done.returncode == 0:
            return True
    return netlink.neighbour_answered(ipr, index, gateway)
