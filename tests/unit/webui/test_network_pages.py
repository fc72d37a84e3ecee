"""Admin Network page: saved settings and live ports, the form's checks next to each field, the change sent
to pbxd, and the countdown with keep / go back while pbxd holds it. pbxd is a fake with network commands."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from appliance.webui.pbx import PbxRefused
from tests.unit.webui.conftest import ADMIN_PASSWORD, BASE, FakePbx, text

SAVED = {"wan": {"device": "wan0", "mode": "static", "address": "10.0.0.2/24", "gateway": "10.0.0.1",
                 "dns": ["10.0.0.53"], "vlan": None, "routes": []},
         "lan": {"device": "lan0", "mode": "static", "address": "192.168.10.1/24", "gateway": None, "dns": [],
                 "vlan": None, "routes": []},
         "search": []}
LINKS = [{"name": "lan0", "role": "lan", "state": "no carrier", "up": True, "carrier": False, "mac": "02:00:00:00:00:02",
          "addresses": ["192.168.10.1/24"], "present": True},
         {"name": "wan0", "role": "wan", "state": "up", "up": True, "carrier": True, "mac": "02:00:00:00:00:01",
          "addresses": ["10.0.0.2/24"], "present": True}]
FORM = {"wan_device": "wan0", "wan_mode": "static", "wan_address": "10.0.0.9", "wan_netmask": "255.255.255.0",
        "wan_gateway": "10.0.0.1", "wan_dns": "10.0.0.53", "wan_vlan": "", "lan_enabled": "1",
        "lan_device": "lan0", "lan_mode": "static", "lan_address": "192.168.10.1", "lan_netmask": "24",
        "lan_gateway": "", "lan_dns": "", "lan_vlan": ""}


class NetworkPbx(FakePbx):
    """FakePbx plus pbxd's network commands, with a settable state."""

    def __init__(self) -> None:
        super().__init__()
        self.network: dict[str, Any] = {"phase": "idle", "saved": copy.deepcopy(SAVED), "applying": None,
                                        "pending": None, "last": None, "confirm_seconds": 120.0,
                                        "verify_seconds": 20.0, "links": copy.deepcopy(LINKS), "links_error": None}
        self.applied: list[dict[str, Any]] = []
        self.actions: list[str] = []

    def network_status(self) -> dict[str, Any]:
        self._check()
        return {"ok": True, **copy.deepcopy(self.network)}

    def network_apply(self, settings: dict[str, Any]) -> dict[str, Any]:
        self._check()
        if self.refuse:
            raise PbxRefused(self.refuse)
        self.applied.append(settings)
        self.network.update(phase="applying", applying=settings)
        return {"ok": True, "phase": "applying"}

    def network_confirm(self) -> dict[str, Any]:
        self._check()
        if self.refuse:
            raise PbxRefused(self.refuse)
        self.actions.append("confirm")
        return {"ok": True}

    def network_revert(self) -> dict[str, Any]:
        self._check()
        self.actions.append("revert")
        return {"ok": True}

    def make_pending(self, wan_address: str = "10.0.0.9/24", seconds_left: float = 87.3) -> dict[str, Any]:
        new = copy.deepcopy(SAVED)
        new["wan"]["address"] = wan_address
        self.network.update(phase="pending", pending={"settings": new, "previous": copy.deepcopy(SAVED),
                                                      "seconds_left": seconds_left, "confirm_seconds": 120.0,
                                                      "warnings": ["LAN (lan0): no carrier (cable unplugged?)"]})
        self.network["links"][1]["addresses"] = [wan_address]
        return new


@pytest.fixture
def pbx() -> NetworkPbx:
    return NetworkPbx()


def test_the_page_shows_the_saved_settings_and_the_live_ports(admin):
    page = text(admin.get("/admin/network"))
    saved = page.split('id="network-saved"', 1)[1].split("</dl>", 1)[0]
    assert "10.0.0.2" in saved and "255.255.255.0" in saved and "gateway" in saved and "10.0.0.53" in saved
    links = page.split('id="network-links"', 1)[1].split("</table>", 1)[0]
    assert 'data-device="wan0"' in links and ">up<" in links and "10.0.0.2/24" in links and ">no carrier<" in links
    assert 'id="form-network"' in page and 'value="10.0.0.2"' in page and 'value="255.255.255.0"' in page
    assert "<script>" not in page and "network.js" in page


def test_the_network_page_is_for_the_admin_only(alice, client, pbx):
    for url in ("/admin/network", "/api/network"):
        assert alice.get(url).status_code == 403
    for url in ("/admin/network", "/admin/network/confirm", "/admin/network/revert"):
        assert alice.post(url, FORM).status_code == 403
    assert client.get("/admin/network").status_code == 302
    assert client.get("/api/network").status_code == 401
    assert pbx.applied == [] and pbx.actions == []


def test_the_admin_navigation_has_a_network_entry(admin, alice):
    assert "<span>Network</span>" in text(admin.get("/admin/box"))
    assert "<span>Network</span>" not in text(alice.get("/dial/"))


def test_a_change_is_sent_to_pbxd_and_the_page_follows_it(admin, pbx):
    response = admin.post("/admin/network", FORM)
    assert response.status_code == 303 and response.headers["Location"].endswith("/admin/network")
    expected = copy.deepcopy(SAVED)
    expected["wan"]["address"] = "10.0.0.9/24"
    assert pbx.applied == [expected]
    page = text(admin.get("/admin/network"))
    assert "Applying the new settings" in page and 'id="form-network"' not in page
    assert "https://pbx.test/admin/network" not in page and "https://10.0.0.9/admin/network" in page


@pytest.mark.parametrize("field, value, message", [
    ("wan_address", "10.0.0.x", "is not an IPv4 address"),
    ("wan_address", "", "The address is empty"),
    ("wan_netmask", "255.0.255.0", "netmask 255.0.255.0 is not contiguous"),
    ("wan_netmask", "/31", "leaves no room for hosts"),
    ("wan_gateway", "10.9.0.1", "gateway 10.9.0.1 is outside the subnet 10.0.0.0/24"),
    ("wan_gateway", "10.0.0.9", "is the box&#39;s own address"),
    ("wan_address", "10.0.0.0", "is the network address of 10.0.0.0/24"),
    ("wan_address", "10.0.0.255", "is the broadcast address of 10.0.0.0/24"),
    ("wan_dns", "1.1.1.1, 8.8.8.8, 9.9.9.9, 8.8.4.4", "at most 3 DNS servers"),
    ("wan_dns", "dns.example", "is not an IPv4 address"),
    ("wan_vlan", "5000", "must be a number from 1 to 4094"),
    ("wan_device", "eth7", "no network device named eth7"),
    ("wan_mode", "pppoe", "Choose DHCP or static"),
    ("lan_address", "10.0.0.3", "WAN subnet 10.0.0.0/24 overlaps LAN subnet 10.0.0.0/24"),
    ("lan_device", "wan0", "WAN and LAN cannot both use wan0"),
])
def test_bad_input_is_reported_next_to_its_field_with_the_input_kept(admin, pbx, field, value, message):
    response = admin.post("/admin/network", {**FORM, field: value})
    page = text(response)
    assert response.status_code == 400
    error = page.split(f'id="{field}-error"', 1)[1].split("</p>", 1)[0]
    assert message.lower() in error.lower()
    if field not in ("wan_device", "lan_device", "wan_mode"):  # selects keep their choice; text fields the text
        assert f'value="{value}"' in page
    assert 'value="10.0.0.9"' in page or field == "wan_address"
    assert pbx.applied == []


def test_dhcp_ignores_the_address_fields_and_lan_can_be_switched_off(admin, pbx):
    form = {**FORM, "wan_mode": "dhcp", "wan_address": "left over", "wan_gateway": "x", "wan_vlan": "7"}
    del form["lan_enabled"]
    assert admin.post("/admin/network", form).status_code == 303
    (sent,) = pbx.applied
    assert sent["wan"] == {"device": "wan0", "mode": "dhcp", "address": None, "gateway": None, "dns": ["10.0.0.53"],
                           "vlan": 7, "routes": []}
    assert sent["lan"] is None


def test_unchanged_settings_are_not_applied(admin, pbx):
    response = admin.post("/admin/network", {**FORM, "wan_address": "10.0.0.2"})
    assert response.status_code == 303 and pbx.applied == []
    assert "nothing was applied" in text(admin.get("/admin/network"))


def test_pbxd_down_is_said_plainly_and_nothing_can_be_changed(admin, pbx, db):
    pbx.running = False
    page = text(admin.get("/admin/network"))
    assert 'id="network-daemon-down"' in page and "pbxd" in page and "installer console" in page
    assert 'id="form-network"' not in page
    assert "192.168.10.1" in page  # the stored (factory default) settings are still shown
    response = admin.post("/admin/network", FORM)
    assert response.status_code == 503 and "Nothing was changed" in text(response)


def test_a_refusal_by_pbxd_is_shown_with_the_input_kept(admin, pbx):
    pbx.refuse = "a network change waits to be kept or undone; decide on it first"
    response = admin.post("/admin/network", FORM)
    assert response.status_code == 409
    assert "decide on it first" in text(response) and 'value="10.0.0.9"' in text(response)


def test_a_pending_change_shows_the_countdown_the_buttons_and_the_new_address(admin, pbx):
    pbx.make_pending()
    page = text(admin.get("/admin/network"))
    assert 'data-network-phase="pending"' in page and "<span data-countdown>88</span> s" in page
    assert "returns to the previous settings" in page
    assert "Keep these settings" in page and "Go back now" in page
    assert 'href="https://10.0.0.9/admin/network"' in page
    assert "no carrier (cable unplugged?)" in page
    assert 'id="form-network"' not in page
    assert "This browser reaches the box at" not in page  # it came through the name pbx.test


def test_the_page_warns_when_the_change_removes_the_address_this_browser_uses(app, pbx):
    pbx.make_pending()
    browser, base = app.test_client(), "https://10.0.0.2:8443"
    login = browser.get("/login", base_url=base).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', login).group(1)
    browser.post("/login", base_url=base, data={"account": "admin", "password": ADMIN_PASSWORD, "csrf_token": token})
    page = browser.get("/admin/network", base_url=base).get_data(as_text=True)
    assert "This browser reaches the box at <span class=\"mono\">10.0.0.2</span>" in page
    assert 'href="https://10.0.0.9:8443/admin/network"' in page


def test_keep_and_go_back_are_sent_to_pbxd(admin, pbx):
    pbx.make_pending()
    assert admin.post("/admin/network/confirm").status_code == 303
    assert admin.post("/admin/network/revert").status_code == 303
    assert pbx.actions == ["confirm", "revert"]


def test_keeping_too_late_says_why(admin, pbx):
    pbx.make_pending(seconds_left=0)
    pbx.refuse = "too late: the time to confirm ran out and the previous settings are being restored"
    admin.post("/admin/network/confirm")
    assert "The settings were not kept: too late" in text(admin.get("/admin/network"))


def test_how_the_last_change_ended_is_shown(admin, pbx):
    pbx.network["last"] = {"outcome": "rolled_back", "message": "The new settings did not work; the previous "
                           "settings are back.", "problems": ["WAN (wan0): gateway 10.0.0.99 does not answer ARP or ping"],
                           "warnings": [], "seconds_ago": 4.0}
    page = text(admin.get("/admin/network"))
    assert 'class="banner banner-error"' in page and "gateway 10.0.0.99 does not answer" in page
    pbx.network["last"]["seconds_ago"] = 3600
    assert "gateway 10.0.0.99" not in text(admin.get("/admin/network"))


def test_the_state_the_page_polls(admin, pbx):
    assert admin.get("/api/network").get_json() == {"ok": True, "daemon": True, "phase": "idle",
                                                    "seconds_left": None}
    pbx.make_pending(seconds_left=42.5)
    assert admin.get("/api/network").get_json()["seconds_left"] == 42.5
    pbx.running = False
    reply = admin.get("/api/network").get_json()
    assert reply["daemon"] is False and "not running" in reply["message"]


def test_the_form_offers_the_live_devices_and_names_a_missing_one(admin, pbx):
    pbx.network["saved"]["lan"]["device"] = "eth1"
    page = text(admin.get("/admin/network"))
    lan = page.split('id="f-lan_device"', 1)[1].split("</select>", 1)[0]
    assert '<option value="eth1" selected>eth1 (not found)</option>' in lan
    assert '<option value="wan0">wan0 (up, 10.0.0.2/24)</option>' in lan
    assert BASE  # the default client talks to https://pbx.test


# -- extra static routes ----------------------------------------------------------------------------------


def test_routes_typed_one_per_line_are_sent_with_the_settings(admin, pbx):
    routes = "10.20.0.0/16 via 10.0.0.254\n\n# the branch office\n172.16.0.0/255.240.0.0 10.0.0.253\n"
    assert admin.post("/admin/network", {**FORM, "wan_routes": routes}).status_code == 303
    (sent,) = pbx.applied
    assert sent["wan"]["routes"] == [{"destination": "10.20.0.0/16", "gateway": "10.0.0.254"},
                                     {"destination": "172.16.0.0/12", "gateway": "10.0.0.253"}]
    assert sent["lan"]["routes"] == []


def test_saved_routes_fill_the_textarea_and_the_summary(admin, pbx):
    pbx.network["saved"]["lan"]["routes"] = [{"destination": "10.30.0.0/16", "gateway": "192.168.10.254"}]
    pbx.network["links"][0]["routes"] = ["10.30.0.0/16 via 192.168.10.254"]
    page = text(admin.get("/admin/network"))
    textarea = page.split('id="f-lan_routes"', 1)[1].split("</textarea>", 1)[0]
    assert textarea.endswith(">10.30.0.0/16 via 192.168.10.254")
    saved = page.split('id="network-saved"', 1)[1].split("</dl>", 1)[0]
    assert "routes <span class=\"mono\">10.30.0.0/16 via 192.168.10.254</span>" in saved
    links = page.split('id="network-links"', 1)[1].split("</table>", 1)[0]
    assert "routes 10.30.0.0/16 via 192.168.10.254" in links


def test_each_bad_route_line_gets_its_own_message_and_the_input_is_kept(admin, pbx):
    routes = "\n".join([
        "10.20.0.0/16 via 10.0.0.254",       # 1 fine
        "10.30.0.5/16 via 10.0.0.254",       # 2 host bits
        "10.40.0.0/16 via 10.9.9.9",         # 3 gateway outside the WAN subnet
        "0.0.0.0/0 via 10.0.0.1",            # 4 the default route
        "10.20.0.0/16 via 10.0.0.253",       # 5 same destination as line 1
        "somewhere via 10.0.0.254",          # 6 not an address
    ])
    response = admin.post("/admin/network", {**FORM, "wan_routes": routes})
    page = text(response)
    assert response.status_code == 400 and pbx.applied == []
    errors = page.split('id="wan_routes-error"', 1)[1].split("</ul>", 1)[0]
    items = re.findall(r"<li>(.*?)</li>", errors)
    assert [item.split(":", 1)[0] for item in items] == ["Line 2", "Line 3", "Line 4", "Line 5", "Line 6"]
    assert items[0] == "Line 2: Destination 10.30.0.5/16 has host bits set: the network is 10.30.0.0/16."
    assert "gateway 10.9.9.9 is outside the subnet 10.0.0.0/24" in items[1]
    assert "is the default route" in items[2]
    assert items[3] == "Line 5: The route to 10.20.0.0/16 is already on line 1."
    assert "Destination &#39;somewhere&#39; is not an IPv4 address" in items[4]
    assert "10.40.0.0/16 via 10.9.9.9\n0.0.0.0/0 via 10.0.0.1" in page  # the textarea keeps what was typed


def test_a_destination_routed_through_both_ports_is_refused_on_the_lan_routes(admin, pbx):
    form = {**FORM, "wan_routes": "10.20.0.0/16 via 10.0.0.254", "lan_routes": "10.20.0.0/16 via 192.168.10.254"}
    response = admin.post("/admin/network", form)
    assert response.status_code == 400 and pbx.applied == []
    error = text(response).split('id="lan_routes-error"', 1)[1].split("</ul>", 1)[0]
    assert "The route to 10.20.0.0/16 is on both WAN and LAN" in error


def test_routes_of_a_dhcp_port_are_sent_for_the_lease_to_check(admin, pbx):
    form = {**FORM, "wan_mode": "dhcp", "wan_routes": "10.20.0.0/16 via 172.30.0.1"}
    assert admin.post("/admin/network", form).status_code == 303
    assert pbx.applied[0]["wan"]["routes"] == [{"destination": "10.20.0.0/16", "gateway": "172.30.0.1"}]
