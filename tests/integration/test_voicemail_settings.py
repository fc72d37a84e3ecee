"""Box-wide voicemail settings with the real daemon: a changed prompt language and "trust the owner's phone"
apply to the next call, without restarting pbxd (the settings page saves them and asks pbxd to reload)."""

from __future__ import annotations

import time

import pytest

from appliance.store import SettingsStore, open_database
from appliance.voicemail import box_settings
from appliance.voicemail.box_settings import BoxVoicemailSettings

pytestmark = pytest.mark.integration


def save(pbx, settings: BoxVoicemailSettings, *, reload: bool = True) -> None:
    """What the admin's Voicemail settings page does: save, then a best-effort reload."""
    db = open_database(pbx.data / "pbx.sqlite3")
    try:
        box_settings.save(SettingsStore(db), settings)
    finally:
        db.conn.close()
    if reload:
        pbx.control("reload")


def hear(phone, pbx, number: str, path, seconds: float):
    call = phone.call(pbx.uri(number))
    call.wait_confirmed(10)
    heard = call.record(path)
    time.sleep(seconds)
    call.stop_recording()
    call.hangup()
    time.sleep(0.3)
    return heard


def test_a_changed_prompt_language_is_spoken_by_the_next_call(pbx, phone_factory, tmp_path):
    from appliance.prompts import PromptLibrary
    from tests.prompt_audio import find_prompts

    library = PromptLibrary()
    alice = phone_factory("alice")
    pbx.register(alice, "2001")
    before = hear(alice, pbx, "*49999", tmp_path / "en.wav", 4.0)  # no such mailbox: said in the box's language
    assert find_prompts(before, library, "en", ["vm_invalid_mailbox"]) == ["vm_invalid_mailbox"]

    save(pbx, BoxVoicemailSettings(language="ru"))
    after = hear(alice, pbx, "*49999", tmp_path / "ru.wav", 5.0)
    assert find_prompts(after, library, "ru", ["vm_invalid_mailbox"]) == ["vm_invalid_mailbox"]
    assert find_prompts(after, library, "en", ["vm_invalid_mailbox"]) == []


def test_trusting_the_owners_phone_applies_without_a_restart_even_without_reload(pbx, phone_factory, tmp_path):
    from appliance.prompts import PromptLibrary
    from tests.prompt_audio import find_prompts

    library = PromptLibrary()
    bob = phone_factory("bob")
    pbx.register(bob, "2002")
    asked = hear(bob, pbx, "*61", tmp_path / "pin.wav", 3.0)
    assert find_prompts(asked, library, "en", ["vm_enter_pin", "you_have"])[:1] == ["vm_enter_pin"]

    save(pbx, BoxVoicemailSettings(trust_own_device=True), reload=False)
    time.sleep(2.5)  # pbxd notices a change of the settings table within a second by itself
    trusted = hear(bob, pbx, "*61", tmp_path / "trusted.wav", 5.0)
    said = find_prompts(trusted, library, "en", ["vm_enter_pin", "vm_default_pin", "you_have"])
    assert said and said[0] == "you_have" and "vm_enter_pin" not in said
