"""DTMF: Q.24-style detection and talk-off rejection, and RFC 4733 telephone events."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from appliance.media.dtmf import (
    EVENTS,
    DtmfDetector,
    DtmfReceiver,
    DtmfSender,
    TelephoneEvent,
    digit_frequencies,
    event_code,
)
from appliance.media.rtp import RtpPacket
from appliance.media.tones import dbm0_to_peak

RATE = 8000
ALL_DIGITS = "123A456B789C*0#D"


def dtmf(digit: str, ms: float, level_dbm0: float = -10.0, twist_db: float = 0.0,
         freq_error: float = 0.0) -> np.ndarray:
    """A digit; positive twist_db puts the column (high) tone that many dB below the row tone."""
    row, col = digit_frequencies(digit)
    t = np.arange(int(ms * RATE / 1000)) / RATE
    a_row = dbm0_to_peak(level_dbm0)
    a_col = dbm0_to_peak(level_dbm0 - twist_db)
    f = 1 + freq_error
    return a_row * np.sin(2 * np.pi * row * f * t) + a_col * np.sin(2 * np.pi * col * f * t + 1.0)


def silence(ms: float) -> np.ndarray:
    return np.zeros(int(ms * RATE / 1000))


def to_pcm(x: np.ndarray, noise_dbm0: float | None = None, seed: int = 0) -> np.ndarray:
    if noise_dbm0 is not None:
        rms = dbm0_to_peak(noise_dbm0) / np.sqrt(2)
        x = x + np.random.default_rng(seed).normal(0, rms, x.size)
    return np.clip(np.rint(x), -32768, 32767).astype(np.int16)


def detect(pcm: np.ndarray, frame: int = 160, **kwargs) -> str:
    det = DtmfDetector(**kwargs)
    return "".join(d for i in range(0, pcm.size, frame) for d in det.feed(pcm[i:i + frame]))


def sequence(digits: str, on_ms: float = 50, off_ms: float = 50, **kwargs) -> np.ndarray:
    parts = [silence(23)]
    for d in digits:
        parts += [dtmf(d, on_ms, **kwargs), silence(off_ms)]
    return np.concatenate(parts)


def test_all_16_digits_are_detected():
    assert detect(to_pcm(sequence(ALL_DIGITS))) == ALL_DIGITS


@pytest.mark.parametrize("level", [0.0, -6.0, -12.0, -20.0, -26.0])
def test_levels_from_0_to_minus_26_dbm0_with_noise(level):
    pcm = to_pcm(sequence(ALL_DIGITS, level_dbm0=level), noise_dbm0=level - 20, seed=int(-level))
    assert detect(pcm) == ALL_DIGITS


@pytest.mark.parametrize("twist", [-4.0, -2.0, 3.0, 6.0, 8.0])
def test_twist_within_limits_is_accepted(twist):
    pcm = to_pcm(sequence(ALL_DIGITS, level_dbm0=-8, twist_db=twist), noise_dbm0=-35)
    assert detect(pcm) == ALL_DIGITS


@pytest.mark.parametrize("twist", [-9.0, 13.0])
def test_excessive_twist_is_rejected(twist):
    assert detect(to_pcm(sequence(ALL_DIGITS, level_dbm0=-8, twist_db=twist))) == ""


def test_too_weak_digits_are_ignored():
    assert detect(to_pcm(sequence(ALL_DIGITS, level_dbm0=-40))) == ""


@pytest.mark.parametrize("offset_ms", [0, 3, 6.4, 9, 12.7])
def test_40ms_digits_with_40ms_pauses_are_all_detected(offset_ms):
    pcm = to_pcm(np.concatenate([silence(offset_ms), sequence("1122334455*#00", on_ms=40, off_ms=40)]),
                 noise_dbm0=-40)
    assert detect(pcm) == "1122334455*#00"


@pytest.mark.parametrize("offset_ms", [0, 2, 4, 6, 8, 10, 12])
def test_bursts_of_20ms_or_less_are_rejected(offset_ms):
    pcm = to_pcm(np.concatenate([silence(offset_ms), sequence("159", on_ms=20, off_ms=60)]))
    assert detect(pcm) == ""


def test_long_digit_with_a_dropout_is_reported_once():
    tone = dtmf("5", 2000)
    tone[8000:8080] = 0  # a 10 ms dropout in the middle, as a lost packet concealed by silence
    assert detect(to_pcm(np.concatenate([tone, silence(100)]), noise_dbm0=-35)) == "5"


def test_frequency_deviation_of_1_5_percent_is_accepted():
    for err in (-0.015, 0.015):
        assert detect(to_pcm(sequence(ALL_DIGITS, freq_error=err))) == ALL_DIGITS


def test_frame_size_does_not_matter():
    pcm = to_pcm(sequence("0123456789"), noise_dbm0=-40)
    assert detect(pcm, frame=1) == detect(pcm, frame=77) == detect(pcm, frame=1000) == "0123456789"


@pytest.mark.parametrize("freq", [1000.0, *[f for d in "1D" for f in digit_frequencies(d)], 941.0, 1209.0])
def test_single_tones_do_not_talk_off(freq):
    t = np.arange(RATE * 3) / RATE
    assert detect(to_pcm(dbm0_to_peak(-5) * np.sin(2 * np.pi * freq * t))) == ""


def test_speech_like_noise_does_not_talk_off():
    rng = np.random.default_rng(1)
    n = RATE * 20
    # Voiced segments: a 100-200 Hz glottal pulse train through two formant resonators,
    # syllable-rate envelope, plus unvoiced noise; a crude but honest stand-in for speech.
    t = np.arange(n) / RATE
    f0 = 100 + 60 * np.sin(2 * np.pi * 0.7 * t) + 20 * rng.standard_normal(n).cumsum() / np.sqrt(n)
    pulses = (np.diff(np.floor(np.cumsum(f0 / RATE)), prepend=0) > 0).astype(float)
    x = pulses + 0.05 * rng.standard_normal(n)
    for formant, bw in ((500 + 300 * np.sin(2 * np.pi * 0.9 * t), 80.0),
                        (1500 + 600 * np.sin(2 * np.pi * 1.3 * t), 120.0)):
        r = np.exp(-np.pi * bw / RATE)
        y = np.zeros(n)
        c1 = 2 * r * np.cos(2 * np.pi * formant / RATE)
        y1 = y2 = 0.0
        for i in range(n):  # test-only reference filter
            y0 = x[i] + c1[i] * y1 - r * r * y2
            y[i] = y0
            y2, y1 = y1, y0
        x = x + y
    envelope = np.clip(np.sin(2 * np.pi * 3.0 * t + rng.uniform(0, 6)), 0, None) ** 0.5
    speech = x * envelope
    speech *= dbm0_to_peak(-6) / np.abs(speech).max()
    assert detect(to_pcm(speech)) == ""


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
@pytest.mark.parametrize("voice", ["en", "en-us+f3", "de", "fr", "zh"])
def test_synthesised_speech_does_not_talk_off(tmp_path, voice):
    from appliance.media.wav import read_wav

    text = ("The quick brown fox jumps over the lazy dog. Please leave a message after the tone; "
            "press one for sales, two for support, star to repeat. Eins zwei drei vier fünf sechs.")
    path = tmp_path / "speech.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), text], check=True, capture_output=True)
    speech = read_wav(path).astype(np.float64)
    for gain in (0.5, 1.0, 3.0):
        assert detect(to_pcm(speech * gain)) == ""


def test_white_noise_does_not_talk_off():
    assert detect(to_pcm(np.zeros(RATE * 20), noise_dbm0=-10, seed=5)) == ""


# --------------------------------------------------------------------------- RFC 4733

def test_telephone_event_payload_layout():
    # RFC 4733 §2.3: digit 5, end bit, volume 10, duration 800.
    ev = TelephoneEvent(event=5, end=True, volume=10, duration=800)
    assert ev.serialize() == bytes([5, 0x80 | 10, 0x03, 0x20])
    assert TelephoneEvent.parse(ev.serialize()) == ev
    assert TelephoneEvent.parse(bytes([11, 0x40 | 7, 0, 160])) == TelephoneEvent(11, False, 7, 160)  # R ignored
    assert ev.digit == "5" and TelephoneEvent(16).digit is None


def test_telephone_event_rejects_short_or_out_of_range():
    with pytest.raises(ValueError):
        TelephoneEvent.parse(b"\x01\x02")
    with pytest.raises(ValueError):
        TelephoneEvent(1, volume=64).serialize()


def test_event_codes():
    assert [event_code(d) for d in "0123456789*#ABCD"] == list(range(16))
    assert event_code("a") == 12
    with pytest.raises(ValueError):
        event_code("E")


def test_sender_marks_first_packet_and_repeats_end_three_times():
    pkts = list(DtmfSender().packets("7", timestamp=1000, duration_ms=100))
    events = [TelephoneEvent.parse(p.payload) for p in pkts]
    assert [p.marker for p in pkts] == [True] + [False] * 6
    assert [e.duration for e in events] == [160, 320, 480, 640, 800, 800, 800]
    assert [e.end for e in events] == [False] * 4 + [True] * 3
    assert {p.timestamp for p in pkts} == {1000}
    assert {e.event for e in events} == {7}


def test_sender_rejects_events_too_long_for_one_packet_series():
    with pytest.raises(ValueError):
        list(DtmfSender().packets("1", 0, duration_ms=9000))


def _rtp(pkt, seq, ssrc=9):
    return RtpPacket(101, seq, pkt.timestamp, ssrc, pkt.payload, pkt.marker)


def test_sender_to_receiver_with_duplicated_end_packets_gives_each_digit_once():
    sender, receiver = DtmfSender(), DtmfReceiver()
    seq, ts, got = 0, 0, []
    for digit in "159#" + "55":
        for pkt in sender.packets(digit, ts, 120):
            for _ in range(2):  # every packet duplicated by the network
                d = receiver.feed(_rtp(pkt, seq))
                if d:
                    got.append(d)
            seq += 1
        ts += sender.duration_samples(120) + 400
    assert "".join(got) == "159#55"


def test_receiver_reports_digit_even_if_only_end_packets_arrive():
    receiver = DtmfReceiver()
    pkts = [p for p in DtmfSender().packets("*", 5000, 100) if p.end]
    assert [receiver.feed(_rtp(p, i)) for i, p in enumerate(pkts)] == ["*", None, None]


def test_receiver_keeps_sources_apart_and_ignores_reordered_old_event():
    receiver = DtmfReceiver()
    a = list(DtmfSender().packets("1", 100, 60))
    b = list(DtmfSender().packets("2", 100, 60))
    assert receiver.feed(_rtp(a[0], 1, ssrc=1)) == "1"
    assert receiver.feed(_rtp(b[0], 1, ssrc=2)) == "2"
    c = list(DtmfSender().packets("3", 2000, 60))
    assert receiver.feed(_rtp(c[0], 5, ssrc=1)) == "3"
    assert receiver.feed(_rtp(a[-1], 4, ssrc=1)) is None  # late end of the first event


def test_long_event_continuation_is_not_a_new_digit():
    receiver = DtmfReceiver()
    first = TelephoneEvent(3, False, 10, 0xFFFF).serialize()
    more = TelephoneEvent(3, True, 10, 800).serialize()
    assert receiver.feed(RtpPacket(101, 1, 0, 1, first, True)) == "3"
    assert receiver.feed(RtpPacket(101, 2, 0xFFFF, 1, more)) is None


def test_flash_event_is_not_a_digit():
    assert DtmfReceiver().feed(RtpPacket(101, 1, 0, 1, TelephoneEvent(16).serialize(), True)) is None
    assert len(EVENTS) == 16
