"""The network settings' validation, which the console (and later the web UI) reports to installers."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Interface

import pytest

from appliance.network import InterfaceConfig, NetworkSettings, default_settings
from appliance.network.model import (
    check_gateway,
    check_host_in_network,
    parse_dns_list,
    parse_host_ipv4,
    parse_netmask,
    parse_vlan,
    prefix_to_netmask,
)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("10.0.0.a", "is not an IPv4 address: use four numbers"),
        ("10.0.0", "use four numbers"),
        ("10.0.0.1.5", "use four numbers"),
        ("10.0.0.256", "each number must be 0-255"),
        ("10.0.0.01", "no leading zeros"),
        ("0.0.0.0", "cannot be used by a host"),
        ("127.0.0.1", "cannot be used by a host"),
        ("224.0.0.1", "cannot be used by a host"),
        ("255.255.255.255", "cannot be used by a host"),
        ("", "empty"),
    ],
)
def test_bad_host_addresses_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_host_ipv4(text)


@pytest.mark.parametrize(
    ("text", "prefix"), [("255.255.255.0", 24), ("255.255.254.0", 23), ("/16", 16), ("8", 8), ("255.255.255.252", 30)]
)
def test_netmasks_as_dotted_quads_or_prefixes(text: str, prefix: int) -> None:
    assert parse_netmask(text) == prefix
    assert parse_netmask(prefix_to_netmask(prefix)) == prefix


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("255.0.255.0", "not contiguous"),
        ("255.255.255.1", "not contiguous"),
        ("0.255.255.255", "not contiguous"),
        ("255.255.255.255", "no room"),
        ("0.0.0.0", "no room"),
        ("/31", "no room"),
        ("abc", "not an IPv4 address"),
    ],
)
def test_bad_netmasks(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_netmask(text)


def test_network_and_broadcast_addresses_are_not_host_addresses() -> None:
    with pytest.raises(ValueError, match="network address of 192.168.1.0/24"):
        check_host_in_network(IPv4Interface("192.168.1.0/24"))
    with pytest.raises(ValueError, match="broadcast address of 192.168.1.0/24"):
        check_host_in_network(IPv4Interface("192.168.1.255/24"))
    check_host_in_network(IPv4Interface("192.168.1.0/23"))  # inside a /23 that is a host


def test_gateway_must_be_another_host_of_the_subnet() -> None:
    box = IPv4Interface("10.1.2.3/24")
    check_gateway(IPv4Address("10.1.2.1"), box)
    with pytest.raises(ValueError, match="outside the subnet 10.1.2.0/24"):
        check_gateway(IPv4Address("10.1.3.1"), box)
    with pytest.raises(ValueError, match="broadcast address"):
        check_gateway(IPv4Address("10.1.2.255"), box)
    with pytest.raises(ValueError, match="own address"):
        check_gateway(IPv4Address("10.1.2.3"), box)


def test_dns_lists_and_vlans() -> None:
    assert parse_dns_list("1.1.1.1, 8.8.8.8 9.9.9.9") == tuple(
        IPv4Address(a) for a in ("1.1.1.1", "8.8.8.8", "9.9.9.9")
    )
    with pytest.raises(ValueError, match="at most 3"):
        parse_dns_list("1.1.1.1 1.0.0.1 8.8.8.8 8.8.4.4")
    with pytest.raises(ValueError, match="listed twice"):
        parse_dns_list("1.1.1.1,1.1.1.1")
    assert parse_vlan("") is None and parse_vlan("none") is None and parse_vlan("4094") == 4094
    for bad in ("4095", "-1", "ten"):
        with pytest.raises(ValueError, match="1 to 4094"):
            parse_vlan(bad)


def test_settings_round_trip_through_their_stored_form() -> None:
    settings = NetworkSettings(
        wan=InterfaceConfig(
            "wan",
            "eth0",
            "static",
            IPv4Interface("10.0.0.2/24"),
            IPv4Address("10.0.0.1"),
            (IPv4Address("1.1.1.1"),),
            10,
        ),
        lan=InterfaceConfig("lan", "eth1", "dhcp"),
        search=("office.example",),
    )
    assert NetworkSettings.from_dict(settings.to_dict()) == settings
    assert settings.wan.ifname == "eth0.10"
    assert NetworkSettings.from_dict(default_settings().to_dict()) == default_settings()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "need a 'wan'"),
        ({"wan": {"device": "eth0", "mode": "static"}}, "needs an address"),
        ({"wan": {"device": "eth0", "mode": "dhcp", "address": "10.0.0.2/24"}}, "leave them empty"),
        ({"wan": {"device": "eth0", "mode": "ppp"}}, "mode 'ppp'"),
        ({"wan": {"device": "eth0; reboot"}}, "not a network device name"),
        ({"wan": {"device": "eth0", "colour": "red"}}, "unknown field"),
        (
            {"wan": {"device": "eth0", "mode": "static", "address": "10.0.0.2/24", "gateway": "10.9.0.1"}},
            "outside the subnet",
        ),
        ({"wan": {"device": "eth0"}, "lan": {"device": "eth0"}}, "cannot both use eth0"),
        ({"wan": {"device": "averyveryverylongname", "vlan": 10}}, "not a network device name"),
    ],
)
def test_invalid_stored_settings_are_refused_with_the_field_named(data: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        NetworkSettings.from_dict(data)
