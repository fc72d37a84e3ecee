"""Box-wide recording settings: validation for the box page, defaults for garbled values, and the service
taking a change while pbxd runs."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from appliance.recording import settings as recording_settings
from appliance.recording.service import RecordingService
from appliance.recording.settings import RecordingSettings
from appliance.store import SettingsStore, initialize_database
from appliance.store.exceptions import InvalidValue
from appliance.voicemail.box_settings import LiveSettings


@pytest.fixture
def settings(tmp_path) -> SettingsStore:
    return SettingsStore(initialize_database(tmp_path / "pbx.sqlite3", seed=False))


def test_defaults_are_a_200_mib_cap_and_no_announcement(settings):
    assert recording_settings.load(settings) == RecordingSettings(200, False)


def test_saved_settings_are_read_back_under_their_keys(settings):
    recording_settings.save(settings, RecordingSettings(500, True))
    assert recording_settings.load(settings) == RecordingSettings(500, True)
    assert settings.get("recording.min_free_mb") == 500 and settings.get("recording.announce") is True


@pytest.mark.parametrize("value", ["0", "200", " 1024 ", str(recording_settings.MAX_MIN_FREE_MB)])
def test_the_page_takes_whole_mib_from_zero_to_the_maximum(value):
    chosen = recording_settings.validate({"min_free_mb": value, "announce": True})
    assert chosen == RecordingSettings(int(value), True)


@pytest.mark.parametrize("values, field", [
    ({"min_free_mb": "", "announce": False}, "min_free_mb"),
    ({"min_free_mb": "-1", "announce": False}, "min_free_mb"),
    ({"min_free_mb": "1.5", "announce": False}, "min_free_mb"),
    ({"min_free_mb": "²", "announce": False}, "min_free_mb"),
    ({"min_free_mb": str(recording_settings.MAX_MIN_FREE_MB + 1), "announce": False}, "min_free_mb"),
    ({"min_free_mb": "200", "announce": "yes"}, "announce"),
])
def test_validation_names_the_bad_field(values, field):
    with pytest.raises(InvalidValue) as err:
        recording_settings.validate(values)
    assert err.value.field == field


@pytest.mark.parametrize("stored", [-5, "lots", True, None])
def test_a_garbled_cap_falls_back_to_the_default_with_an_error(settings, caplog, stored):
    settings.set_many({"recording.min_free_mb": stored, "recording.announce": "1"})
    with caplog.at_level(logging.ERROR, logger="appliance.recording.settings"):
        assert recording_settings.load(settings) == RecordingSettings()
    assert "recording.min_free_mb" in caplog.text and "recording.announce" in caplog.text


def test_a_cap_set_by_hand_beyond_the_pages_range_is_still_used(settings):
    settings.set("recording.min_free_mb", 1 << 40)  # what the integration test uses for "no disk meets it"
    assert recording_settings.load(settings).min_free_mb == 1 << 40


def test_the_live_copy_follows_a_change_and_the_service_takes_it(settings):
    live = LiveSettings(settings, recording_settings.load, "recording settings")
    service = RecordingService(Path("/nonexistent"), lambda number: None, min_free_mb=live.current.min_free_mb,
                               free_bytes=lambda path: 300 * 1024 * 1024)
    assert service.space_ok() and not service.announce and live.refresh() is False
    recording_settings.save(settings, RecordingSettings(400, True))
    assert live.refresh() is True
    service.configure(live.current)
    assert not service.space_ok() and service.announce


def test_the_service_refuses_a_negative_cap():
    service = RecordingService(Path("/nonexistent"), lambda number: None)
    with pytest.raises(ValueError, match="min_free_mb"):
        service.configure(RecordingSettings(-1, False))
    assert service.min_free_mb == 200
