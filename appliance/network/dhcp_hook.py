"""The script udhcpc runs on each DHCP event: `python -m appliance.network.dhcp_hook ... <event>`.

It runs inside the DHCP client's network namespace, so a plain IPRoute() addresses the right one.
Events (busybox udhcpc): deconfig (starting, or lease lost), bound (new lease), renew (lease
extended, possibly changed), leasefail and nak (nothing to configure).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from appliance.network import dhcp, netlink, resolv
from appliance.network.exceptions import NetworkError

log = logging.getLogger("appliance.network.dhcp_hook")


def handle_event(event: str, env: dict[str, str], run_dir: Path, resolv_conf: Path, metric: int) -> None:
    """Apply one udhcpc event to the interface named in `env`."""
    ifname = env.get("interface", "")
    if event == "deconfig":
        with IPRoute() as ipr:
            netlink.clear_interface(ipr, ifname)
        dhcp.forget_lease(run_dir, ifname)
        resolv.refresh(run_dir, resolv_conf)
    elif event in ("bound", "renew"):
        lease = dhcp.Lease.from_env(env, metric)
        with IPRoute() as ipr:
            link = netlink.require_link(ipr, ifname)
            netlink.set_ipv4_addresses(ipr, link.index, [lease.address])
            netlink.set_default_route(ipr, link.index, lease.router, metric)
            # a route whose gateway is off the leased subnet is refused (logged); apply's check reports it
            for route, why in netlink.set_static_routes(ipr, link.index, dhcp.read_routes(run_dir, ifname), metric):
                log.error("%s: route %s not added: %s", ifname, route, why)
        dhcp.save_lease(run_dir, lease)
        resolv.refresh(run_dir, resolv_conf)
        log.info("%s: %s lease %s router %s", ifname, event, lease.address, lease.router)
    else:
        log.info("%s: DHCP event %s", ifname, event)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument("--resolv", type=Path, required=True)
    parser.add_argument("--metric", type=int, required=True)
    parser.add_argument("event")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="dhcp_hook: %(message)s")
    try:
        handle_event(args.event, dict(os.environ), args.run_dir, args.resolv, args.metric)
    except (OSError, ValueError, NetlinkError, NetworkError) as err:
        log.error("%s %s failed: %s", os.environ.get("interface", "?"), args.event, err)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
