"""Audit of issues 2 and 3: voicemail behaviours that are implemented but had no test of their own.

Driven through the scripted session of the menu tests (no SIP, no audio): browsing keys, the settings
menu, the deposit's greeting choice, review and limits, per-caller greetings and the mailbox language
through VoicemailService.take_call.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np

from appliance.calls.app import Recording
from appliance.media.wav import read_wav, write_wav_atomic
from appliance.prompts import say_count, say_digits, say_time
from appliance.voicemail.deposit import Depositor
from appliance.voicemail.menus import Speech
from appliance.voicemail.rules import CallerRules
from appliance.voicemail.service import VoicemailService
from tests.unit.voicemail import test_menus
from tests.unit.voicemail.test_menus import NOW, ScriptedSession, message, run_io

world = test_menus.world  # the menu tests' fixture: a store with extensions 2001-2003 and scripted menus


def run(coro):
    return asyncio.run(coro)


def played_message_numbers(session: ScriptedSession) -> list[str]:
    """The spoken index after each "vm_message" ("message one", "message two" …), in playing order."""
    heard = session.heard()
    return [heard[i + 1] for i, item in enumerate(heard) if item == "vm_message"]


# --- browsing: next, previous, repeat -------------------------------------------------------------------

def test_next_previous_and_repeat_move_between_messages(world):
    menus, store, _, _, _ = world
    message(store)
    message(store)
    session = ScriptedSession("1" "6" "4" "5" "4" "#")  # listen, next, previous, repeat, previous at the first
    run(menus.own_mailbox(session, "2002", trusted=True))
    assert played_message_numbers(session) == ["digit_1", "digit_2", "digit_1", "digit_1", "digit_1"]
    assert "vm_first_message" in session.heard()
    assert session.hung_up


# --- settings menu ----------------------------------------------------------------------------------------

def test_unavailable_and_busy_greetings_recorded_in_settings_are_what_callers_hear(world):
    menus, store, _, _, _ = world
    # settings; 1 unavailable greeting, '#' ends the recording, 1 accept; 2 busy greeting, '#', 1 accept; back; exit
    session = ScriptedSession("0" "1#1" "2#1" "*" "#")
    run(menus.own_mailbox(session, "2002", trusted=True))
    assert session.heard().count("vm_greeting_saved") == 2
    unavailable, busy = store.greeting("2002", "unavailable"), store.greeting("2002", "busy")
    assert unavailable is not None and busy is not None

    depositor = Depositor(store, run_io, say_digits)
    for reason, expected in (("no answer", unavailable), ("unavailable", unavailable), ("busy", busy)):
        caller = ScriptedSession()
        run(depositor.leave(caller, store.mailbox("2002"), reason, "2001", None, NOW))
        assert caller.played[0] == [expected], reason


def test_change_pin_from_the_settings_menu(world):
    menus, _, extensions, _, _ = world
    extensions.set_voicemail_pin("2002", "9999")
    session = ScriptedSession("0" "4" "5566#" "5566#" "*" "#")
    run(menus.own_mailbox(session, "2002", trusted=True))
    assert "vm_pin_changed" in session.heard()
    assert extensions.check_voicemail_pin("2002", "5566") and not extensions.check_voicemail_pin("2002", "9999")


def test_mailbox_info_says_the_number_and_the_counts(world):
    menus, store, _, _, _ = world
    message(store)
    session = ScriptedSession("0" "6" "*" "#")
    run(menus.own_mailbox(session, "2002", trusted=True))
    heard = session.heard()
    at = heard.index("mailbox")
    assert heard[at + 1: at + 6] == ["digit_2", "digit_0", "digit_0", "digit_2", "you_have"]
    assert "new_message_one" in heard[at:]


def test_a_shared_mailbox_without_require_pin_opens_at_once(world):
    menus, store, _, _, _ = world
    store.create_shared("70000", "Sales", "2468")
    store.update("70000", require_pin=False)
    message(store, mailbox="70000")
    session = ScriptedSession("#")
    run(menus.shared_mailbox(session, "70000"))
    assert "vm_enter_pin" not in session.heard() and "new_message_one" in session.heard()


# --- leaving a message ------------------------------------------------------------------------------------

def test_the_recorded_name_is_said_inside_the_system_greeting(world):
    _, store, _, _, _ = world
    write_wav_atomic(store.greeting_path("2002", "name"), np.full(4000, 100, dtype=np.int16))
    session = ScriptedSession()
    run(Depositor(store, run_io, say_digits).leave(session, store.mailbox("2002"), "no answer", "2001", None, NOW))
    first = session.played[0]
    assert first[0] == store.greeting("2002", "name") and "vm_unavailable" in first
    assert "vm_person_at_extension" not in first


class Takes(ScriptedSession):
    """Records a different tone on each take (so the kept one can be told apart) and notes the limits asked."""

    def __init__(self, keys: str = "", samples: int = 16000):
        super().__init__(keys)
        self.takes = 0
        self.limits: list[float] = []
        self.samples = samples

    async def record(self, path: Path, max_seconds: float, terminators: str = "#") -> Recording:
        self.takes += 1
        self.limits.append(max_seconds)
        level = 3000 * self.takes
        write_wav_atomic(path, (np.sin(np.arange(self.samples) * 0.4) * level).astype(np.int16))
        if self.keys and self.keys[0] in terminators:
            self.keys.pop(0)
            return Recording(Path(path), self.samples / 8000, "key", "#")
        return Recording(Path(path), self.samples / 8000, "hangup")


def test_review_after_pound_re_records_and_keeps_only_the_second_take(world):
    _, store, _, _, _ = world
    session = Takes("#" "2" "#" "1")  # '#' ends the take, 2 re-record, '#' again, 1 accept
    result = run(Depositor(store, run_io, say_digits).leave(session, store.mailbox("2002"), "busy", "2001",
                                                             None, NOW))
    assert result.reason == "saved" and session.takes == 2
    kept = read_wav(store.audio_path(result.message))
    assert 5000 < int(np.abs(kept).max()) <= 6000  # the second take's level, not the first's
    assert "opt_rerecord" in session.heard()
    assert [m.id for m in store.messages("2002")] == [result.message.id]


def test_a_sub_second_message_is_discarded_and_leaves_no_file(world):
    _, store, _, _, _ = world
    session = Takes(samples=4000)  # half a second, then hang-up
    result = run(Depositor(store, run_io, say_digits).leave(session, store.mailbox("2002"), "busy", "2001",
                                                             None, NOW))
    assert result.reason == "too short" and store.count("2002")["total"] == 0
    assert not list((store.root / "2002").iterdir())


def test_the_recording_is_limited_to_the_mailbox_maximum_length(world):
    _, store, _, _, _ = world
    store.update("2002", max_seconds=42)
    session = Takes()
    run(Depositor(store, run_io, say_digits).leave(session, store.mailbox("2002"), "busy", "2001", None, NOW))
    assert session.limits == [42]


# --- the service entry point: per-caller greetings, mailbox language, MWI -----------------------------------

def _service(tmp_path: Path, changed: list[str]) -> VoicemailService:
    speech = Speech(say_digits, lambda n, noun, lang: say_count(n, noun, lang, you_have=False), say_time)
    return VoicemailService(tmp_path / "pbx.sqlite3", tmp_path / "voicemail", speech, wallclock=lambda: NOW,
                            mailbox_changed=changed.append)


def test_a_per_caller_rule_chooses_the_greeting_the_matching_caller_hears(world, tmp_path):
    _, store, _, _, _ = world
    CallerRules(store.db).add("2002", "number", "2001", greeting="customers")
    custom = store.greeting_path("2002", "customers")
    write_wav_atomic(custom, np.full(4000, 100, dtype=np.int16))
    changed: list[str] = []
    service = _service(tmp_path, changed)
    try:
        matching = ScriptedSession()
        result = run(service.take_call(matching, service.store.mailbox("2002"), "busy", "2001", None))
        other = ScriptedSession()
        run(service.take_call(other, service.store.mailbox("2002"), "busy", "2003", None))
    finally:
        service.close()
    assert matching.played[0] == [custom, "vm_record_message_after_tone"]
    assert custom not in other.played[0] and "vm_busy" in other.played[0]
    assert result.reason == "saved" and changed.count("2002") == 2  # each new message updates MWI


def test_a_shared_mailbox_speaks_its_own_language_to_callers(world, tmp_path):
    _, store, _, _, _ = world
    store.create_shared("70000", "Sales", "2468", language="zh")
    service = _service(tmp_path, [])
    try:
        session = ScriptedSession()
        assert session.language == "en"
        run(service.take_call(session, service.store.mailbox("70000"), "direct", "2001", None))
    finally:
        service.close()
    assert session.language == "zh"
