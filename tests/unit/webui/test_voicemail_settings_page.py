"""The administrator's Voicemail settings page: box prompt language, trusting the owner's own phone, e-mail
action links and the portal address they use; checked before saving, pbxd asked to reload after."""

from __future__ import annotations

import html
import re

import pytest

from appliance.store import SettingsStore
from appliance.voicemail import box_settings, links
from appliance.voicemail.box_settings import BoxVoicemailSettings
from tests.unit.webui.conftest import text

GOOD = {"language": "ru", "trust_own_device": "1", "email_links": "", "public_url": "https://pbx.example.com/"}


@pytest.fixture(autouse=True)
def no_guessing(monkeypatch):
    monkeypatch.setattr(links, "guess_public_url", lambda: "https://10.0.0.5")


def field_error(page: str, name: str) -> str:
    match = re.search(rf'id="{re.escape(name)}-error"[^>]*>([^<]*)<', page)
    assert match, f"no error shown next to {name}"
    return html.unescape(match.group(1))


def test_the_administrator_finds_the_page_in_the_navigation(admin):
    page = text(admin.get("/admin/mailboxes/"))
    assert 'href="/admin/voicemail/"' in page and "Voicemail settings" in page


def test_extension_users_neither_see_nor_open_it(alice):
    assert "Voicemail settings" not in text(alice.get("/voicemail/"))
    assert alice.get("/admin/voicemail/").status_code == 403
    assert alice.post("/admin/voicemail/", GOOD).status_code == 403


def test_the_page_shows_the_settings_in_force(admin, db):
    page = text(admin.get("/admin/voicemail/"))
    assert '<option value="en" selected>English</option>' in page
    assert re.search(r'name="trust_own_device" value="1">', page)  # not checked
    assert re.search(r'name="email_links" value="1" checked>', page)
    assert "Leave empty to use https://10.0.0.5." in page and "Links now point to" in page


def test_saving_stores_the_settings_and_asks_pbxd_to_reload(admin, db, pbx):
    response = admin.post("/admin/voicemail/", GOOD)
    assert response.status_code == 302
    settings = SettingsStore(db)
    assert box_settings.load(settings) == BoxVoicemailSettings("ru", True, False)
    assert settings.get("web.public_url") == "https://pbx.example.com" and pbx.reloads == 1
    page = text(admin.get("/admin/voicemail/"))
    assert "The next call uses them" in page and '<option value="ru" selected>' in page
    assert 'value="https://pbx.example.com"' in page and "E-mails go without links." in page


def test_an_empty_address_goes_back_to_the_guess(admin, db):
    SettingsStore(db).set("web.public_url", "https://old.example.com")
    admin.post("/admin/voicemail/", {**GOOD, "email_links": "1", "public_url": ""})
    assert SettingsStore(db).get("web.public_url") is None
    assert "Links now point to <span class=\"mono\">https://10.0.0.5/vm/" in text(admin.get("/admin/voicemail/"))


@pytest.mark.parametrize("changes, field, message", [
    ({"language": "de"}, "language", "Must be one of en, zh, ru"),
    ({"language": ""}, "language", "Must be one of en, zh, ru"),
    ({"public_url": "pbx.example.com"}, "public_url", "Must start with https://"),
    ({"public_url": "https://pbx.example.com/?x=1"}, "public_url", "Must be only the portal's address"),
])
def test_bad_values_are_reported_kept_and_nothing_is_saved(admin, db, pbx, changes, field, message):
    response = admin.post("/admin/voicemail/", {**GOOD, **changes})
    page = text(response)
    assert response.status_code == 400 and field_error(page, field).startswith(message)
    if field == "public_url":
        assert f'value="{changes["public_url"]}"' in html.unescape(page)
    assert SettingsStore(db).get("prompts.language") is None and pbx.reloads == 0


def test_saving_works_while_pbxd_is_down(admin, db, pbx):
    pbx.running = False
    assert admin.post("/admin/voicemail/", GOOD).status_code == 302
    assert SettingsStore(db).get("prompts.language") == "ru"
