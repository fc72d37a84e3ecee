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
