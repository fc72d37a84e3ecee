"""pbxd following box-wide settings groups (applications.refresh_settings): feature codes and recording settings
change for the next call; a group that cannot be used keeps what is in force."""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any

import pytest

from appliance import applications
from appliance.applications import Applications, feature_code_settings, feature_codes_from
from appliance.calls.features import FeatureCodes
from appliance.calls.router import Router
from appliance.recording import settings as recording_settings
from appliance.store import SettingsStore, initialize_database
from appliance.voicemail.box_settings import LiveSettings


@pytest.fixture
def settings(tmp_path) -> SettingsStore:
    return SettingsStore(initialize_database(tmp_path / "pbx.sqlite3", seed=False))


def fake_pbx() -> Any:
    """What the feature-code wiring touches of a started Pbx."""
    calls = SimpleNamespace(router=Router(lambda number: None), env=SimpleNamespace(in_call_codes={}))
    return SimpleNamespace(calls=calls, extensions=SimpleNamespace(list=lambda: [SimpleNamespace(number="2001")]))


def following_codes(settings: SettingsStore) -> tuple[Any, Applications]:
    pbx = fake_pbx()
    apps = Applications(None, None, FeatureCodes(), None)  # type: ignore[arg-type]
    applications._use_codes(pbx, apps, FeatureCodes())
    live = LiveSettings(settings, feature_code_settings, "feature-code settings")
    apps.follow(live, lambda stored: applications._use_stored_codes(pbx, apps, stored))
    return pbx, apps


def test_a_changed_record_code_is_routed_and_watched_from_the_next_refresh(settings):
    pbx, apps = following_codes(settings)
    assert pbx.calls.env.in_call_codes == {"record_toggle": "*1"}
    settings.set_many({"feature.record_toggle": "*3", "feature.dnd_on": "*78"})
    apps.refresh_settings()
    assert pbx.calls.env.in_call_codes == {"record_toggle": "*3"}
    assert pbx.calls.router.features.match("*78").feature.name == "dnd_on"
    assert apps.feature_codes is pbx.calls.router.features


def test_an_empty_override_switches_the_code_off(settings):
    pbx, apps = following_codes(settings)
    settings.set("feature.record_toggle", "")
    apps.refresh_settings()
    assert pbx.calls.env.in_call_codes == {}


@pytest.mark.parametrize("key, value", [("features.profile", "asterisk"), ("feature.no_such_feature", "*5"),
                                        ("feature.record_toggle", 3)])
def test_codes_that_cannot_be_built_leave_the_ones_in_force(settings, caplog, key, value):
    pbx, apps = following_codes(settings)
    before = pbx.calls.router.features
    settings.set(key, value)
    with caplog.at_level(logging.ERROR, logger="appliance.applications"):
        apps.refresh_settings()
    assert pbx.calls.router.features is before and pbx.calls.env.in_call_codes == {"record_toggle": "*1"}
    assert "keeping the feature codes in force" in caplog.text


def test_feature_codes_from_names_what_is_wrong(settings, caplog):
    settings.set("features.profile", "asterisk")
    with caplog.at_level(logging.ERROR, logger="appliance.applications"):
        assert feature_codes_from(feature_code_settings(settings), []) is None
    assert "asterisk" in caplog.text


def test_only_changed_groups_are_applied_and_a_failing_one_does_not_hold_back_the_others(settings, caplog):
    apps = Applications(None, None, FeatureCodes(), None)  # type: ignore[arg-type]
    applied: list[Any] = []

    def broken(value: Any) -> None:
        raise RuntimeError("boom")

    apps.follow(LiveSettings(settings, lambda s: s.get("a"), "group a"), broken)
    apps.follow(LiveSettings(settings, recording_settings.load, "recording settings"), applied.append)
    apps.refresh_settings()
    assert applied == []  # nothing changed yet
    settings.set_many({"a": 1, "recording.announce": True})
    with caplog.at_level(logging.ERROR, logger="appliance.applications"):
        apps.refresh_settings()
    assert applied == [recording_settings.RecordingSettings(announce=True)]
    assert "the changed group a could not be applied" in caplog.text
