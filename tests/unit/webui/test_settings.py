"""The extension user's settings: DND, email, voicemail, PIN, web password."""

from __future__ import annotations

from appliance.store import ExtensionStore
from tests.unit.webui.conftest import text


def test_the_settings_page_shows_the_current_values(alice):
    page = text(alice.get("/settings/"))
    assert 'value="alice@example.com"' in page and "factory PIN 1234" in page


def test_preferences_are_saved_and_pbxd_is_told(alice, db, pbx):
    response = alice.post("/settings/preferences", {"dnd": "1", "email": "new@example.com"})
    assert response.status_code == 302
    ext = ExtensionStore(db).get("1001")
    assert ext.dnd and not ext.voicemail_enabled and ext.email == "new@example.com"
    assert pbx.reloads == 1


def test_a_bad_email_is_reported_and_kept_and_nothing_is_saved(alice, db):
    response = alice.post("/settings/preferences", {"dnd": "1", "email": "alice at example"})
    assert response.status_code == 400
    page = text(response)
    assert 'id="email-error"' in page and 'value="alice at example"' in page
    assert not ExtensionStore(db).get("1001").dnd


def test_the_voicemail_pin_is_changed_when_both_entries_agree(alice, db):
    page = text(alice.post("/settings/pin", {"pin": "12", "pin_confirm": "12"}))
    assert 'id="pin-error"' in page and "4 to 8 digits" in page
    page = text(alice.post("/settings/pin", {"pin": "4321", "pin_confirm": "4322"}))
    assert 'id="pin_confirm-error"' in page
    assert alice.post("/settings/pin", {"pin": "4321", "pin_confirm": "4321"}).status_code == 302
    assert ExtensionStore(db).check_voicemail_pin("1001", "4321")


def test_the_web_password_needs_the_current_one(alice, db):
    page = text(alice.post("/settings/password", {"current": "wrong", "new": "brand-new-pw", "confirm": "brand-new-pw"}))
    assert 'id="current-error"' in page and "brand-new-pw" not in page
    page = text(alice.post("/settings/password", {"current": "alice-web-pw", "new": "short", "confirm": "short"}))
    assert 'id="new-error"' in page
    page = text(alice.post("/settings/password", {"current": "alice-web-pw", "new": "brand-new-pw", "confirm": "other-one"}))
    assert 'id="confirm-error"' in page
    response = alice.post("/settings/password", {"current": "alice-web-pw", "new": "brand-new-pw",
                                                 "confirm": "brand-new-pw"})
    assert response.status_code == 302
    assert ExtensionStore(db).check_web_password("1001", "brand-new-pw")
    assert alice.get("/settings/").status_code == 200  # this session survives its own password change


def test_guessing_the_current_password_is_locked_out_like_logins(alice):
    for _ in range(5):
        alice.post("/settings/password", {"current": "guess", "new": "brand-new-pw", "confirm": "brand-new-pw"})
    page = text(alice.post("/settings/password", {"current": "alice-web-pw", "new": "brand-new-pw",
                                                  "confirm": "brand-new-pw"}))
    assert "Too many wrong passwords" in page
