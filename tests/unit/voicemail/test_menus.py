"""The voicemail phone menus, driven key by key through a scripted session (no SIP, no audio)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from appliance.calls.app import CallerHungUp, Recording
from appliance.media.wav import write_wav_atomic
from appliance.prompts import say_count, say_digits, say_time
from appliance.store import ExtensionStore, initialize_database
from appliance.voicemail.deposit import Depositor
from appliance.voicemail.menus import MailboxMenus, Speech
from appliance.voicemail.storage import Mailbox, VoicemailStore

NOW = 1_800_000_000.0


class ScriptedSession:
    """Stands in for AppSession: keys come from a script, what would be heard is logged."""

    def __init__(self, keys: str = ""):
        self.keys = list(keys)
        self.played: list[object] = []
        self.language = "en"
        self.answered: str | None = None
        self.hung_up = False

    @property
    def gone(self) -> bool:
        return self.hung_up

    async def answer(self, label: str) -> None:
        self.answered = label

    async def play(self, audio, interrupt: bool = False):
        if self.hung_up:
            raise CallerHungUp()
        self.played.append(audio if isinstance(audio, (str, np.ndarray)) else list(audio))
        return self.keys[0] if interrupt and self.keys else None

    async def collect(self, max_digits: int, timeout: float = 5.0, first_timeout: float | None = None,
                      terminators: str = "#") -> str:
        digits = ""
        while self.keys and len(digits) < max_digits:
            key = self.keys.pop(0)
            if key in terminators:
                break
            digits += key
        return digits

    async def choose(self, timeout: float = 6.0) -> str:
        if self.hung_up:
            raise CallerHungUp()
        return self.keys.pop(0) if self.keys else ""

    def flush_digits(self) -> None:
        pass

    async def record(self, path: Path, max_seconds: float, terminators: str = "#") -> Recording:
        write_wav_atomic(path, (np.sin(np.arange(16000) * 0.4) * 8000).astype(np.int16))
        if self.keys and self.keys[0] in terminators:
            self.keys.pop(0)
        return Recording(Path(path), 2.0, "key", "#")

    def hangup(self, reason: str = "") -> None:
        self.hung_up = True

    def heard(self) -> list[str]:
        """Every prompt id played, flattened (WAV paths and samples left out)."""
        out: list[str] = []
        for item in self.played:
            if isinstance(item, list):
                out += [x for x in item if isinstance(x, str)]
        return out


async def run_io(fn, *args):
    return fn(*args)


@pytest.fixture
def world(tmp_path):
    db = initialize_database(tmp_path / "pbx.sqlite3", seed=False)
    extensions = ExtensionStore(db)
    for number in ("2001", "2002", "2003"):
        extensions.add(number, f"User {number}", f"secret-{number}")
    store = VoicemailStore(db, tmp_path / "voicemail", clock=lambda: NOW, find_extension=extensions.find)
    changed: list[str] = []
    called_back: list[str] = []

    async def call_back(session, number):
        called_back.append(number)

    def check_pin(mailbox: Mailbox, pin: str) -> bool:  # as VoicemailService does
        if mailbox.kind == "shared":
            return store.check_shared_pin(mailbox.number, pin)
        return extensions.check_voicemail_pin(mailbox.number, pin)

    def set_pin(mailbox: Mailbox, pin: str) -> None:
        extensions.set_voicemail_pin(mailbox.number, pin)

    menus = MailboxMenus(
        store, run_io, Speech(say_digits, lambda n, noun, lang: say_count(n, noun, lang, you_have=False), say_time),
        check_pin=check_pin, set_pin=set_pin, pin_is_default=lambda m: m.kind == "personal" and extensions.get(m.number).voicemail_pin_is_default,
        mailbox_changed=changed.append, call_back=call_back, now=lambda: NOW)
    return menus, store, extensions, changed, called_back


def message(store: VoicemailStore, mailbox: str = "2002", caller: str = "2001"):
    uid, path = store.begin_message(mailbox, caller, "User", NOW - 60)
    write_wav_atomic(path, np.full(8000, 500, dtype=np.int16))
    return store.commit_message(uid, mailbox, 1.0)


def run(coro):
    return asyncio.run(coro)


def test_trusted_own_mailbox_announces_counts_plays_new_first_and_deletes(world):
    menus, store, _, changed, _ = world
    first = message(store)
    message(store)
    session = ScriptedSession("17#")  # listen, delete the first, exit
    run(menus.own_mailbox(session, "2002", trusted=True))
    heard = session.heard()
    assert heard[:2] == ["you_have", "digit_2"] and heard[2].startswith("new_message_")
    assert "vm_message_deleted" in heard and session.hung_up
    assert [m.id for m in store.messages("2002")] != [first.id] and store.count("2002")["total"] == 1
    assert changed.count("2002") >= 2  # marked read, then deleted


def test_a_played_message_becomes_old(world):
    menus, store, _, _, _ = world
    message(store)
    run(menus.own_mailbox(ScriptedSession("1#"), "2002", trusted=True))
    assert store.count("2002") == {"new": 0, "old": 1, "total": 1}


def test_the_envelope_says_when_and_from_whom(world):
    menus, store, _, _, _ = world
    message(store, caller="2001")
    session = ScriptedSession("13#")
    run(menus.own_mailbox(session, "2002", trusted=True))
    heard = session.heard()
    assert "vm_received" in heard and "vm_from_extension" in heard
    assert heard[heard.index("vm_from_extension") + 1: heard.index("vm_from_extension") + 5] == \
        ["digit_2", "digit_0", "digit_0", "digit_1"]


def test_forwarding_copies_the_message_and_lights_the_other_lamp(world):
    menus, store, _, changed, _ = world
    message(store)
    run(menus.own_mailbox(ScriptedSession("182003#" + "#"), "2002", trusted=True))
    [copy] = store.messages("2003")
    assert copy.forwarded_from == "2002" and "2003" in changed


def test_call_back_hands_the_caller_over(world):
    menus, store, _, _, called_back = world
    message(store, caller="2001")
    run(menus.own_mailbox(ScriptedSession("19"), "2002", trusted=True))
    assert called_back == ["2001"]


def test_the_default_pin_must_be_changed_before_anything_else(world):
    menus, store, extensions, _, _ = world
    session = ScriptedSession("1234#" "4455#" "4455#" "#")
    run(menus.own_mailbox(session, "2002", trusted=False))
    heard = session.heard()
    assert heard.index("vm_default_pin") < heard.index("vm_pin_changed") < heard.index("you_have")
    assert extensions.check_voicemail_pin("2002", "4455")


def test_mismatched_new_pins_are_asked_again(world):
    menus, _, extensions, _, _ = world
    session = ScriptedSession("1234#" "4455#" "5544#" "4455#" "4455#" "#")
    run(menus.own_mailbox(session, "2002", trusted=False))
    assert "vm_pin_mismatch" in session.heard() and extensions.check_voicemail_pin("2002", "4455")


def test_three_wrong_pins_hang_up(world):
    menus, _, _, _, _ = world
    session = ScriptedSession("0000#0000#0000#")
    run(menus.own_mailbox(session, "2002", trusted=False))
    heard = session.heard()
    assert heard.count("vm_incorrect_pin") == 3 and "vm_too_many_attempts" in heard and session.hung_up


def test_main_menu_opens_any_mailbox_with_its_pin(world):
    menus, store, extensions, _, _ = world
    extensions.set_voicemail_pin("2003", "9876")
    message(store, mailbox="2003")
    session = ScriptedSession("2003#" "9876#" "#")
    run(menus.main_menu(session))
    assert "digit_1" in session.heard() and "new_message_one" in session.heard()


def test_main_menu_refuses_an_unknown_mailbox(world):
    menus, _, _, _, _ = world
    session = ScriptedSession("7777#" "7777#" "7777#")
    run(menus.main_menu(session))
    assert session.heard().count("vm_invalid_mailbox") == 3 and session.hung_up


def test_settings_record_the_name_and_delete_read_messages(world):
    menus, store, _, changed, _ = world
    old = message(store)
    store.mark(old.id, True)
    session = ScriptedSession("0" "3#1" "5" "*" "#")  # settings, record name, accept, delete read, back, exit
    run(menus.own_mailbox(session, "2002", trusted=True))
    assert store.greeting("2002", "name") is not None
    assert store.count("2002")["total"] == 0 and "vm_read_deleted" in session.heard()


def test_a_rerecorded_greeting_is_not_kept_until_accepted(world):
    menus, store, _, _, _ = world
    session = ScriptedSession("0" "1#" "3" "#" "9" "*" "#")  # record, re-record, then neither: discarded
    run(menus.own_mailbox(session, "2002", trusted=True))
    assert store.greeting("2002", "unavailable") is None
    assert not list((store.root / "2002").glob("*.pending.wav"))


def test_a_shared_mailbox_asks_for_its_own_pin(world):
    menus, store, _, _, _ = world
    store.create_shared("70000", "Sales", "2468")
    message(store, mailbox="70000")
    wrong = ScriptedSession("1234#1234#1234#")
    run(menus.shared_mailbox(wrong, "70000"))
    assert wrong.hung_up and "you_have" not in wrong.heard()
    right = ScriptedSession("2468#" "#")
    run(menus.shared_mailbox(right, "70000"))
    assert "new_message_one" in right.heard()


def test_star56_on_a_personal_mailbox_is_refused(world):
    menus, _, _, _, _ = world
    session = ScriptedSession()
    run(menus.shared_mailbox(session, "2002"))
    assert "vm_invalid_mailbox" in session.heard() and session.hung_up


def test_deposit_discards_a_silent_message(world, tmp_path):
    _, store, _, _, _ = world
    depositor = Depositor(store, run_io, say_digits)

    class Silent(ScriptedSession):
        async def record(self, path, max_seconds, terminators="#"):
            write_wav_atomic(path, np.zeros(24000, dtype=np.int16))
            return Recording(Path(path), 3.0, "hangup")

    result = run(depositor.leave(Silent(), store.mailbox("2002"), "busy", "2001", None, NOW))
    assert result.reason == "silent" and store.count("2002")["total"] == 0
    assert not [p for p in (store.root / "2002").iterdir()]


def test_deposit_plays_the_busy_greeting_when_recorded(world):
    _, store, _, _, _ = world
    write_wav_atomic(store.greeting_path("2002", "busy"), np.full(4000, 100, dtype=np.int16))
    session = ScriptedSession()
    result = run(Depositor(store, run_io, say_digits).leave(session, store.mailbox("2002"), "busy", "2001",
                                                             None, NOW))
    assert result.reason == "saved"
    assert session.played[0] == [store.greeting("2002", "busy")]


def test_deposit_system_greeting_says_the_number_and_busy(world):
    _, store, _, _, _ = world
    session = ScriptedSession()
    run(Depositor(store, run_io, say_digits).leave(session, store.mailbox("2002"), "busy", "2001", None, NOW))
    first = session.played[0]
    assert first[:5] == ["vm_person_at_extension", "digit_2", "digit_0", "digit_0", "digit_2"]
    assert "vm_busy" in first


def test_a_mailbox_with_its_own_language_speaks_it_once_it_is_known(world):
    menus, store, _, _, _ = world
    store.create_shared("70001", "Shanghai office", "2468", language="zh")
    by_star56 = ScriptedSession("2468#" "#")
    run(menus.shared_mailbox(by_star56, "70001"))
    assert by_star56.language == "zh"
    by_star60 = ScriptedSession("70001#" "2468#" "#")
    run(menus.main_menu(by_star60))
    assert by_star60.language == "zh"
    plain = ScriptedSession("2468#" "#")
    store.create_shared("70002", "Sales", "2468")
    run(menus.shared_mailbox(plain, "70002"))
    assert plain.language == "en"  # no language of its own: the caller's stays
