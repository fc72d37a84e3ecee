"""Voicemail with real phones: leaving messages, MWI on every device, the phone menus, crash safety."""

from __future__ import annotations

import re
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from tests import audio

pytestmark = pytest.mark.integration


# --- helpers ----------------------------------------------------------------------------------------------

def messages(pbx, mailbox: str) -> list[dict]:
    conn = sqlite3.connect(pbx.data / "pbx.sqlite3")
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(
            "SELECT * FROM voicemail_messages WHERE mailbox = ? ORDER BY id", (mailbox,))]
    finally:
        conn.close()


def wait_messages(pbx, mailbox: str, count: int, timeout: float = 10.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        found = messages(pbx, mailbox)
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def audio_file(pbx, message: dict) -> Path:
    return pbx.data / "voicemail" / message["mailbox"] / f"{message['uid']}.wav"


def wait_mwi(phone, new: int, old: int = 0, timeout: float = 10.0) -> dict:
    """Wait until the phone's *latest* message-summary NOTIFY says new/old (earlier ones do not count, so
    waiting for 0/0 after a delete is not satisfied by the subscription's first NOTIFY)."""
    deadline = time.monotonic() + timeout
    while True:
        notifies = phone.events("mwi")
        latest = notifies[-1] if notifies else {}
        found = re.search(r"Voice-Message:\s*(\d+)/(\d+)", latest.get("body", ""))
        if found and (int(found.group(1)), int(found.group(2))) == (new, old):
            return latest
        assert time.monotonic() < deadline, f"lamp not at {new}/{old}; last NOTIFY: {latest.get('body')!r}"
        time.sleep(0.05)


def leave_message(pbx, caller, callee_number: str, tone: int, seconds: float, tmp_path: Path):
    """The caller skips the greeting with #, waits for the beep, plays a tone, hangs up."""
    call = caller.call(pbx.uri(callee_number))
    call.wait_confirmed(15)  # voicemail answers
    call.wait_media("active", 5)
    time.sleep(0.5)
    call.send_dtmf("#")
    time.sleep(1.2)  # the beep
    call.play_tone(tone)
    time.sleep(seconds)
    call.hangup()
    return call


# --- leaving messages ---------------------------------------------------------------------------------------

def test_a_busy_extension_sends_the_caller_to_voicemail_and_the_message_is_kept(vm_pbx, phone_factory, tmp_path):
    alice, bob = phone_factory.many("alice", "bob")
    vm_pbx.register(alice, "2001")
    vm_pbx.register(bob, "2002")
    call = alice.call(vm_pbx.uri("2002"))
    bob.wait_incoming(5).reject(486)
    call.wait_confirmed(10)
    time.sleep(0.5)
    call.send_dtmf("#")
    time.sleep(1.2)
    call.play_tone(700)
    time.sleep(3.0)
    call.hangup()
    [message] = wait_messages(vm_pbx, "2002", 1)
    assert message["caller"] == "2001" and message["folder"] == "new"
    assert 2.0 <= message["duration"] <= 4.5
    stored = audio_file(vm_pbx, message)
    assert audio.has_tone(stored, 700, 1.8)
    [cdr] = vm_pbx.wait_cdrs(1)
    assert cdr["status"] == "answered" and cdr["final_called"].startswith("voicemail")


def test_an_unanswered_call_goes_to_voicemail_after_the_ring_time(vm_pbx, phone_factory, tmp_path):
    alice, bob = phone_factory.many("alice", "bob")
    vm_pbx.register(alice, "2001")
    vm_pbx.register(bob, "2002")
    leave_message(vm_pbx, alice, "2002", 900, 2.5, tmp_path)
    [message] = wait_messages(vm_pbx, "2002", 1)
    assert audio.has_tone(audio_file(vm_pbx, message), 900, 1.5)


def test_star4_leaves_a_message_directly(vm_pbx, phone_factory, tmp_path):
    alice = phone_factory("alice")
    vm_pbx.register(alice, "2001")
    leave_message(vm_pbx, alice, "*42003", 600, 2.0, tmp_path)
    [message] = wait_messages(vm_pbx, "2003", 1)
    assert message["caller"] == "2001"


def test_a_hang_up_at_the_beep_leaves_no_message(vm_pbx, phone_factory):
    alice = phone_factory("alice")
    vm_pbx.register(alice, "2001")
    call = alice.call(vm_pbx.uri("*42003"))
    call.wait_confirmed(10)
    time.sleep(0.5)
    call.send_dtmf("#")
    time.sleep(1.5)
    call.hangup()
    time.sleep(1.5)
    assert messages(vm_pbx, "2003") == []
    assert not [p for p in (vm_pbx.data / "voicemail" / "2003").glob("*") if not p.name.startswith("greeting")] \
        if (vm_pbx.data / "voicemail" / "2003").exists() else True


def test_mwi_reaches_every_device_of_the_extension(vm_pbx, phone_factory, tmp_path):
    alice, desk, app = phone_factory.many("alice", "desk", "app")
    vm_pbx.register(alice, "2001")
    vm_pbx.register(desk, "2002", mwi=True)  # subscribes to message-summary
    vm_pbx.register(app, "2002")  # does not: gets unsolicited NOTIFYs
    wait_mwi(desk, 0, 0)  # the subscription's first NOTIFY
    leave_message(vm_pbx, alice, "*42002", 700, 2.0, tmp_path)
    wait_messages(vm_pbx, "2002", 1)
    assert "Messages-Waiting: yes" in wait_mwi(desk, 1, 0)["body"]
    assert "Messages-Waiting: yes" in wait_mwi(app, 1, 0)["body"]


# --- listening -------------------------------------------------------------------------------------------------

def test_owner_listens_with_star61_changes_the_default_pin_deletes_and_mwi_drops(vm_pbx, phone_factory, tmp_path):
    from appliance.prompts import PromptLibrary
    from tests.prompt_audio import find_prompts

    alice, bob = phone_factory.many("alice", "bob")
    vm_pbx.register(alice, "2001")
    vm_pbx.register(bob, "2002", mwi=True)
    leave_message(vm_pbx, alice, "*42002", 700, 2.0, tmp_path)
    wait_messages(vm_pbx, "2002", 1)
    wait_mwi(bob, 1, 0)

    menu = bob.call(vm_pbx.uri("*61"))
    menu.wait_confirmed(10)
    heard = menu.record(tmp_path / "menu.wav")
    time.sleep(1.0)
    menu.send_dtmf("1234#")  # the factory PIN …
    time.sleep(4.0)
    menu.send_dtmf("8642#")  # … must be changed at once
    time.sleep(2.5)
    menu.send_dtmf("8642#")
    time.sleep(9.0)  # "PIN changed", then the counts
    menu.stop_recording()
    library = PromptLibrary()
    said = find_prompts(heard, library, "en", ["vm_default_pin", "vm_pin_changed", "you_have", "new_message_one",
                                                "old_message_none", "vm_incorrect_pin"])
    assert said[:2] == ["vm_default_pin", "vm_pin_changed"]
    assert "new_message_one" in said and "vm_incorrect_pin" not in said

    menu.send_dtmf("1")  # listen
    time.sleep(3.0)
    menu.send_dtmf("7")  # delete
    wait_mwi(bob, 0, 0)
    menu.send_dtmf("#")
    menu.wait_disconnected(15)
    assert messages(vm_pbx, "2002") == []

    from appliance.store import ExtensionStore, open_database
    db = open_database(vm_pbx.data / "pbx.sqlite3")
    try:
        assert ExtensionStore(db).check_voicemail_pin("2002", "8642")
    finally:
        db.conn.close()


def test_three_wrong_pins_end_the_call(vm_pbx, phone_factory, tmp_path):
    bob = phone_factory("bob")
    vm_pbx.register(bob, "2002")
    menu = bob.call(vm_pbx.uri("*61"))
    menu.wait_confirmed(10)
    for _ in range(3):
        time.sleep(2.0)
        menu.send_dtmf("0000#")
    menu.wait_disconnected(20)
    assert "wrong PINs" in vm_pbx.log_tail(200)


def test_a_shared_mailbox_is_reached_with_star56_and_its_pin(vm_pbx, phone_factory, tmp_path):
    from appliance.store import open_database
    from appliance.voicemail.storage import VoicemailStore

    db = open_database(vm_pbx.data / "pbx.sqlite3")
    try:
        VoicemailStore(db, vm_pbx.data / "voicemail").create_shared("70000", "Sales", "2468")
    finally:
        db.conn.close()
    alice, bob = phone_factory.many("alice", "bob")
    vm_pbx.register(alice, "2001")
    vm_pbx.register(bob, "2002")
    leave_message(vm_pbx, alice, "*470000", 700, 2.0, tmp_path)
    wait_messages(vm_pbx, "70000", 1)

    menu = bob.call(vm_pbx.uri("*5670000"))
    menu.wait_confirmed(10)
    heard = menu.record(tmp_path / "shared.wav")
    time.sleep(1.0)
    menu.send_dtmf("2468#")
    time.sleep(2.0)
    menu.send_dtmf("1")  # listen: the envelope ("message one, received today at …"), then the 700 Hz tone
    time.sleep(15.0)
    menu.stop_recording()
    menu.hangup()
    assert audio.has_tone(heard, 700, 1.2)
    assert messages(vm_pbx, "70000")[0]["folder"] == "old"


# --- crash safety -------------------------------------------------------------------------------------------------

def test_killing_the_daemon_mid_recording_leaves_a_consistent_store(vm_pbx, phone_factory, tmp_path):
    alice = phone_factory("alice")
    vm_pbx.register(alice, "2001")
    call = alice.call(vm_pbx.uri("*42002"))
    call.wait_confirmed(10)
    time.sleep(0.5)
    call.send_dtmf("#")
    time.sleep(1.2)
    call.play_tone(700)
    time.sleep(3.0)
    vm_pbx.stop(signal.SIGKILL)  # power cut in the middle of the message
    vm_pbx.start()
    found = wait_messages(vm_pbx, "2002", 1, timeout=5)
    folder = vm_pbx.data / "voicemail" / "2002"
    files = sorted(p.name for p in folder.iterdir()) if folder.exists() else []
    # Either the salvaged message is indexed with its audio, or nothing is left at all.
    for message in found:
        assert audio_file(vm_pbx, message).exists()
        assert audio.has_tone(audio_file(vm_pbx, message), 700, 1.5)
    uids = {m["uid"] for m in found}
    assert all(name.split(".")[0] in uids for name in files), files
    assert not [n for n in files if n.endswith(".tmp")]


# --- e-mail ----------------------------------------------------------------------------------------------------

def start_mailing_pbx(pbx_factory, port: int):
    """A started pbxd that mails 2002's new messages to bob@example.com through plain SMTP on 127.0.0.1:`port`."""
    from appliance.store import SettingsStore, open_database
    from appliance.store.smtp import SmtpSettings, save_smtp

    pbx = pbx_factory()
    db = open_database(pbx.data / "pbx.sqlite3")
    try:
        save_smtp(SettingsStore(db), SmtpSettings("127.0.0.1", port, "none", "", "", "pbx@example.com"))
    finally:
        db.conn.close()
    pbx.set_extension("2002", email="bob@example.com")
    return pbx.start()


def test_a_new_message_is_mailed_with_its_wav_through_a_real_smtp_server(pbx_factory, phone_factory, tmp_path):
    from aiosmtpd.controller import Controller

    from tests.integration.test_voicemail_email import Mailbox as SmtpMailbox
    from tests.integration.test_voicemail_email import free_port, wait_for

    handler = SmtpMailbox()
    port = free_port()
    smtp = Controller(handler, hostname="127.0.0.1", port=port)
    smtp.start()
    try:
        pbx = start_mailing_pbx(pbx_factory, port)
        alice = phone_factory("alice")
        pbx.register(alice, "2001")
        leave_message(pbx, alice, "*42002", 700, 2.0, tmp_path)
        [message] = wait_messages(pbx, "2002", 1)
        wait_for(lambda: handler.received, timeout=15)
        [(recipients, mail)] = handler.received
        assert recipients == ["bob@example.com"]
        assert "2001" in mail["Subject"]
        [wav] = [part for part in mail.iter_attachments() if part.get_content_type() == "audio/wav"]
        assert wav.get_content() == audio_file(pbx, message).read_bytes()
    finally:
        smtp.stop()


def test_a_mail_server_that_is_down_delays_the_mail_without_losing_it(pbx_factory, phone_factory, tmp_path):
    from aiosmtpd.controller import Controller

    from tests.integration.test_voicemail_email import Mailbox as SmtpMailbox
    from tests.integration.test_voicemail_email import free_port, wait_for

    port = free_port()  # nothing listens there yet
    pbx = start_mailing_pbx(pbx_factory, port)
    alice = phone_factory("alice")
    pbx.register(alice, "2001")
    leave_message(pbx, alice, "*42002", 700, 2.0, tmp_path)
    wait_messages(pbx, "2002", 1)

    def queue_row() -> dict | None:
        conn = sqlite3.connect(pbx.data / "pbx.sqlite3")
        conn.row_factory = sqlite3.Row
        try:
            row = conn.execute("SELECT * FROM email_queue ORDER BY id DESC LIMIT 1").fetchone()
            return dict(row) if row else None
        finally:
            conn.close()

    wait_for(lambda: (queue_row() or {}).get("attempts", 0) >= 1, timeout=15)
    assert queue_row()["state"] == "pending" and queue_row()["last_error"]
    handler = SmtpMailbox()
    smtp = Controller(handler, hostname="127.0.0.1", port=port)
    smtp.start()
    try:
        pbx.control("mail_wake")  # what the web UI sends after the SMTP settings change
        wait_for(lambda: handler.received, timeout=20)
        # the server has the mail before the outbox hears its reply and marks the row
        wait_for(lambda: queue_row()["state"] == "sent", timeout=10)
    finally:
        smtp.stop()


def test_a_mailbox_set_to_busy_only_leaves_unanswered_calls_alone(vm_pbx, phone_factory):
    from appliance.store import ExtensionStore, open_database
    from appliance.voicemail.storage import VoicemailStore

    db = open_database(vm_pbx.data / "pbx.sqlite3")
    try:
        VoicemailStore(db, vm_pbx.data / "voicemail", find_extension=ExtensionStore(db).find).update(
            "2002", on_no_answer=False, on_unavailable=False)
    finally:
        db.conn.close()
    alice, bob = phone_factory.many("alice", "bob")
    vm_pbx.register(alice, "2001")
    vm_pbx.register(bob, "2002")
    unanswered = alice.call(vm_pbx.uri("2002"))
    bob.wait_incoming(5)
    unanswered.wait_disconnected(10)  # ring time 3 s, then 480: no mailbox for unanswered calls
    assert unanswered.last_status_code == 480
    busy = alice.call(vm_pbx.uri("2002"))
    bob.wait_incoming(5).reject(486)
    busy.wait_confirmed(10)  # busy still goes to voicemail
    busy.hangup()
