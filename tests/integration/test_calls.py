"""Calls between extensions through the B2BUA, with real pjsua2 phones and audio checked at the far end."""

from __future__ import annotations

import time

import pytest

from tests import audio
from tests.integration.conftest import answered_call

pytestmark = pytest.mark.integration


@pytest.fixture
def pbx(pbx_factory):
    """These tests are about the B2BUA itself: callees have voicemail off, so busy is 486, not a mailbox."""
    pbx = pbx_factory()
    voicemail_off(pbx)
    return pbx.start()


def voicemail_off(pbx, *numbers: str) -> None:
    for number in numbers or ("2002", "2003"):
        pbx.set_extension(number, voicemail_enabled=False)


def test_call_between_two_extensions_carries_audio_both_ways_and_writes_a_cdr(pbx, phone_factory, tmp_path):
    alice, bob = phone_factory.many("alice", "bob")
    pbx.register(alice, "2001")
    pbx.register(bob, "2002")

    call = alice.call(pbx.uri("2002"))
    incoming = bob.wait_incoming(5)
    assert "2001" in incoming.remote_uri
    incoming.answer()
    call.wait_confirmed(5)
    incoming.wait_confirmed(5)

    call.play_tone(1000)
    incoming.play_tone(1600)
    heard_by_alice = call.record(tmp_path / "alice.wav")
    heard_by_bob = incoming.record(tmp_path / "bob.wav")
    time.sleep(1.5)
    call.stop_recording()
    incoming.stop_recording()
    call.hangup()
    incoming.wait_disconnected(5)

    assert audio.has_tone(heard_by_bob, 1000, 0.8)
    assert not audio.has_tone(heard_by_bob, 1600, 0.3)
    assert audio.has_tone(heard_by_alice, 1600, 0.8)
    assert not audio.has_tone(heard_by_alice, 1000, 0.3)

    [cdr] = pbx.wait_cdrs(1)
    assert (cdr["caller"], cdr["called"], cdr["final_called"]) == ("2001", "2002", "2002")
    assert (cdr["type"], cdr["status"]) == ("internal", "answered")
    assert cdr["answer"] is not None and cdr["end"] >= cdr["answer"] >= cdr["start"]
    assert cdr["duration"] >= 1


def test_callee_hanging_up_ends_the_callers_leg(pbx, phone_factory):
    call, incoming, alice, bob = answered_call(pbx, phone_factory)
    incoming.hangup()
    call.wait_disconnected(5)
    [cdr] = pbx.wait_cdrs(1)
    assert cdr["status"] == "answered" and cdr["hangup_cause"] == "callee hangup"


def test_call_forks_to_every_device_and_the_first_answer_wins(pbx, phone_factory):
    alice, desk, app = phone_factory.many("alice", "desk", "app")
    pbx.register(alice, "2001")
    pbx.register(desk, "2002")
    pbx.register(app, "2002")

    call = alice.call(pbx.uri("2002"))
    on_desk = desk.wait_incoming(5)
    on_app = app.wait_incoming(5)
    on_app.answer()
    call.wait_confirmed(5)
    on_desk.wait_disconnected(5)  # the desk phone got CANCEL
    assert on_desk.last_status_code == 487
    assert on_app.state == "confirmed"
    call.hangup()
    on_app.wait_disconnected(5)
    [cdr] = pbx.wait_cdrs(1)
    assert cdr["status"] == "answered"


def test_busy_from_every_device_gives_the_caller_486(pbx, phone_factory):
    alice, desk, app = phone_factory.many("alice", "desk", "app")
    pbx.register(alice, "2001")
    pbx.register(desk, "2002")
    pbx.register(app, "2002")
    call = alice.call(pbx.uri("2002"))
    desk.wait_incoming(5).reject(486)
    time.sleep(0.3)
    assert call.state != "disconnected"  # the other device still rings
    app.wait_incoming(5).reject(486)
    call.wait_disconnected(5)
    assert call.last_status_code == 486
    [cdr] = pbx.wait_cdrs(1)
    assert cdr["status"] == "busy"


def test_unanswered_call_times_out_and_the_devices_stop_ringing(pbx_factory, phone_factory):
    pbx = pbx_factory()
    pbx.set_setting("ring_timeout", 3)
    voicemail_off(pbx)
    pbx.start()
    alice, bob = phone_factory.many("alice", "bob")
    pbx.register(alice, "2001")
    pbx.register(bob, "2002")
    started = time.monotonic()
    call = alice.call(pbx.uri("2002"))
    ringing = bob.wait_incoming(5)
    call.wait_disconnected(8)
    assert 2.5 < time.monotonic() - started < 6
    assert call.last_status_code == 480
    ringing.wait_disconnected(5)
    [cdr] = pbx.wait_cdrs(1)
    assert cdr["status"] == "no answer" and cdr["answer"] is None


def test_calling_an_unregistered_extension_gives_480(pbx, phone_factory):
    alice = phone_factory("alice")
    pbx.register(alice, "2001")
    call = alice.call(pbx.uri("2003"))
    call.wait_disconnected(5)
    assert call.last_status_code == 480
    [cdr] = pbx.wait_cdrs(1)
    assert cdr["status"] == "failed"


def test_calling_an_unknown_number_gives_404(pbx, phone_factory):
    alice = phone_factory("alice")
    pbx.register(alice, "2001")
    call = alice.call(pbx.uri("7777"))
    call.wait_disconnected(5)
    assert call.last_status_code == 404


def test_caller_cancelling_stops_the_ringing_devices(pbx, phone_factory):
    alice, bob = phone_factory.many("alice", "bob")
    pbx.register(alice, "2001")
    pbx.register(bob, "2002")
    call = alice.call(pbx.uri("2002"))
    ringing = bob.wait_incoming(5)
    time.sleep(0.3)
    call.hangup()
    call.wait_disconnected(5)
    ringing.wait_disconnected(5)
    assert ringing.last_status_code == 487
    [cdr] = pbx.wait_cdrs(1)
    assert cdr["status"] == "no answer" and cdr["hangup_cause"] == "caller cancelled"


def test_hold_plays_music_to_the_other_party_and_resume_restores_the_conversation(pbx, phone_factory, tmp_path):
    call, incoming, alice, bob = answered_call(pbx, phone_factory)
    call.play_tone(1000)

    call.hold()
    time.sleep(0.5)  # the re-INVITE is answered and music starts
    on_hold = incoming.record(tmp_path / "on_hold.wav")
    time.sleep(2.0)
    incoming.stop_recording()
    # Bob hears the music on hold (its notes), not Alice's tone.
    assert any(audio.has_tone(on_hold, f, 0.2) for f in (523, 659, 784, 1047))
    assert not audio.has_tone(on_hold, 1000, 0.3)

    call.unhold()
    time.sleep(0.5)
    resumed = incoming.record(tmp_path / "resumed.wav")
    time.sleep(1.5)
    incoming.stop_recording()
    assert audio.has_tone(resumed, 1000, 0.8)
    call.hangup()
    incoming.wait_disconnected(5)


@pytest.mark.parametrize("method", ["rfc2833", "info"])
def test_dtmf_from_the_caller_reaches_the_callee(pbx, phone_factory, method):
    call, incoming, alice, bob = answered_call(pbx, phone_factory)
    time.sleep(0.3)
    call.send_dtmf("1234#", method=method)
    assert incoming.wait_dtmf(5, 5) == "1234#"
    call.hangup()


def _talk(call, incoming, tmp_path, tag: str) -> tuple:
    call.play_tone(1000)
    incoming.play_tone(1600)
    heard_by_caller = call.record(tmp_path / f"{tag}-caller.wav")
    heard_by_callee = incoming.record(tmp_path / f"{tag}-callee.wav")
    time.sleep(1.5)
    call.stop_recording()
    incoming.stop_recording()
    return heard_by_caller, heard_by_callee


@pytest.mark.parametrize("caller_codec,callee_codec", [("PCMU", "PCMA"), ("PCMA", "G722"), ("G722", "G722")])
def test_each_leg_gets_its_own_codec_and_audio_is_transcoded(pbx, phone_factory, tmp_path, caller_codec,
                                                              callee_codec):
    alice = phone_factory("alice", codecs=[caller_codec])
    bob = phone_factory("bob", codecs=[callee_codec])
    pbx.register(alice, "2001")
    pbx.register(bob, "2002")
    call = alice.call(pbx.uri("2002"))
    incoming = bob.wait_incoming(5)
    incoming.answer()
    call.wait_media("active", 5)
    incoming.wait_media("active", 5)
    assert call.codec.startswith(caller_codec) and incoming.codec.startswith(callee_codec)
    heard_by_caller, heard_by_callee = _talk(call, incoming, tmp_path, "codec")
    assert audio.has_tone(heard_by_callee, 1000, 0.8)
    assert audio.has_tone(heard_by_caller, 1600, 0.8)
    call.hangup()


def test_early_media_from_the_callee_reaches_the_caller_before_the_answer(pbx, phone_factory, tmp_path):
    alice, bob = phone_factory.many("alice", "bob")
    pbx.register(alice, "2001")
    pbx.register(bob, "2002")
    call = alice.call(pbx.uri("2002"))
    incoming = bob.wait_incoming(5)
    incoming.ringing(183)  # 183 Session Progress with SDP: early media
    incoming.wait_media("active", 5)
    incoming.play_tone(1600)
    call.wait_media("active", 5)
    early = call.record(tmp_path / "early.wav")
    time.sleep(1.5)
    call.stop_recording()
    assert call.state != "confirmed"
    assert audio.has_tone(early, 1600, 0.8)
    incoming.answer()
    call.wait_confirmed(5)
    call.hangup()


def test_an_update_with_a_new_offer_keeps_the_call_and_its_audio(pbx, phone_factory, tmp_path):
    call, incoming, alice, bob = answered_call(pbx, phone_factory)
    call.update()
    time.sleep(0.5)
    assert call.state == "confirmed" and incoming.state == "confirmed"
    heard_by_caller, heard_by_callee = _talk(call, incoming, tmp_path, "update")
    assert audio.has_tone(heard_by_callee, 1000, 0.8) and audio.has_tone(heard_by_caller, 1600, 0.8)
    call.hangup()


def test_an_extension_on_do_not_disturb_is_busy_but_can_still_call_out(pbx, phone_factory):
    from appliance.store import ExtensionStore, open_database

    alice, bob = phone_factory.many("alice", "bob")
    pbx.register(alice, "2001")
    pbx.register(bob, "2002")
    db = open_database(pbx.data / "pbx.sqlite3")
    ExtensionStore(db).update("2002", dnd=True)
    db.conn.close()
    pbx.control("reload")
    call = alice.call(pbx.uri("2002"))
    call.wait_disconnected(5)
    assert call.last_status_code == 486
    outgoing = bob.call(pbx.uri("2001"))  # DND never stops outgoing calls
    alice.wait_incoming(5).answer()
    outgoing.wait_confirmed(5)
    outgoing.hangup()
