"""Jitter buffer behaviour, driven by a simulated network and a 20 ms tick with a fake clock."""

from __future__ import annotations

import random

import pytest

from appliance.media.jitter import JitterBuffer
from appliance.media.rtp import RtpPacket

FRAME = 0.02


def stream(n: int, seq0: int = 1000, ts0: int = 0, ssrc: int = 0x1234, t0: float = 0.0):
    """(send time, packet) for n consecutive 20 ms PCMU packets."""
    return [(t0 + i * FRAME, RtpPacket(0, (seq0 + i) & 0xFFFF, (ts0 + 160 * i) & 0xFFFFFFFF, ssrc,
                                       payload=bytes([i & 0xFF]) * 160, marker=(i == 0)))
            for i in range(n)]


def run(arrivals, jb: JitterBuffer | None = None, phase: float = 0.007, until: float | None = None):
    """Feed (arrival time, packet) pairs and tick every 20 ms; returns [(tick time, packet|None)]."""
    jb = jb or JitterBuffer()
    arrivals = sorted(arrivals, key=lambda a: a[0])
    end = until if until is not None else arrivals[-1][0] + 0.5
    out = []
    i = 0
    tick = phase
    while tick < end:
        while i < len(arrivals) and arrivals[i][0] <= tick:
            jb.put(arrivals[i][1], arrivals[i][0])
            i += 1
        out.append((tick, jb.get(tick)))
        tick = round(tick + FRAME, 9)
    return out, jb


def played(out):
    return [p for _, p in out if p is not None]


def gaps_between_first_and_last(out):
    idx = [k for k, (_, p) in enumerate(out) if p is not None]
    return sum(1 for _, p in out[idx[0]:idx[-1] + 1] if p is None)


def test_in_order_stream_plays_every_packet_after_min_delay():
    pkts = stream(200)
    out, jb = run([(t + 0.030, p) for t, p in pkts])
    assert [p.sequence_number for p in played(out)] == [p.sequence_number for _, p in pkts]
    assert gaps_between_first_and_last(out) == 0
    send = {p.sequence_number: t for t, p in pkts}
    delays = [tick - send[p.sequence_number] for tick, p in out if p is not None]
    # 30 ms network + 40 ms minimum delay, plus up to one tick of phase.
    assert all(0.070 - 1e-9 <= d < 0.090 + 1e-9 for d in delays)
    assert jb.stats.lost == jb.stats.late == jb.stats.skipped == jb.stats.held == 0
    assert jb.target_delay_ms == 40


def test_reordered_packets_are_played_in_sequence():
    pkts = stream(100)
    arrivals = []
    for i, (t, p) in enumerate(pkts):
        extra = 0.025 if i % 5 == 2 else 0.0  # every fifth packet overtaken by the next one
        arrivals.append((t + 0.010 + extra, p))
    out, jb = run(arrivals)
    assert [p.sequence_number for p in played(out)] == [p.sequence_number for _, p in pkts]
    assert jb.stats.late == 0


def test_duplicates_are_dropped_and_counted():
    pkts = stream(50)
    arrivals = [(t + 0.01, p) for t, p in pkts] + [(t + 0.015, p) for t, p in pkts]
    out, jb = run(arrivals)
    assert [p.sequence_number for p in played(out)] == [p.sequence_number for _, p in pkts]
    assert jb.stats.duplicates == 50


def test_lost_packets_give_none_in_their_slot():
    pkts = stream(100)
    out, jb = run([(t + 0.01, p) for t, p in pkts if p.sequence_number not in (1050, 1051, 1070)])
    seqs = [p.sequence_number if p else None for _, p in out]
    start = seqs.index(1000)
    assert seqs[start + 48:start + 54] == [1048, 1049, None, None, 1052, 1053]
    assert seqs[start + 70] is None and seqs[start + 71] == 1071
    assert jb.stats.lost == 3


def test_sequence_and_timestamp_wrap_around_is_seamless():
    pkts = stream(100, seq0=65500, ts0=0xFFFFFFFF - 160 * 40)
    out, jb = run([(t + 0.02, p) for t, p in pkts])
    assert [p.sequence_number for p in played(out)] == [p.sequence_number for _, p in pkts]
    assert gaps_between_first_and_last(out) == 0
    assert jb.stats.resyncs == 0


def test_new_ssrc_restarts_quickly():
    first = stream(50, ssrc=1)
    second = stream(50, seq0=9, ts0=123456789, ssrc=2, t0=1.0)
    out, jb = run([(t + 0.02, p) for t, p in first + second])
    assert [p.ssrc for p in played(out)] == [1] * 50 + [2] * 50
    assert jb.stats.resyncs == 1
    first_of_new = next(tick for tick, p in out if p is not None and p.ssrc == 2)
    assert first_of_new - 1.0 < 0.02 + 0.04 + 0.02 + 1e-9


@pytest.mark.parametrize("jump", [-5_000_000, 8000 * 30])
def test_timestamp_jump_without_elapsed_time_resynchronises(jump):
    a = stream(50)
    b = stream(50, seq0=1050, ts0=160 * 50 + jump, t0=1.0)
    for _, p in b:
        p.marker = False
    out, jb = run([(t + 0.02, p) for t, p in a + b])
    assert [p.sequence_number for p in played(out)] == list(range(1000, 1100))
    assert jb.stats.resyncs == 1 and jb.stats.late == 0
    assert gaps_between_first_and_last(out) <= 3


@pytest.mark.parametrize("marker", [True, False])
def test_silence_suppression_gap_keeps_playing_on_time(marker):
    a = stream(50)
    b = stream(50, seq0=1050, ts0=160 * 50 + 8000 * 2, t0=1.0 + 2.0)  # 2 s of silence
    b[0][1].marker = marker
    out, jb = run([(t + 0.03, p) for t, p in a + b])
    assert len(played(out)) == 100
    assert jb.stats.resyncs == 0 and jb.stats.late == 0 and jb.stats.lost == 0
    send = {p.sequence_number: t for t, p in a + b}
    resumed = next(tick for tick, p in out if p is not None and p.sequence_number == 1050)
    assert 0.07 - 1e-9 <= resumed - send[1050] < 0.09 + 1e-9


def test_burst_beyond_max_delay_overflows_oldest():
    jb = JitterBuffer(max_delay_ms=200)
    for _, p in stream(50):
        jb.put(p, 0.0)  # all at once, as after a long network stall
    assert jb.buffered_ms <= 200 + 20
    assert jb.stats.overflow == 50 - 11
    got = [jb.get(0.0 + k * FRAME) for k in range(30)]
    seqs = [p.sequence_number for p in got if p is not None]
    assert seqs == sorted(seqs) and seqs[-1] == 1049


def test_delay_grows_with_jitter_and_stays_within_max():
    rng = random.Random(7)
    pkts = stream(500)
    out, jb = run([(t + 0.02 + rng.uniform(0, 0.08), p) for t, p in pkts])
    assert 90 <= jb.target_delay_ms <= 120
    # After the first second the buffer has adapted: hardly anything arrives too late.
    assert jb.stats.late <= 10
    assert len(played(out)) >= 490

    rng = random.Random(8)
    out, jb = run([(t + 0.02 + rng.uniform(0, 0.5), p) for t, p in stream(300)])
    assert jb.target_delay_ms == 200


def test_delay_shrinks_back_to_min_when_network_calms_down():
    rng = random.Random(9)
    jittery = [(t + 0.02 + rng.uniform(0, 0.1), p) for t, p in stream(150)]
    calm = [(t + 0.02, p) for t, p in stream(400, seq0=1150, ts0=160 * 150, t0=3.0)]
    for _, p in calm:
        p.marker = False
    out, jb = run(jittery + calm)
    assert jb.target_delay_ms == 40
    assert jb.stats.skipped > 0
    send = {p.sequence_number: t for t, p in jittery + calm}
    tail = [tick - send[p.sequence_number] for tick, p in out[-60:] if p is not None]
    assert tail and max(tail) < 0.02 + 0.04 + 0.04 + 1e-9


def test_late_packet_is_dropped_not_played_out_of_order():
    pkts = stream(60)
    arrivals = [(t + 0.01, p) for t, p in pkts]
    arrivals[30] = (arrivals[30][0] + 0.3, arrivals[30][1])
    out, jb = run(arrivals)
    seqs = [p.sequence_number for p in played(out)]
    assert seqs == sorted(seqs) and 1030 not in seqs
    assert jb.stats.late == 1


def test_reset_forgets_the_stream():
    jb = JitterBuffer()
    for t, p in stream(5):
        jb.put(p, t)
    jb.reset()
    assert jb.get(1.0) is None and jb.buffered_ms == 0


def test_rejects_inconsistent_delays():
    with pytest.raises(ValueError):
        JitterBuffer(min_delay_ms=100, max_delay_ms=50)


def test_talkspurt_marker_applies_a_lower_target_at_once():
    rng = random.Random(11)
    jittery = [(t + 0.02 + rng.uniform(0, 0.12), p) for t, p in stream(100)]
    calm = [(t + 0.02, p) for t, p in stream(50, seq0=1100, ts0=160 * 100 + 8000 * 4, t0=2.0 + 4.0)]
    out, jb = run(jittery + calm)
    assert calm[0][1].marker
    send = {p.sequence_number: t for t, p in calm}
    first = next(tick for tick, p in out if p is not None and p.sequence_number == 1100)
    assert first - send[1100] < 0.02 + 0.04 + 0.02 + 1e-9
    assert jb.stats.skipped == 0  # the delay shrank in the silence, no frame was dropped


def test_30ms_packets_are_released_on_time_with_20ms_ticks():
    pkts = [(i * 0.03, RtpPacket(0, i, 240 * i, 5, payload=b"\xff" * 240)) for i in range(100)]
    out, jb = run([(t + 0.01, p) for t, p in pkts])
    assert [p.sequence_number for p in played(out)] == list(range(100))
    assert jb.stats.lost == 0 and jb.stats.late == 0
