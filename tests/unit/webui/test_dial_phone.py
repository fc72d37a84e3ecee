"""The browser phone on the dial page: its credentials endpoint, its CSP, and what the page says without JsSIP."""

from __future__ import annotations

from typing import Any

import pytest

from appliance.webui.pbx import PbxRefused
from appliance.webui.views import dial
from tests.unit.webui.conftest import text


@pytest.fixture
def webphone(pbx: Any) -> list[str]:
    """The fake pbxd hands out tokens like pbxd's `webphone` command; returns who asked."""
    asked: list[str] = []

    def issue(extension: str) -> dict[str, Any]:
        pbx._check()
        if pbx.refuse:
            raise PbxRefused(pbx.refuse)
        asked.append(extension)
        return {"token": f"{extension}.999.sig", "expires_in": 300, "realm": "pbx.test", "ws_port": None,
                "wss_port": 8089, "media": True}

    pbx.webphone = issue
    return asked


def test_the_phone_gets_a_token_for_the_users_own_extension_never_the_sip_secret(alice, webphone):
    response = alice.post("/dial/phone", csrf=False, headers={"X-CSRF-Token": alice.csrf_token()})
    data = response.get_json()
    assert response.status_code == 200 and webphone == ["1001"]
    assert data == {"ok": True, "extension": "1001", "name": "Alice", "uri": "sip:1001@pbx.test",
                    "url": "wss://pbx.test:8089/", "token": "1001.999.sig", "expires_in": 300, "media": True}
    assert "alice-sip-secret" not in text(response)


def test_the_phone_endpoint_needs_the_csrf_token_and_a_login(client, alice, webphone):
    assert alice.post("/dial/phone", csrf=False).status_code == 400
    assert client.post("/dial/phone").status_code in (302, 401)
    assert webphone == []


def test_the_administrator_has_no_browser_phone(admin, webphone):
    assert admin.post("/dial/phone").status_code == 403 and webphone == []


@pytest.mark.parametrize("problem, message", [
    ("down", "not running"),
    ("refused", "no enabled extension"),
    ("no-wss", "switched off"),
])
def test_the_phone_endpoint_explains_why_it_cannot_connect(alice, pbx, webphone, problem, message):
    if problem == "down":
        pbx.running = False
    elif problem == "refused":
        pbx.refuse = "no enabled extension '1001'"
    else:
        pbx.webphone = lambda extension: {"token": "t", "realm": "pbx.test", "wss_port": None}
    response = alice.post("/dial/phone")
    assert response.status_code == 503 and message in response.get_json()["error"]


def test_the_dial_page_loads_the_phone_and_lets_it_reach_pbxd_on_this_host_only(alice, monkeypatch, tmp_path):
    bundle = tmp_path / "jssip.min.js"
    bundle.write_text("window.JsSIP = {};")
    monkeypatch.setattr(dial, "JSSIP_BUNDLE", bundle)
    response = alice.get("/dial/")
    page = text(response)
    assert "vendor/jssip.min.js" in page and "phone.js" in page and 'data-credentials-url="/dial/phone"' in page
    assert 'id="call-from-browser"' in page
    csp = response.headers["Content-Security-Policy"]
    assert "connect-src 'self' wss://pbx.test:*;" in csp and "script-src 'self';" in csp


def test_without_jssip_the_dial_page_says_the_browser_phone_is_not_installed(alice, monkeypatch, tmp_path):
    monkeypatch.setattr(dial, "JSSIP_BUNDLE", tmp_path / "missing.js")
    page = text(alice.get("/dial/"))
    assert "browser phone is not installed" in page and "make webassets" in page
    assert "phone.js" not in page and "Call from my phone" in page


def test_a_forged_host_header_does_not_reach_the_policy(alice):
    response = alice.get("/dial/", headers={"Host": "evil.example:1; script-src *"})
    assert "script-src *" not in response.headers["Content-Security-Policy"]
