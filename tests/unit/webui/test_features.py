"""The feature-code page shows the code set pbxd uses: profile and per-code overrides from the settings."""

from __future__ import annotations

from appliance.store import SettingsStore
from tests.unit.webui.conftest import text


def test_the_default_coovox_codes_are_listed_for_users_and_admin(alice, admin):
    page = text(alice.get("/features/"))
    assert "CooVox" in page and "*74" in page and "Do not disturb: on" in page and "*71" in page
    assert "Blind transfer during a call" in page
    assert "*74" in text(admin.get("/features/"))
    assert "Feature codes" in text(alice.get("/dial/"))  # in the navigation


def test_profile_and_overrides_from_the_settings(alice, db):
    SettingsStore(db).set_many({"features.profile": "3cx", "feature.dnd_on": "*78", "feature.paging": ""})
    page = text(alice.get("/features/"))
    assert "3CX" in page and "*78" in page and "Set your status to Away" in page
    assert "Paging: one-way announcement" not in page


def test_unusable_settings_are_reported(alice, db):
    SettingsStore(db).set("features.profile", "nonsense")
    assert "cannot be used" in text(alice.get("/features/"))
