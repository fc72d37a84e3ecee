"""Extra static routes in the network model: how a route is written, and what an interface refuses."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Interface, IPv4Network

import pytest

from appliance.network.model import (
    MAX_ROUTES,
    InterfaceConfig,
    NetworkSettings,
    StaticRoute,
    parse_route_lines,
)

LAN = IPv4Interface("192.168.10.1/24")


def route(text: str) -> StaticRoute:
    return StaticRoute.parse(text)


def lan(*routes: str, mode: str = "static") -> InterfaceConfig:
    address = LAN if mode == "static" else None
    return InterfaceConfig("lan", "eth1", mode, address, routes=tuple(map(route, routes)))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "destination", "gateway"),
    [
        ("10.20.0.0/16 via 192.168.10.254", "10.20.0.0/16", "192.168.10.254"),
        ("10.20.0.0/16 192.168.10.254", "10.20.0.0/16", "192.168.10.254"),
        ("  10.20.0.0/255.255.0.0   VIA  192.168.10.254 ", "10.20.0.0/16", "192.168.10.254"),
        ("172.16.5.9 via 192.168.10.254", "172.16.5.9/32", "192.168.10.254"),
    ],
)
def test_a_route_is_destination_via_gateway(text: str, destination: str, gateway: str) -> None:
    parsed = route(text)
    assert (parsed.destination, parsed.gateway) == (IPv4Network(destination), IPv4Address(gateway))
    assert str(parsed) == f"{destination} via {gateway}"
    assert StaticRoute.from_dict(parsed.to_dict()) == parsed


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("10.20.0.0/16", "is not a route: write 'destination/prefix via gateway'"),
        ("10.20.0.0/16 via", "is not a route"),
        ("10.20.0.5/16 via 192.168.10.254", "has host bits set: the network is 10.20.0.0/16"),
        ("10.20.0.0/33 via 192.168.10.254", "longer than 32 bits"),
        ("10.20.0.0/255.0.255.0 via 192.168.10.254", "not contiguous"),
        ("10.20.x.0/16 via 192.168.10.254", "destination '10.20.x.0' is not an IPv4 address"),
        ("0.0.0.0/0 via 192.168.10.254", "is the default route: set it as the interface's gateway"),
        ("224.0.0.0/4 via 192.168.10.254", "cannot be routed"),
        ("10.20.0.0/16 via 127.0.0.1", "gateway 127.0.0.1 cannot be used by a host"),
    ],
)
def test_malformed_routes_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        route(text)


def test_lines_are_parsed_one_route_each_with_per_line_errors() -> None:
    routes, errors = parse_route_lines(
        "10.20.0.0/16 via 192.168.10.254\n\n# branch office\n10.30.0.0/16 via 192.168.10.x\n"
        "172.16.0.0/12 10.0.0.1 # vpn"
    )
    assert routes == [(1, route("10.20.0.0/16 via 192.168.10.254")), (5, route("172.16.0.0/12 via 10.0.0.1"))]
    assert errors == [(4, "gateway '192.168.10.x' is not an IPv4 address: use four numbers 0-255 separated by dots")]


def test_a_static_interface_takes_routes_through_a_gateway_on_its_subnet() -> None:
    config = lan("10.20.0.0/16 via 192.168.10.254", "10.30.0.0/16 via 192.168.10.253")
    assert "routes 10.20.0.0/16 via 192.168.10.254, 10.30.0.0/16 via 192.168.10.253" in config.describe()
    assert InterfaceConfig.from_dict("lan", config.to_dict()) == config


@pytest.mark.parametrize(
    ("routes", "message"),
    [
        (("10.20.0.0/16 via 10.0.0.1",), "lan: route to 10.20.0.0/16: gateway 10.0.0.1 is outside the subnet"),
        (("10.20.0.0/16 via 192.168.10.1",), "gateway 192.168.10.1 is the box's own address"),
        (("10.20.0.0/16 via 192.168.10.255",), "is the broadcast address of 192.168.10.0/24"),
        (("10.20.0.0/16 via 192.168.10.254", "10.20.0.0/16 via 192.168.10.253"),
         "route to 10.20.0.0/16 is listed twice"),
        (("192.168.10.128/25 via 192.168.10.254",), "inside the subnet 192.168.10.0/24, reached directly"),
    ],
)
def test_a_static_interface_refuses_routes_that_cannot_work(routes: tuple[str, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        lan(*routes)


def test_the_default_route_cannot_be_smuggled_in_as_an_extra_route() -> None:
    with pytest.raises(ValueError, match="default route"):
        StaticRoute(IPv4Network("0.0.0.0/0"), IPv4Address("192.168.10.254"))
    with pytest.raises(ValueError, match="default route"):
        InterfaceConfig.from_dict("lan", {**lan().to_dict(), "routes": [{"destination": "0.0.0.0/0",
                                                                          "gateway": "192.168.10.254"}]})


def test_too_many_routes_are_refused() -> None:
    many = [f"10.{n}.0.0/16 via 192.168.10.254" for n in range(MAX_ROUTES + 1)]
    assert len(lan(*many[:MAX_ROUTES]).routes) == MAX_ROUTES
    with pytest.raises(ValueError, match=f"at most {MAX_ROUTES} routes"):
        lan(*many)


def test_with_dhcp_the_gateway_is_checked_against_the_lease_later() -> None:
    assert lan("10.20.0.0/16 via 10.99.0.1", mode="dhcp").routes == (route("10.20.0.0/16 via 10.99.0.1"),)
    with pytest.raises(ValueError, match="listed twice"):
        lan("10.20.0.0/16 via 10.99.0.1", "10.20.0.0/16 via 10.99.0.2", mode="dhcp")


def test_one_destination_cannot_leave_through_both_wan_and_lan() -> None:
    wan = InterfaceConfig("wan", "eth0", "static", IPv4Interface("10.0.0.2/24"), IPv4Address("10.0.0.1"),
                          routes=(route("10.20.0.0/16 via 10.0.0.254"),))
    with pytest.raises(ValueError, match="the route to 10.20.0.0/16 is on both WAN and LAN"):
        NetworkSettings(wan=wan, lan=lan("10.20.0.0/16 via 192.168.10.254"))


def test_stored_settings_without_routes_still_load() -> None:
    stored = {"device": "eth1", "mode": "static", "address": "192.168.10.1/24", "gateway": None, "dns": [],
              "vlan": None}
    assert InterfaceConfig.from_dict("lan", stored).routes == ()
    with pytest.raises(ValueError, match="lan: a route is an object"):
        InterfaceConfig.from_dict("lan", {**stored, "routes": ["10.20.0.0/16 via 192.168.10.254"]})
