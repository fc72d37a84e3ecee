"""Box-wide settings: JSON values by key."""

from __future__ import annotations

import pytest

from appliance.store import InvalidValue, SettingsStore


@pytest.fixture
def settings(db, clock) -> SettingsStore:
    return SettingsStore(db, clock=clock)


def test_values_round_trip_as_json(settings) -> None:
    settings.set("realm", "pbx.example.com")
    settings.set("codecs", ["PCMA", "PCMU"])
    settings.set("sip_udp_port", 5070)
    settings.set("flags", {"a": True, "b": None})
    assert settings.get("realm") == "pbx.example.com"
    assert settings.get("codecs") == ["PCMA", "PCMU"]
    assert settings.get("sip_udp_port") == 5070
    assert settings.all() == {
        "codecs": ["PCMA", "PCMU"], "flags": {"a": True, "b": None},
        "realm": "pbx.example.com", "sip_udp_port": 5070,
    }


def test_missing_key_gives_default(settings) -> None:
    assert settings.get("nothing") is None
    assert settings.get("nothing", 42) == 42


def test_set_replaces_and_delete_forgets(settings) -> None:
    settings.set("tone_country", "us")
    settings.set("tone_country", "cn")
    assert settings.get("tone_country") == "cn"
    assert settings.delete("tone_country") is True
    assert settings.delete("tone_country") is False
    assert settings.get("tone_country", "us") == "us"


def test_set_many_is_all_or_nothing(settings) -> None:
    with pytest.raises(InvalidValue):
        settings.set_many({"good": 1, "Bad Key": 2})
    assert settings.all() == {}


def test_unserialisable_value_is_refused(settings) -> None:
    with pytest.raises(InvalidValue, match="cannot be stored"):
        settings.set("x", object())
    with pytest.raises(InvalidValue):
        settings.set("y", float("nan"))


def test_writes_bump_the_settings_version(settings) -> None:
    before = settings.version()
    settings.set("realm", "a")
    settings.set("realm", "b")
    settings.delete("realm")
    assert settings.version() == before + 3
