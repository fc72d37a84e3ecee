"""Call recording with the real pbxd and pjsua2 phones: record_calls, one-touch *1, the file and the call log."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from appliance.passwords import hash_password
from appliance.store import SettingsStore, open_database
from tests import audio
from tests.integration.conftest import answered_call

pytestmark = pytest.mark.integration


def recorded_pbx(pbx_factory, **changes: object):
    pbx = pbx_factory()
    for number in ("2002", "2003"):
        pbx.set_extension(number, voicemail_enabled=False)
    if changes:
        pbx.set_extension("2001", **changes)
    return pbx.start()


def wait_cdr(pbx, timeout: float = 10.0) -> dict:
    """The call's CDR; it is written once the recording (if any) is safely on disk."""
    rows = pbx.wait_cdrs(1, timeout)
    assert rows, f"no CDR written:\n{pbx.log_tail()}"
    return rows[0]


def recording_of(pbx, cdr: dict) -> Path:
    assert cdr["recording"], f"no recording in the CDR:\n{pbx.log_tail()}"
    assert not Path(cdr["recording"]).is_absolute()
    path = pbx.data / "recordings" / cdr["recording"]
    assert path.is_file()
    return path


def wav_seconds(path: Path) -> float:
    samples, rate = audio.read_wav_mono(path)
    assert rate == 8000
    return len(samples) / rate


def test_every_call_of_an_extension_with_record_calls_is_recorded_with_both_parties(pbx_factory, phone_factory):
    pbx = recorded_pbx(pbx_factory, record_calls=True)
    call, incoming, _, _ = answered_call(pbx, phone_factory)
    call.play_tone(1000)
    incoming.play_tone(1600)
    time.sleep(3.0)
    call.hangup()
    incoming.wait_disconnected(5)

    cdr = wait_cdr(pbx)
    path = recording_of(pbx, cdr)
    year_month = time.strftime("%Y/%m", time.gmtime(cdr["start"]))
    assert cdr["recording"].startswith(year_month + "/") and cdr["recording"].endswith(".wav")
    assert wav_seconds(path) == pytest.approx(cdr["end"] - cdr["answer"], abs=0.6)
    assert audio.has_tone(path, 1000, 2.0)  # what the caller said …
    assert audio.has_tone(path, 1600, 2.0)  # … and what the callee said, in one mono file
    assert not list((pbx.data / "recordings" / ".parts").iterdir())


@pytest.mark.parametrize("method", ["rfc2833", "info"])
def test_star_one_during_a_call_records_from_then_on(pbx_factory, phone_factory, method):
    pbx = recorded_pbx(pbx_factory)
    call, incoming, _, _ = answered_call(pbx, phone_factory)
    time.sleep(0.3)
    call.play_tone(700)  # said before *1: not in the recording
    time.sleep(1.5)
    call.stop_tone()
    call.send_dtmf("*1", method=method)
    assert incoming.wait_dtmf(2, 5) == "*1"  # the digits still reach the other party
    time.sleep(0.3)
    call.play_tone(1000)
    time.sleep(2.0)
    call.hangup()
    incoming.wait_disconnected(5)

    path = recording_of(pbx, wait_cdr(pbx))
    assert audio.has_tone(path, 1000, 1.5)
    assert not audio.has_tone(path, 700, 0.3)
    assert 1.8 < wav_seconds(path) < 3.5


def test_star_one_again_stops_the_recording(pbx_factory, phone_factory):
    pbx = recorded_pbx(pbx_factory)
    call, incoming, _, _ = answered_call(pbx, phone_factory)
    time.sleep(0.3)
    incoming.send_dtmf("*1")  # the callee may start it too
    assert call.wait_dtmf(2, 5) == "*1"  # the box has seen them by now (it relays them)
    time.sleep(0.2)
    incoming.play_tone(1600)
    time.sleep(1.5)
    incoming.stop_tone()
    incoming.send_dtmf("*1")
    assert call.wait_dtmf(2, 5) == "*1"
    time.sleep(0.2)
    incoming.play_tone(1000)  # after the second *1: not recorded
    time.sleep(1.5)
    call.hangup()
    incoming.wait_disconnected(5)

    path = recording_of(pbx, wait_cdr(pbx))
    assert audio.has_tone(path, 1600, 1.0)
    assert not audio.has_tone(path, 1000, 0.3)


def test_without_record_calls_or_star_one_nothing_is_recorded(pbx_factory, phone_factory):
    pbx = recorded_pbx(pbx_factory)
    call, incoming, _, _ = answered_call(pbx, phone_factory)
    call.play_tone(1000)
    time.sleep(1.5)
    call.hangup()
    incoming.wait_disconnected(5)
    cdr = wait_cdr(pbx)
    assert cdr["status"] == "answered" and cdr["recording"] is None
    assert not list((pbx.data / "recordings").glob("*/*/*.wav"))


def test_no_recording_starts_below_the_free_space_cap(pbx_factory, phone_factory):
    pbx = pbx_factory()
    pbx.set_extension("2001", record_calls=True)
    pbx.set_setting("recording.min_free_mb", 1 << 40)  # a cap no disk meets
    pbx.start()
    call, incoming, _, _ = answered_call(pbx, phone_factory)
    time.sleep(1.0)
    call.hangup()
    incoming.wait_disconnected(5)
    assert wait_cdr(pbx)["recording"] is None
    assert "not recorded, less than" in pbx.log_tail(200)


def test_the_call_log_plays_the_recording_to_the_parties(pbx_factory, phone_factory):
    from appliance.webui import create_app
    from tests.unit.webui.conftest import Client

    pbx = recorded_pbx(pbx_factory, record_calls=True)
    call, incoming, _, _ = answered_call(pbx, phone_factory)
    call.play_tone(1000)
    time.sleep(1.5)
    call.hangup()
    incoming.wait_disconnected(5)
    cdr = wait_cdr(pbx)
    path = recording_of(pbx, cdr)

    db = open_database(pbx.data / "pbx.sqlite3")
    try:
        SettingsStore(db).set("portal.enabled", True)
        for number in ("2001", "2003"):
            db.conn.execute("UPDATE extensions SET web_password_hash = ? WHERE number = ?",
                            (hash_password(f"web-{number}", log2_n=8), number))
        db.conn.commit()
    finally:
        db.conn.close()
    app = create_app({"DATA_DIR": str(pbx.data), "TESTING": True})
    party, stranger = Client(app, "192.0.2.11"), Client(app, "192.0.2.13")
    assert party.login("2001", "web-2001").status_code == 302
    assert stranger.login("2003", "web-2003").status_code == 302

    served = party.get(f"/calls/{cdr['id']}/recording")
    assert served.status_code == 200 and served.mimetype == "audio/wav"
    assert served.data == path.read_bytes()
    assert stranger.get(f"/calls/{cdr['id']}/recording").status_code == 403


# --- what the parties hear, and settings followed while pbxd runs ---------------------------------------------

BEEP_HZ, PAUSE_HZ = 1400, 900  # appliance.recording.indications.STARTED / PAUSED


def heard(path: Path, conversation: int) -> list[tuple[float, float, float]]:
    """What a phone heard, as (start, end, freq) stretches of the other party's tone and the two indications."""
    return audio.tone_segments(path, [conversation, BEEP_HZ, PAUSE_HZ], block_seconds=0.02)


def assert_indication_between_conversation(segments: list, freq: int, conversation: int, seconds: tuple) -> float:
    """One indication of `freq` lasting `seconds` (min, max) in all, with the conversation before and after
    it; returns when it started."""
    parts = [s for s in segments if s[2] == freq]
    assert parts, f"no {freq} Hz heard: {segments}"
    start, end = parts[0][0], parts[-1][1]
    assert end - start < 0.5, f"{freq} Hz spread over {start:.2f}-{end:.2f} s: {segments}"
    total = sum(e - b for b, e, _ in parts)
    assert seconds[0] <= total <= seconds[1], f"{freq} Hz heard for {total:.2f} s: {segments}"
    talk = [s for s in segments if s[2] == conversation]
    assert any(e <= start + 0.03 for _, e, _ in talk), f"no conversation before the {freq} Hz tone: {segments}"
    after = [b for b, _, _ in talk if b >= end - 0.03]
    assert after and after[0] - end < 0.15, f"the conversation did not come back after {freq} Hz: {segments}"
    return start


def test_both_parties_hear_a_beep_when_star_one_starts_recording_and_two_lower_ones_when_it_pauses(
        pbx_factory, phone_factory, tmp_path):
    pbx = recorded_pbx(pbx_factory)
    call, incoming, _, _ = answered_call(pbx, phone_factory)
    call.play_tone(1000)       # the caller talks …
    incoming.play_tone(1600)   # … and so does the callee, all the time
    alice_hears, bob_hears = call.record(tmp_path / "alice.wav"), incoming.record(tmp_path / "bob.wav")
    time.sleep(1.0)
    call.send_dtmf("*1")
    assert incoming.wait_dtmf(2, 5) == "*1"
    time.sleep(1.5)
    ends = [e for e in incoming.phone.events("dtmf_end") if e["call"] == incoming.id]
    assert [(e["digit"], e["duration"]) for e in ends] == [("*", 160), ("1", 160)]  # not cut short by the beep
    incoming.send_dtmf("*1")   # the callee pauses it
    assert call.wait_dtmf(2, 5) == "*1"
    time.sleep(1.5)
    call.stop_recording()
    incoming.stop_recording()
    call.hangup()
    incoming.wait_disconnected(5)

    for path, conversation in ((alice_hears, 1600), (bob_hears, 1000)):
        segments = heard(path, conversation)
        started = assert_indication_between_conversation(segments, BEEP_HZ, conversation, (0.1, 0.3))
        # two 100 ms beeps: each of their four edges may add a 20 ms detection block
        paused = assert_indication_between_conversation(segments, PAUSE_HZ, conversation, (0.08, 0.3))
        assert 1.0 < paused - started < 3.0, segments
    path = recording_of(pbx, wait_cdr(pbx))
    assert audio.has_tone(path, 1000, 1.0) and not audio.has_tone(path, BEEP_HZ, 0.06)  # the beep is not recorded


def wait_log(pbx, text: str, timeout: float = 5.0) -> None:
    """pbxd follows a settings change by itself within a second (no reload sent): wait for it to say so."""
    deadline = time.monotonic() + timeout
    while text not in pbx.log_tail(400):
        assert time.monotonic() < deadline, f"pbxd did not log {text!r}:\n{pbx.log_tail()}"
        time.sleep(0.1)


def test_a_changed_record_code_applies_to_the_next_call_without_a_restart(pbx_factory, phone_factory):
    pbx = recorded_pbx(pbx_factory)
    pid = pbx.proc.pid
    pbx.set_setting("feature.record_toggle", "*3")  # what an admin's change does; no reload asked
    wait_log(pbx, "feature codes now: profile coovox, record_toggle *3")

    call, incoming, _, _ = answered_call(pbx, phone_factory)
    time.sleep(0.3)
    call.send_dtmf("*1")       # the old code: nothing starts
    assert incoming.wait_dtmf(2, 5) == "*1"
    call.play_tone(700)
    time.sleep(1.2)
    call.stop_tone()
    call.send_dtmf("*3")       # the new one
    assert incoming.wait_dtmf(2, 5) == "*3"
    time.sleep(0.3)
    call.play_tone(1000)
    time.sleep(1.5)
    call.hangup()
    incoming.wait_disconnected(5)

    path = recording_of(pbx, wait_cdr(pbx))
    assert audio.has_tone(path, 1000, 1.2)
    assert not audio.has_tone(path, 700, 0.3)  # *1 did not start it
    assert pbx.proc.pid == pid and "dialled *3: recording started" in pbx.log_tail(400)


def test_announcement_and_cap_switched_on_while_pbxd_runs_apply_to_the_next_calls(pbx_factory, phone_factory,
                                                                                  tmp_path):
    pbx = recorded_pbx(pbx_factory, record_calls=True)
    pbx.set_setting("recording.announce", True)
    wait_log(pbx, "recording settings now RecordingSettings(min_free_mb=200, announce=True)")

    call, incoming, _, _ = answered_call(pbx, phone_factory)
    call.play_tone(1000)
    incoming.play_tone(1600)
    alice_hears, bob_hears = call.record(tmp_path / "alice.wav"), incoming.record(tmp_path / "bob.wav")
    time.sleep(2.0)
    call.stop_recording()
    incoming.stop_recording()
    call.hangup()
    incoming.wait_disconnected(5)
    for path, conversation in ((alice_hears, 1600), (bob_hears, 1000)):
        assert_indication_between_conversation(heard(path, conversation), BEEP_HZ, conversation, (0.1, 0.3))
    assert wait_cdr(pbx)["recording"]

    pbx.set_setting("recording.min_free_mb", 1 << 40)  # a cap no disk meets
    wait_log(pbx, "recording settings now RecordingSettings(min_free_mb=1099511627776")
    call = call.phone.call(pbx.uri("2002"))
    incoming = incoming.phone.wait_incoming(5)
    incoming.answer()
    call.wait_confirmed(5)
    time.sleep(1.0)
    call.hangup()
    incoming.wait_disconnected(5)
    rows = pbx.wait_cdrs(2, 10)
    assert len(rows) == 2 and rows[1]["recording"] is None, pbx.log_tail()
    assert "not recorded, less than 1099511627776 MB free" in pbx.log_tail(200)
