"""The control socket and the command line against a running daemon: status, click-to-call, hang-up, edits."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from tests import audio
from tests.integration.pbx import ROOT
from tests.integration.conftest import answered_call

pytestmark = pytest.mark.integration


def test_status_shows_registrations_and_calls(pbx, phone_factory):
    alice, bob = phone_factory.many("alice", "bob")
    pbx.register(alice, "2001")
    pbx.register(bob, "2002")
    call = alice.call(pbx.uri("2002"))
    bob.wait_incoming(5).answer()
    call.wait_confirmed(5)

    status = pbx.control("status")
    [live] = status["calls"]
    assert (live["caller"], live["called"], live["state"]) == ("2001", "2002", "answered")
    states = {e["number"]: e["status"] for e in status["extensions"]}
    assert states["2001"] == states["2002"] == "in use" and states["2003"] == "unavailable"

    assert set(status["health"]) >= {"temperature", "rtc"}  # no I2C bus on a test host: reported absent
    printed = pbx.cli("status").stdout
    assert "2001" in printed and "2002" in printed and "answered" in printed and "temperature" in printed
    call.hangup()


def test_click_to_call_rings_the_users_phone_first_then_the_target(pbx, phone_factory, tmp_path):
    alice, bob = phone_factory.many("alice", "bob")
    pbx.register(alice, "2001")
    pbx.register(bob, "2002")
    reply = pbx.control("originate", extension="2001", target="2002")
    assert reply["ok"]

    own_phone = alice.wait_incoming(5)  # the user's own phone rings first
    assert "2002" in own_phone.remote_uri
    own_phone.answer()
    target = bob.wait_incoming(5)
    assert "2001" in target.remote_uri
    target.answer()
    target.wait_confirmed(5)
    own_phone.play_tone(1000)
    heard = target.record(tmp_path / "bob.wav")
    time.sleep(1.2)
    target.stop_recording()
    assert audio.has_tone(heard, 1000, 0.6)
    target.hangup()
    own_phone.wait_disconnected(5)
    [cdr] = pbx.wait_cdrs(1)
    assert (cdr["caller"], cdr["final_called"], cdr["status"]) == ("2001", "2002", "answered")


def test_click_to_call_for_an_unregistered_user_is_an_error(pbx):
    reply = pbx.control("originate", extension="2003", target="2002")
    assert not reply["ok"] and "registered" in reply["error"]


def test_hangup_from_the_control_socket_ends_both_legs(pbx, phone_factory):
    call, incoming, alice, bob = answered_call(pbx, phone_factory)
    [live] = pbx.control("status")["calls"]
    assert pbx.control("hangup", call=live["id"])["hung_up"]
    call.wait_disconnected(5)
    incoming.wait_disconnected(5)


def test_extensions_added_and_deleted_while_running_take_effect_at_once(pbx, phone_factory):
    pbx.cli("ext", "add", "2010", "--name", "New Hire", "--secret", "new-hire-secret")
    phone = phone_factory("newbie")
    phone.register(pbx.address, "2010", "new-hire-secret")
    phone.wait_registered(5)
    pbx.cli("ext", "del", "2010")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if not any(r["extension"] == "2010" for r in pbx.control("status")["registrations"]):
            break
        time.sleep(0.2)
    else:
        raise AssertionError("the deleted extension is still registered")


def test_a_second_daemon_on_the_same_data_directory_refuses_to_start(pbx):
    result = subprocess.run([sys.executable, "-m", "appliance", "run", "--data", str(pbx.data), "--bind",
                             "127.0.0.1", "--sip-port", "0", "--tls-port", "0"],
                            cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert "already in use by another pbxd" in result.stderr
    assert pbx.control("ping")["ok"]


def test_bad_arguments_exit_non_zero_without_creating_a_database(tmp_path):
    data = tmp_path / "untouched"
    for args in (["run", "--sip-port", "99999"], ["run", "--rtp-ports", "30000-20000"], ["ext", "add", "12a"]):
        result = subprocess.run([sys.executable, "-m", "appliance", *args, "--data", str(data)],
                                cwd=ROOT, capture_output=True, text=True, timeout=30)
        assert result.returncode != 0 and result.stderr.strip(), args
    assert not (data / "pbx.sqlite3").exists()
