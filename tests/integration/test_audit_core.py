"""Audit of issues 2 and 3 against the real daemon: behaviours that were implemented but not checked end to end.

rport/received on responses (RFC 3581), ringback heard by the user's own phone in click-to-call, voicemail
for an unregistered extension, a message made of a tone sequence stored with the right length and order,
and the mailbox's maximum message length enforced by the box.
"""

from __future__ import annotations

import time

import pytest

from tests import audio
from tests.integration.test_voicemail import audio_file, wait_messages
from tests.sip_client import SipClient

pytestmark = pytest.mark.integration


def start_message(pbx, caller, number: str, tone: int):
    """The caller dials `number` (straight to voicemail), skips the greeting with #, waits for the beep
    and starts playing `tone`; the call is left running (test_voicemail.leave_message also hangs up)."""
    call = caller.call(pbx.uri(number))
    call.wait_confirmed(10)
    time.sleep(0.5)
    call.send_dtmf("#")
    time.sleep(1.2)  # the beep
    call.play_tone(tone)
    return call


def test_responses_carry_rport_and_received_and_go_where_the_request_came_from(pbx):
    with SipClient(pbx.sip_port) as client:
        # The Via names a port nobody listens on: the answer must still come back to our socket (rport).
        via = f"SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKaudit{int(time.monotonic() * 1000)};rport"
        client.request("OPTIONS", f"sip:{pbx.address}", headers=[("Via", via)])
        response = client.expect_response(200)
    top = response.header("Via")
    assert f"rport={client.local_port}" in top and "received=127.0.0.1" in top


def test_click_to_call_plays_ringback_to_the_users_phone_while_the_target_rings(pbx, phone_factory, tmp_path):
    alice, bob = phone_factory.many("alice", "bob")
    pbx.register(alice, "2001")
    pbx.register(bob, "2002")
    assert pbx.control("originate", extension="2001", target="2002")["ok"]
    own = alice.wait_incoming(5)
    own.answer()
    ringing = bob.wait_incoming(5)
    ringing.ringing(180)  # test phones send no 180 by themselves
    own.wait_media("active", 5)
    heard = own.record(tmp_path / "ringback.wav")
    time.sleep(2.5)
    own.stop_recording()
    assert audio.has_tone(heard, 440, 0.8) and audio.has_tone(heard, 480, 0.8)  # the box's (US) ringback
    ringing.answer()
    ringing.wait_confirmed(5)
    own.hangup()
    ringing.wait_disconnected(5)


def test_an_unregistered_extension_takes_messages_with_the_unavailable_greeting(vm_pbx, phone_factory, tmp_path):
    from appliance.prompts import PromptLibrary
    from tests.prompt_audio import find_prompts

    alice = phone_factory("alice")
    vm_pbx.register(alice, "2001")
    call = alice.call(vm_pbx.uri("2003"))  # 2003 has no device registered
    call.wait_confirmed(10)
    call.wait_media("active", 5)
    greeting = call.record(tmp_path / "greeting.wav")
    time.sleep(6.5)  # past "unavailable" (~4.8 s), well before the greeting ends (~10 s)
    call.stop_recording()
    said = find_prompts(greeting, PromptLibrary(), "en", ["vm_person_at_extension", "vm_unavailable", "vm_busy"])
    assert "vm_person_at_extension" in said and "vm_unavailable" in said and "vm_busy" not in said
    call.send_dtmf("#")
    time.sleep(1.2)
    call.play_tone(800)
    time.sleep(2.0)
    call.hangup()
    [message] = wait_messages(vm_pbx, "2003", 1)
    assert message["caller"] == "2001"
    assert audio.has_tone(audio_file(vm_pbx, message), 800, 1.2)


def test_a_tone_sequence_message_is_stored_whole_in_order_with_its_length(vm_pbx, phone_factory, tmp_path):
    alice, bob = phone_factory.many("alice", "bob")
    vm_pbx.register(alice, "2001")
    vm_pbx.register(bob, "2002")
    call = alice.call(vm_pbx.uri("2002"))
    bob.wait_incoming(5)  # rings 3 s unanswered, then voicemail
    call.wait_confirmed(15)
    call.wait_media("active", 5)
    time.sleep(0.5)
    call.send_dtmf("#")
    time.sleep(1.2)  # the beep
    for freq in (500, 1300, 900):
        call.play_tone(freq)
        time.sleep(1.5)
    call.hangup()
    [message] = wait_messages(vm_pbx, "2002", 1)
    stored = audio_file(vm_pbx, message)
    samples, rate = audio.read_wav_mono(stored)
    assert rate == 8000
    wav_seconds = len(samples) / rate
    assert abs(wav_seconds - message["duration"]) < 0.1  # the index agrees with the audio
    assert 4.0 <= wav_seconds <= 6.5  # 4.5 s of tones, give or take the beep and the hang-up
    segments = audio.tone_segments(stored, [500, 1300, 900], bridge_gaps=0.2)
    longest = {f: max((e - b for b, e, g in segments if g == f), default=0.0) for f in (500, 1300, 900)}
    assert all(seconds >= 1.0 for seconds in longest.values()), longest
    first = {f: min(b for b, e, g in segments if g == f and e - b >= 1.0) for f in (500, 1300, 900)}
    assert first[500] < first[1300] < first[900], first


def test_a_message_longer_than_the_mailbox_allows_is_cut_at_the_limit(vm_pbx, phone_factory, tmp_path):
    from appliance.store import ExtensionStore, open_database
    from appliance.voicemail.storage import VoicemailStore

    db = open_database(vm_pbx.data / "pbx.sqlite3")
    try:
        VoicemailStore(db, vm_pbx.data / "voicemail", find_extension=ExtensionStore(db).find).update(
            "2003", max_seconds=3)
    finally:
        db.conn.close()
    alice = phone_factory("alice")
    vm_pbx.register(alice, "2001")
    call = start_message(vm_pbx, alice, "*42003", 700)
    call.wait_disconnected(10)  # the box ends the call at the limit; the caller never hangs up
    [message] = wait_messages(vm_pbx, "2003", 1)
    assert 2.5 <= message["duration"] <= 3.3
    assert audio.has_tone(audio_file(vm_pbx, message), 700, 1.5)


def test_a_recording_cut_by_sigkill_is_salvaged_and_indexed_at_restart(vm_pbx, phone_factory):
    """Stronger than "consistent": a process kill (not a power cut) leaves the recorded audio in the page
    cache, so recovery must index it as a message rather than drop it."""
    import signal

    alice = phone_factory("alice")
    vm_pbx.register(alice, "2001")
    start_message(vm_pbx, alice, "*42002", 700)
    time.sleep(3.5)
    vm_pbx.stop(signal.SIGKILL)
    vm_pbx.start()
    [message] = wait_messages(vm_pbx, "2002", 1, timeout=5)
    assert message["caller"] == "2001" and message["folder"] == "new" and message["duration"] >= 2.0
    assert audio.has_tone(audio_file(vm_pbx, message), 700, 1.5)
    folder = vm_pbx.data / "voicemail" / "2002"
    assert not [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_a_trusted_own_device_hears_its_counts_without_a_pin(pbx_factory, phone_factory, tmp_path):
    from appliance.prompts import PromptLibrary
    from tests.prompt_audio import find_prompts

    pbx = pbx_factory()
    pbx.set_setting("voicemail.trust_own_device", True)
    pbx.start()
    bob = phone_factory("bob")
    pbx.register(bob, "2002")
    menu = bob.call(pbx.uri("*61"))
    menu.wait_confirmed(10)
    heard = menu.record(tmp_path / "menu.wav")
    time.sleep(5.0)
    menu.stop_recording()
    menu.hangup()
    said = find_prompts(heard, PromptLibrary(), "en", ["vm_enter_pin", "vm_default_pin", "you_have"])
    assert said and said[0] == "you_have" and "vm_enter_pin" not in said
