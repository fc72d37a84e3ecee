"""Network changes through pbxd, as the web admin makes them: applied for real inside a network namespace,
rolled back when nobody confirms within the grace, kept and saved when confirmed.

pbxd runs inside a namespace this test creates, with veth devices wan0 and lan0; its network files
(run directory, resolv.conf) are moved into the test's temporary directory through the environment.
The commands go through the control socket, and one test drives the Flask app at the same data dir.
"""

from __future__ import annotations

import json
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from appliance.network import InterfaceConfig, NetworkSettings, default_settings
from appliance.store import SettingsStore, open_database
from tests.integration.conftest import Pbx
from tests.integration.netns import ip, veth_namespace

pytestmark = pytest.mark.integration

GRACE = 3  # network.confirm_seconds for these tests
OLD_WAN, NEW_WAN = "10.78.0.2/24", "10.78.0.9/24"


@pytest.fixture
def netns() -> Iterator[str]:
    with veth_namespace("pbxweb", {"wan0": None, "lan0": None}) as name:
        yield name


def addresses(netns: str, dev: str) -> list[str]:
    data = json.loads(ip("-n", netns, "-j", "-4", "addr", "show", "dev", dev).stdout or "[]")
    return [f"{a['local']}/{a['prefixlen']}" for entry in data for a in entry.get("addr_info", [])]


def saved_settings(pbx: Pbx) -> NetworkSettings:
    db = open_database(pbx.data / "pbx.sqlite3")
    try:
        return NetworkSettings.from_dict(SettingsStore(db).get("network.settings"))
    finally:
        db.conn.close()


def start_settings() -> NetworkSettings:
    wan = InterfaceConfig.from_dict("wan", {"device": "wan0", "mode": "static", "address": OLD_WAN})
    return default_settings("wan0", "lan0").with_interface(wan)


def changed_settings() -> dict[str, Any]:
    return start_settings().with_interface(
        InterfaceConfig.from_dict("wan", {"device": "wan0", "mode": "static", "address": NEW_WAN})).to_dict()


@pytest.fixture
def box(tmp_path: Path, netns: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Pbx, str]]:
    """pbxd in the namespace with the saved settings applied, as at boot."""
    monkeypatch.setenv("APPLIANCE_NET_RUN_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("APPLIANCE_RESOLV_CONF", str(tmp_path / "resolv.conf"))
    pbx = Pbx(tmp_path / "data")
    pbx.set_setting("network.settings", start_settings().to_dict())
    pbx.set_setting("network.confirm_seconds", GRACE)
    # what boot configured (not `appliance network apply`: it would write the host's /etc/resolv.conf)
    for dev, address in (("wan0", OLD_WAN), ("lan0", "192.168.10.1/24")):
        ip("-n", netns, "addr", "add", address, "dev", dev)
        ip("-n", netns, "link", "set", dev, "up")
    pbx.start(netns=netns)
    try:
        yield pbx, netns
    finally:
        pbx.stop()


def wait_phase(pbx: Pbx, phase: str, timeout: float = 15.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        status = pbx.control("network_status")
        assert status["ok"], status
        if status["phase"] == phase or time.monotonic() > deadline:
            assert status["phase"] == phase, status
            return status
        time.sleep(0.1)


def apply_change(pbx: Pbx) -> dict[str, Any]:
    reply = pbx.control("network_apply", settings=changed_settings())
    assert reply["ok"] and reply["phase"] == "applying", reply
    return wait_phase(pbx, "pending")


def test_an_unconfirmed_change_is_rolled_back_after_the_grace(box):
    pbx, netns = box
    status = apply_change(pbx)
    assert addresses(netns, "wan0") == [NEW_WAN]
    assert 0 < status["pending"]["seconds_left"] <= GRACE
    assert any(link["name"] == "wan0" and NEW_WAN in link["addresses"] for link in status["links"])
    started = time.monotonic()
    status = wait_phase(pbx, "idle", timeout=GRACE + 10)
    assert time.monotonic() - started >= GRACE - 1.0
    assert status["last"]["outcome"] == "expired"
    assert addresses(netns, "wan0") == [OLD_WAN]
    assert saved_settings(pbx) == start_settings()


def test_a_confirmed_change_stays_and_is_saved(box):
    pbx, netns = box
    apply_change(pbx)
    reply = pbx.control("network_confirm")
    assert reply["ok"] and reply["saved"] == changed_settings(), reply
    time.sleep(GRACE + 1)
    status = pbx.control("network_status")
    assert status["phase"] == "idle" and status["last"]["outcome"] == "kept"
    assert addresses(netns, "wan0") == [NEW_WAN]
    assert saved_settings(pbx).to_dict() == changed_settings()


def test_going_back_at_once_restores_the_previous_address(box):
    pbx, netns = box
    apply_change(pbx)
    assert pbx.control("network_revert")["phase"] == "reverting"
    assert wait_phase(pbx, "idle")["last"]["outcome"] == "reverted"
    assert addresses(netns, "wan0") == [OLD_WAN]


def test_bad_settings_are_refused_with_a_reason_and_nothing_changes(box):
    pbx, netns = box
    bad = start_settings().to_dict()
    bad["wan"]["address"] = "10.78.0.0/24"
    reply = pbx.control("network_apply", settings=bad)
    assert reply == {"ok": False, "error": "invalid network settings: address 10.78.0.0 is the network address "
                                           "of 10.78.0.0/24: pick a host address"}
    assert pbx.control("network_status")["phase"] == "idle"
    assert addresses(netns, "wan0") == [OLD_WAN]


def test_a_second_change_is_refused_while_one_is_pending(box):
    pbx, _ = box
    apply_change(pbx)
    reply = pbx.control("network_apply", settings=start_settings().to_dict())
    assert not reply["ok"] and "waits to be kept or undone" in reply["error"]


def test_pbxd_killed_while_a_change_is_pending_puts_the_previous_settings_back_when_it_starts(box):
    pbx, netns = box
    apply_change(pbx)
    pbx.stop(signal.SIGKILL)
    assert addresses(netns, "wan0") == [NEW_WAN]  # nobody undid it yet
    pbx.start(netns=netns)
    status = wait_phase(pbx, "idle")
    assert status["last"]["outcome"] == "recovered"
    assert addresses(netns, "wan0") == [OLD_WAN]


def test_pbxd_stopping_undoes_a_pending_change(box):
    pbx, netns = box
    apply_change(pbx)
    assert pbx.stop() == 0
    assert addresses(netns, "wan0") == [OLD_WAN]
    assert saved_settings(pbx) == start_settings()


def test_the_web_page_applies_shows_the_countdown_and_keeps(box):
    from appliance.passwords import hash_password
    from appliance.webui import create_app

    pbx, netns = box
    pbx.set_setting("web.admin_password_hash", hash_password("admin-secret-1", log2_n=8))
    app = create_app({"DATA_DIR": str(pbx.data), "TESTING": True, "PBX_TIMEOUT": 10.0})
    web = app.test_client()
    base = "https://10.78.0.2"
    page = web.get("/login", base_url=base).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    login = web.post("/login", base_url=base, data={"account": "admin", "password": "admin-secret-1",
                                                    "csrf_token": token})
    assert login.status_code == 302
    page = web.get("/admin/network", base_url=base).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # a new one after login
    assert 'data-device="wan0"' in page and "10.78.0.2/24" in page
    form = {"csrf_token": token, "wan_device": "wan0", "wan_mode": "static", "wan_address": "10.78.0.9",
            "wan_netmask": "255.255.255.0", "wan_gateway": "", "wan_dns": "", "wan_vlan": "", "lan_enabled": "1",
            "lan_device": "lan0", "lan_mode": "static", "lan_address": "192.168.10.1", "lan_netmask": "24",
            "lan_gateway": "", "lan_dns": "", "lan_vlan": ""}
    response = web.post("/admin/network", base_url=base, data=form)
    assert response.status_code == 303, response.get_data(as_text=True)
    wait_phase(pbx, "pending")
    page = web.get("/admin/network", base_url=base).get_data(as_text=True)
    assert "Keep these settings" in page and "Go back now" in page
    assert "https://10.78.0.9/admin/network" in page  # the new address to continue from
    assert addresses(netns, "wan0") == [NEW_WAN]
    kept = web.post("/admin/network/confirm", base_url=base, data={"csrf_token": token})
    assert kept.status_code == 303
    assert saved_settings(pbx).wan.address is not None and str(saved_settings(pbx).wan.address) == NEW_WAN
    assert "kept and saved" in web.get("/admin/network", base_url=base).get_data(as_text=True)
