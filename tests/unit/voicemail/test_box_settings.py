"""Box-wide voicemail settings: validation for the settings page, defaults for garbled values, and pbxd's live
copy that follows the settings table without a restart."""

from __future__ import annotations

import pytest

from appliance.store import SettingsStore, initialize_database
from appliance.store.exceptions import InvalidValue
from appliance.voicemail import box_settings
from appliance.voicemail.box_settings import BoxVoicemailSettings, LiveBoxSettings


@pytest.fixture
def settings(tmp_path) -> SettingsStore:
    return SettingsStore(initialize_database(tmp_path / "pbx.sqlite3", seed=False))


def test_defaults_are_english_no_trusted_phone_and_links_on(settings):
    assert box_settings.load(settings) == BoxVoicemailSettings("en", False, True)


def test_saved_settings_are_read_back(settings):
    box_settings.save(settings, BoxVoicemailSettings("zh", True, False))
    assert box_settings.load(settings) == BoxVoicemailSettings("zh", True, False)
    assert settings.get("prompts.language") == "zh" and settings.get("voicemail.trust_own_device") is True


@pytest.mark.parametrize("values, field", [
    ({"language": "de", "trust_own_device": False, "email_links": True}, "language"),
    ({"language": "", "trust_own_device": False, "email_links": True}, "language"),
    ({"language": "en", "trust_own_device": "yes", "email_links": True}, "trust_own_device"),
    ({"language": "en", "trust_own_device": False, "email_links": None}, "email_links"),
])
def test_validation_names_the_bad_field(values, field):
    with pytest.raises(InvalidValue) as err:
        box_settings.validate(values)
    assert err.value.field == field


def test_garbled_stored_values_fall_back_to_defaults_with_a_warning(settings, caplog):
    settings.set_many({"prompts.language": "klingon", "voicemail.trust_own_device": "1"})
    assert box_settings.load(settings) == BoxVoicemailSettings()
    assert "prompts.language" in caplog.text and "voicemail.trust_own_device" in caplog.text


def test_the_live_copy_changes_only_when_the_settings_table_changed(settings):
    live = LiveBoxSettings(settings)
    assert live.current.language == "en" and live.refresh() is False
    settings.set("unrelated.key", 1)
    assert live.refresh() is False  # the table moved, the voicemail settings did not
    settings.set("prompts.language", "ru")
    assert live.refresh() is True and live.current.language == "ru"
    assert live.refresh() is False


def test_the_same_mechanism_follows_any_group_of_keys_through_its_own_loader(settings):
    from appliance.voicemail.box_settings import LiveSettings

    live = LiveSettings(settings, lambda store: store.get("feature.record_toggle", "*1"), "feature codes")
    assert live.current == "*1" and live.refresh() is False
    settings.set("prompts.language", "ru")
    assert live.refresh() is False  # another group's key: nothing this group uses changed
    settings.set("feature.record_toggle", "*9")
    assert live.refresh() is True and live.current == "*9"
