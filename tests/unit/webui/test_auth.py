"""Logging in and out, lockout per account and per address, idle timeout, sessions that end on changes."""

from __future__ import annotations

import logging

import pytest

from appliance.store import ExtensionStore, SettingsStore
from appliance.webui.views import auth
from tests.unit.webui.conftest import Client, text


def test_the_login_page_has_a_csrf_token_and_no_navigation(client):
    page = client.get("/login")
    assert page.status_code == 200
    assert 'name="csrf_token"' in text(page) and "Administration" not in text(page)


def test_anonymous_visitors_are_sent_to_the_login_page(client):
    for url in ("/", "/dial/", "/contacts/", "/calls/", "/settings/", "/admin/extensions/", "/extensions"):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"], url


def test_the_status_api_answers_401_instead_of_redirecting(client):
    response = client.get("/api/status")
    assert response.status_code == 401 and response.get_json()["ok"] is False


def test_admin_logs_in_and_lands_on_the_extensions_page(client):
    response = client.login("admin")
    assert response.status_code == 302 and response.headers["Location"].endswith("/admin/extensions/")
    page = client.get("/admin/extensions/")
    assert page.status_code == 200 and "Alice" in text(page)


def test_admin_account_name_is_case_insensitive(client):
    assert client.login("Admin").status_code == 302


def test_extension_logs_in_with_number_and_web_password(client):
    response = client.login("1001")
    assert response.headers["Location"].endswith("/dial/")
    assert client.session()["account"] == "1001"


def test_wrong_password_is_refused_with_a_message_next_to_the_field(client):
    response = client.login("1001", "wrong-password")
    assert response.status_code == 401
    assert "Wrong extension number or password." in text(response)
    assert 'value="1001"' in text(response)  # the typed number is kept, the password is not
    assert "wrong-password" not in text(response)


def test_empty_fields_are_reported_per_field(client):
    response = client.post("/login", {"account": "", "password": ""})
    assert response.status_code == 400
    assert "Enter your extension number" in text(response) and "Enter your password." in text(response)


def test_with_the_portal_switched_off_extensions_cannot_log_in(client, db):
    SettingsStore(db).set("portal.enabled", False)
    response = client.login("1001")
    assert response.status_code == 401 and "portal is switched off" in text(response)
    assert client.login("admin").status_code == 302


def test_an_extension_without_web_password_or_disabled_cannot_log_in(client, db):
    extensions = ExtensionStore(db)
    extensions.add("1003", "Carol", "carol-sip-secret")
    assert client.login("1003", "anything-at-all").status_code == 401
    extensions.update("1001", enabled=False)
    assert client.login("1001").status_code == 401


def test_unknown_accounts_cost_a_password_check_too(client, monkeypatch):
    checked = []
    real = auth.verify_password
    monkeypatch.setattr(auth, "verify_password", lambda pw, h: checked.append(h) or real(pw, h))
    client.login("4711", "whatever-password")
    client.login("1001", "wrong-password")
    assert len(checked) == 2  # the unknown account was verified against a dummy hash


def test_five_failures_lock_the_account_even_with_the_right_password(app, client, caplog):
    caplog.set_level(logging.WARNING, "appliance.webui")
    for _ in range(5):
        assert client.login("1001", "wrong-password").status_code == 401
    other_address = Client(app, address="198.51.100.7")
    response = other_address.login("1001")
    assert response.status_code == 401 and "Too many failed logins" in text(response)
    assert any("locked" in record.getMessage() for record in caplog.records)
    assert other_address.login("1002").status_code == 302  # other accounts are not affected


def test_five_failures_from_one_address_lock_that_address_for_all_accounts(app, client):
    for account in ("1001", "1002", "1003", "admin", "4711"):
        client.login(account, "wrong-password")
    assert "Too many failed logins" in text(client.login("1002"))
    assert Client(app, address="198.51.100.8").login("1002").status_code == 302


def test_the_lockout_ends_after_the_window(client, clock):
    for _ in range(5):
        client.login("1001", "wrong-password")
    clock.advance(14 * 60)
    assert client.login("1001").status_code == 401
    clock.advance(61)
    assert client.login("1001").status_code == 302


def test_lockout_limits_come_from_the_settings(client, db):
    SettingsStore(db).set_many({"web.lockout_failures": 2, "web.lockout_window_minutes": 1})
    client.login("1001", "wrong-password")
    client.login("1001", "wrong-password")
    assert "Try again in 1 minute." in text(client.login("1001"))


def test_a_successful_login_clears_the_accounts_failures(client):
    for _ in range(4):
        client.login("1001", "wrong-password")
    assert client.login("1001").status_code == 302
    fresh = Client(client.app, address="203.0.113.5")
    for _ in range(4):
        fresh.login("1001", "wrong-password")
    assert fresh.login("1001").status_code == 302


def test_next_parameter_only_redirects_within_the_site(client):
    token = client.csrf_token()
    data = {"account": "1001", "password": "alice-web-pw", "csrf_token": token}
    response = client.flask.post("/login?next=//evil.example/x", data=data, base_url="https://pbx.test")
    assert response.headers["Location"].endswith("/dial/")
    client.post("/logout")
    data["csrf_token"] = client.csrf_token()
    response = client.flask.post("/login?next=/calls/%3Fpage%3D2", data=data, base_url="https://pbx.test")
    assert response.headers["Location"].endswith("/calls/?page=2")


def test_logout_needs_a_post_with_csrf(alice):
    assert alice.get("/logout").status_code == 405
    assert alice.post("/logout", csrf=False).status_code == 400
    response = alice.post("/logout")
    assert response.status_code == 302 and alice.get("/dial/").status_code == 302


def test_session_cookie_is_secure_httponly_and_samesite_lax(client):
    response = client.login("1001")
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_an_idle_session_expires(alice, clock):
    clock.advance(29 * 60)
    assert alice.get("/dial/").status_code == 200  # activity restarts the idle clock
    clock.advance(29 * 60)
    assert alice.get("/dial/").status_code == 200
    clock.advance(30 * 60 + 1)
    response = alice.get("/dial/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert "Your session expired" in text(alice.get("/login"))


def test_the_status_poll_does_not_keep_a_session_alive(alice, clock):
    for _ in range(10):
        clock.advance(5 * 60)
        response = alice.get("/api/status")
    assert response.status_code == 401


def test_the_idle_timeout_is_a_setting(alice, clock, db):
    SettingsStore(db).set("web.session_idle_minutes", 5)
    clock.advance(5 * 60 + 1)
    assert alice.get("/dial/").status_code == 302


def test_changing_a_password_elsewhere_ends_other_sessions(alice, db):
    ExtensionStore(db).set_web_password("1001", "a-new-password")
    assert alice.get("/dial/").status_code == 302


def test_switching_the_portal_off_ends_extension_sessions(alice, admin, db):
    SettingsStore(db).set("portal.enabled", False)
    assert alice.get("/dial/").status_code == 302
    assert admin.get("/admin/extensions/").status_code == 200


def test_an_admin_password_reset_from_the_console_ends_admin_sessions(admin, db):
    from appliance.passwords import hash_password

    SettingsStore(db).set("web.admin_password_hash", hash_password("console-reset", log2_n=8))
    assert admin.get("/admin/extensions/").status_code == 302


@pytest.mark.parametrize("field, value", [("account", "1" * 40), ("password", "x" * 200)])
def test_overlong_login_fields_are_refused_before_any_check(client, field, value):
    data = {"account": "1001", "password": "pw", field: value}
    assert client.post("/login", data).status_code in (400, 401)
