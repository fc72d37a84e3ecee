"""The call-recording settings on the administrator's box page: the free-space cap and the announcement of
automatically recorded calls; checked with the message next to the field, saved, pbxd asked to reload."""

from __future__ import annotations

import html
import re

import pytest

from appliance.recording import settings as recording_settings
from appliance.recording.settings import RecordingSettings
from appliance.store import SettingsStore
from tests.unit.webui.conftest import text


def field_error(page: str, name: str) -> str:
    match = re.search(rf'id="{re.escape(name)}-error"[^>]*>([^<]*)<', page)
    assert match, f"no error shown next to {name}"
    return html.unescape(match.group(1))


def recording_card(page: str) -> str:
    return page.split('id="form-recording"', 1)[1].split("</form>", 1)[0]


def test_the_box_page_shows_the_settings_in_force(admin, db):
    card = recording_card(text(admin.get("/admin/box")))
    assert 'name="min_free_mb"' in card and 'value="200"' in card
    assert re.search(r'name="announce" value="1">', card)  # not checked: off by default
    recording_settings.save(SettingsStore(db), RecordingSettings(750, True))
    card = recording_card(text(admin.get("/admin/box")))
    assert 'value="750"' in card and re.search(r'name="announce" value="1" checked>', card)


def test_saving_stores_both_and_asks_pbxd_to_reload(admin, db, pbx):
    response = admin.post("/admin/box/recording", {"min_free_mb": " 1024 ", "announce": "1"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/admin/box")
    assert recording_settings.load(SettingsStore(db)) == RecordingSettings(1024, True)
    assert pbx.reloads == 1
    assert "Recording settings saved" in text(admin.get("/admin/box"))


def test_an_unticked_box_switches_the_announcement_off(admin, db):
    recording_settings.save(SettingsStore(db), RecordingSettings(200, True))
    assert admin.post("/admin/box/recording", {"min_free_mb": "0"}).status_code == 302
    assert recording_settings.load(SettingsStore(db)) == RecordingSettings(0, False)


@pytest.mark.parametrize("value", ["", "-1", "1.5", "lots", "²", str(recording_settings.MAX_MIN_FREE_MB + 1)])
def test_a_bad_cap_is_shown_next_to_its_field_with_what_was_typed_and_nothing_is_saved(admin, db, pbx, value):
    response = admin.post("/admin/box/recording", {"min_free_mb": value, "announce": "1"})
    page = text(response)
    assert response.status_code == 400
    assert "whole number of MiB from 0 to 1048576" in field_error(page, "min_free_mb")
    card = recording_card(page)
    assert f'value="{html.escape(value)}"' in card and 'aria-invalid="true"' in card
    assert re.search(r'name="announce" value="1" checked>', card)  # the tick is kept too
    assert SettingsStore(db).get("recording.min_free_mb") is None and pbx.reloads == 0


def test_the_certificate_form_on_the_same_page_keeps_working(admin):
    page = text(admin.post("/admin/box/certificate", {}))
    assert 'id="cert-error"' in page and 'id="min_free_mb-error"' not in page
    assert 'value="200"' in recording_card(page)


def test_a_cap_set_outside_the_page_is_shown_as_stored(admin, db):
    SettingsStore(db).set("recording.min_free_mb", 1 << 40)
    assert f'value="{1 << 40}"' in recording_card(text(admin.get("/admin/box")))


def test_extension_users_can_neither_see_nor_change_it(alice, db):
    assert alice.get("/admin/box").status_code == 403
    assert alice.post("/admin/box/recording", {"min_free_mb": "0", "announce": "1"}).status_code == 403
    assert SettingsStore(db).get("recording.announce") is None


def test_a_post_without_the_csrf_token_changes_nothing(admin, db):
    response = admin.post("/admin/box/recording", {"min_free_mb": "0", "announce": "1"}, csrf=False)
    assert response.status_code == 400 and SettingsStore(db).get("recording.announce") is None
