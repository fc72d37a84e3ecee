"""Extension preferences: DND, voicemail switch and PIN, portal password, prompt language."""

from __future__ import annotations

import pytest

from appliance.store import ExtensionStore, InvalidValue, NoSuchExtension, initialize_database


@pytest.fixture
def store(tmp_path) -> ExtensionStore:
    store = ExtensionStore(initialize_database(tmp_path / "pbx.sqlite3", seed=False))
    store.add("2001", "Alice", "secret-2001")
    return store


def test_new_extensions_have_voicemail_on_dnd_off_and_the_factory_pin(store):
    ext = store.get("2001")
    assert (ext.dnd, ext.voicemail_enabled, ext.language, ext.web_password_hash) == (False, True, None, None)
    assert ext.voicemail_pin_is_default
    assert store.check_voicemail_pin("2001", "1234") and not store.check_voicemail_pin("2001", "0000")


def test_changing_the_pin_replaces_the_factory_pin(store):
    store.set_voicemail_pin("2001", "8642")
    assert not store.get("2001").voicemail_pin_is_default
    assert store.check_voicemail_pin("2001", "8642") and not store.check_voicemail_pin("2001", "1234")
    assert "8642" not in (store.get("2001").voicemail_pin_hash or "")


@pytest.mark.parametrize("pin", ["123", "12a4", "123456789", ""])
def test_bad_pins_are_refused(store, pin):
    with pytest.raises(InvalidValue) as err:
        store.set_voicemail_pin("2001", pin)
    assert err.value.field == "voicemail_pin"


def test_portal_password_is_hashed_and_checked(store):
    assert not store.check_web_password("2001", "whatever-password")
    store.set_web_password("2001", "correct horse")
    assert store.check_web_password("2001", "correct horse")
    assert not store.check_web_password("2001", "wrong horse!")
    with pytest.raises(InvalidValue):
        store.set_web_password("2001", "short")
    store.set_web_password("2001", None)
    assert not store.check_web_password("2001", "correct horse")


def test_flags_and_language_are_updatable_and_validated(store):
    ext = store.update("2001", dnd=True, voicemail_enabled=False, language="zh")
    assert (ext.dnd, ext.voicemail_enabled, ext.language) == (True, False, "zh")
    with pytest.raises(InvalidValue):
        store.update("2001", language="klingon")
    with pytest.raises(InvalidValue):
        store.update("2001", dnd="yes")


def test_unknown_extension_pin_change_fails(store):
    with pytest.raises(NoSuchExtension):
        store.set_voicemail_pin("9999", "1234")


def test_an_extension_is_neither_operator_nor_recorded_until_the_administrator_says_so(store):
    ext = store.get("2001")
    assert (ext.operator, ext.record_calls) == (False, False)
    ext = store.update("2001", operator=True, record_calls=True)
    assert (ext.operator, ext.record_calls) == (True, True)
    assert store.get("2001").operator and store.get("2001").record_calls
    with pytest.raises(InvalidValue):
        store.update("2001", record_calls="always")
