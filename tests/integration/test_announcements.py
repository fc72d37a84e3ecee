"""`**11`, `**12` and `**13` speak the live WAN address, LAN address and the caller's extension.

pbxd and the phone run inside a network namespace made by the test, whose WAN and LAN devices carry
known addresses; the digits heard by the phone are recognised from the prompt audio.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.conftest import Pbx
from tests.integration.netns import ip, veth_namespace

pytestmark = pytest.mark.integration

WAN, LAN = "10.77.3.21/24", "192.168.55.1/24"


@pytest.fixture
def netns() -> Iterator[str]:
    with veth_namespace("pbxann", {"wan0": WAN, "lan0": LAN}) as name:
        yield name


@pytest.fixture
def announcing_pbx(tmp_path, netns) -> Iterator[tuple[Pbx, str]]:
    from appliance.network import default_settings

    pbx = Pbx(tmp_path / "data")
    pbx.add_extension("2001")
    pbx.set_setting("network.settings", default_settings("wan0", "lan0").to_dict())
    pbx.start(netns=netns)
    try:
        yield pbx, netns
    finally:
        pbx.stop()


def heard_digits(path, candidates_extra=()) -> list[str]:
    from appliance.prompts import PromptLibrary
    from tests.prompt_audio import find_prompts

    candidates = [f"digit_{d}" for d in range(10)] + ["sym_dot", *candidates_extra]
    said = find_prompts(path, PromptLibrary(), "en", candidates)
    return [{"sym_dot": "."}.get(p, p.removeprefix("digit_")) for p in said if p not in candidates_extra]


@pytest.mark.parametrize("code,expected", [("**11", WAN.split("/")[0]), ("**12", LAN.split("/")[0]),
                                           ("**13", "2001")])
def test_announcement_speaks_the_live_value_digit_by_digit(announcing_pbx, phone_factory, tmp_path, code, expected):
    pbx, netns = announcing_pbx
    phone = phone_factory("installer", netns=netns)
    pbx.register(phone, "2001")
    call = phone.call(pbx.uri(code))
    call.wait_confirmed(10)
    heard = call.record(tmp_path / "announcement.wav")
    call.wait_disconnected(30)  # the box hangs up after speaking
    call.stop_recording()
    assert "".join(heard_digits(heard)) == expected


def test_the_wan_announcement_follows_an_address_change_without_restart(announcing_pbx, phone_factory, tmp_path):
    pbx, netns = announcing_pbx
    ip("netns", "exec", netns, "ip", "addr", "flush", "dev", "wan0")
    ip("netns", "exec", netns, "ip", "addr", "add", "172.16.9.4/16", "dev", "wan0")
    phone = phone_factory("installer", netns=netns)
    pbx.register(phone, "2001")
    call = phone.call(pbx.uri("**11"))
    call.wait_confirmed(10)
    heard = call.record(tmp_path / "changed.wav")
    call.wait_disconnected(30)
    call.stop_recording()
    assert "".join(heard_digits(heard)) == "172.16.9.4"
