"""Relay workers (D-engine-7): settled two-party relays handed to a worker process and taken back on change.

Loopback asyncio datagram peers play the phones, as in test_media_engine.  Each test waits for the hand-over
(two housekeeping rounds, 1-2 s) before checking what the worker does.
"""

from __future__ import annotations

import asyncio
import os
import signal
import struct
from pathlib import Path

import pytest

from appliance.media import g711
from appliance.media.engine import MediaEngine
from appliance.media.rtp import ReceiverReport, RtpPacket, parse_rtcp
from tests.integration.test_media_engine import (LOOPS, Phone, addr, call, goertzel, port_range, run,
                                                 send_digit_event, settle, tone)

pytestmark = pytest.mark.integration


@pytest.fixture(params=LOOPS)
def loop_kind(request: pytest.FixtureRequest) -> str:
    return request.param


async def new_engine(**kwargs) -> MediaEngine:
    low, high = port_range()
    engine = MediaEngine("127.0.0.1", low, high, relay_workers=1, **kwargs)
    await engine.start()
    return engine


async def handed_over(engine: MediaEngine, *endpoints) -> None:
    await settle(lambda: all(ep._offload is not None for ep in endpoints), timeout=5)


async def exchange(phone_a: Phone, phone_b: Phone, ep_a, ep_b, payload_a: bytes = b"\x11" * 160,
                   payload_b: bytes = b"\x22" * 160) -> tuple[bytes, bytes]:
    """One packet each way; returns what each phone sent (the other must receive exactly that)."""
    before_a, before_b = len(phone_a.received), len(phone_b.received)
    sent_a, sent_b = phone_a.rtp(payload_a), phone_b.rtp(payload_b)
    phone_a.send(sent_a, addr(ep_a))
    phone_b.send(sent_b, addr(ep_b))
    await settle(lambda: len(phone_a.received) > before_a and len(phone_b.received) > before_b)
    assert phone_b.received[-1][0] == sent_a and phone_a.received[-1][0] == sent_b
    return sent_a, sent_b


def test_a_handed_over_pair_relays_identical_bytes_both_ways_and_stats_come_back(loop_kind: str) -> None:
    async def main() -> None:
        engine = await new_engine()
        phone_a, phone_b, ep_a, ep_b = await call(engine)
        await exchange(phone_a, phone_b, ep_a, ep_b)  # latches both legs in pbxd first
        await handed_over(engine, ep_a, ep_b)
        assert engine.offload.handed_over == 1 and ep_a._sockets.paused and ep_b._sockets.paused
        for i in range(20):
            await exchange(phone_a, phone_b, ep_a, ep_b, bytes([i]) * 160, bytes([100 + i]) * 160)
        assert {a for _, a in phone_b.received} == {addr(ep_b)} and {a for _, a in phone_a.received} == {addr(ep_a)}
        # Snapshots every 0.5 s carry the worker's counters into the endpoints.
        await settle(lambda: ep_a.stats()["packets_in"] == 21 and ep_b.stats()["packets_out"] == 21)
        stats = ep_a.stats()
        assert stats["lost"] == 0 and stats["bytes_in"] == 21 * 172 and ep_a._offload is not None
        await engine.close()
    run(loop_kind, main)


def test_rtcp_reports_of_a_handed_over_leg_describe_what_the_worker_received() -> None:
    async def main() -> None:
        engine = await new_engine()
        phone_a, phone_b, ep_a, ep_b = await call(engine)
        await exchange(phone_a, phone_b, ep_a, ep_b)
        await handed_over(engine, ep_a, ep_b)
        for _ in range(10):
            await exchange(phone_a, phone_b, ep_a, ep_b)
        phone_a.seq += 5  # five packets lost on the way
        await exchange(phone_a, phone_b, ep_a, ep_b)
        await settle(lambda: ep_a.packets_in == 12)
        report = parse_rtcp(ep_a.rtcp.build_report(engine.now()))
        rr = next(p for p in report if isinstance(p, ReceiverReport))
        block = rr.reports[0]
        assert block.ssrc == phone_a.ssrc and block.highest_sequence == phone_a.seq
        assert block.cumulative_lost == 5
        # RTCP itself never left pbxd: a report to the RTCP port is read there.
        phone_a.send(ReceiverReport(phone_a.ssrc, []).serialize(), (ep_a.local_host, ep_a.local_port + 1))
        await settle(lambda: ep_a.stats()["rtcp_in"] == 1)
        await engine.close()
    run("asyncio", main)


def test_latching_in_the_worker_follows_the_first_source_and_refuses_intruders() -> None:
    async def main() -> None:
        engine = await new_engine()
        phone_a, phone_b, ep_a, ep_b = await call(engine)
        ep_b.set_remote("127.0.0.1", 9)  # the SDP address; the phone is really behind NAT
        await handed_over(engine, ep_a, ep_b)
        behind_nat = await Phone.open()
        behind_nat.send(behind_nat.rtp(b"\xff" * 160), addr(ep_b))
        await settle(lambda: len(phone_a.received) == 1)
        phone_a.send(phone_a.rtp(b"\x7f" * 160), addr(ep_a))
        await settle(lambda: len(behind_nat.received) == 1)
        await settle(lambda: ep_b.stats()["latched"] and ep_b.stats()["remote"] == "%s:%d" % behind_nat.address)
        intruder = await Phone.open()
        intruder.send(intruder.rtp(b"\x00" * 160), addr(ep_b))
        await asyncio.sleep(0.05)
        assert len(phone_a.received) == 1
        await settle(lambda: ep_b.stats()["dropped"] == 1)
        assert ep_b._offload is not None
        await engine.close()
    run("asyncio", main)


def test_payload_types_and_g711_law_are_rewritten_by_the_worker() -> None:
    async def main() -> None:
        engine = await new_engine()
        phone_a, phone_b, ep_a, ep_b = await call(engine, ("PCMU", 0, 101), ("PCMA", 8, 96))
        await handed_over(engine, ep_a, ep_b)
        pcm = tone(1000, 0.1)
        payloads = [g711.ulaw_encode(pcm[i:i + 160]) for i in range(0, 800, 160)]
        for payload in payloads:
            phone_a.send(phone_a.rtp(payload, pt=0), addr(ep_a))
        phone_a.send(phone_a.rtp(struct.pack("!BBH", 5, 10, 160), pt=101), addr(ep_a))
        phone_a.send(phone_a.rtp(b"\x00", pt=13), addr(ep_a))  # not negotiated: dropped
        reply = g711.alaw_encode(pcm[:160])
        phone_b.send(phone_b.rtp(reply, pt=8), addr(ep_b))
        await settle(lambda: len(phone_b.received) == 6 and len(phone_a.received) == 1)
        await asyncio.sleep(0.05)
        assert [p.payload for p in phone_b.rtp_packets(8)] == [g711.ulaw_to_alaw(p) for p in payloads]
        assert [p.payload_type for p in phone_b.rtp_packets()] == [8] * 5 + [96]
        back = RtpPacket.parse(phone_a.received[0][0])
        assert back.payload_type == 0 and back.payload == g711.alaw_to_ulaw(reply)
        assert ep_a._offload is not None
        await engine.close()
    run("asyncio", main)


def test_telephone_events_relayed_by_a_worker_still_fire_on_dtmf(loop_kind: str) -> None:
    async def main() -> None:
        engine = await new_engine()
        phone_a, phone_b, ep_a, ep_b = await call(engine, ("PCMU", 0, 101), ("PCMU", 0, 96))
        digits: list[str] = []
        ep_a.on_dtmf = digits.append
        await handed_over(engine, ep_a, ep_b)
        send_digit_event(phone_a, addr(ep_a), 7, 101)
        await settle(lambda: len(phone_b.received) == 5 and digits == ["7"])
        assert {p.payload_type for p in phone_b.rtp_packets(None)} == {96}
        assert ep_a._offload is not None
        await engine.close()
    run(loop_kind, main)


def test_a_player_takes_the_pair_back_and_the_relay_is_handed_over_again_after_it() -> None:
    async def main() -> None:
        engine = await new_engine()
        phone_a, phone_b, ep_a, ep_b = await call(engine)
        await exchange(phone_a, phone_b, ep_a, ep_b)
        await handed_over(engine, ep_a, ep_b)
        await exchange(phone_a, phone_b, ep_a, ep_b)
        phone_a.received.clear()
        player = ep_a.play(tone(440, 0.4))  # music on hold, say: only pbxd can generate it
        assert ep_a._offload is None and ep_b._offload is None and not ep_a._sockets.paused
        assert ep_a.packets_in == 2  # the worker's final counters came back with the release
        assert await player.done is True
        assert goertzel(phone_a.audio(), 440) > 0.3
        await exchange(phone_a, phone_b, ep_a, ep_b)  # relayed by pbxd again
        await handed_over(engine, ep_a, ep_b)
        await exchange(phone_a, phone_b, ep_a, ep_b)
        assert engine.offload.handed_over == 2 and engine.offload.taken_back == 1
        await settle(lambda: ep_a.packets_in == 4)
        await engine.close()
    run("asyncio", main)


def test_hold_recording_and_a_new_remote_take_the_pair_back(tmp_path: Path) -> None:
    async def main() -> None:
        engine = await new_engine()
        phone_a, phone_b, ep_a, ep_b = await call(engine)
        for change in (lambda: ep_b.set_direction("sendonly"), lambda: ep_a.record(str(tmp_path / "r.wav")),
                       lambda: ep_b.set_remote(*phone_b.address)):
            await exchange(phone_a, phone_b, ep_a, ep_b)
            await handed_over(engine, ep_a, ep_b)
            change()
            assert ep_a._offload is None and ep_b._offload is None
            ep_b.set_direction("sendrecv")
            if ep_a.recorder is not None:
                await ep_a.recorder.stop()
        await exchange(phone_a, phone_b, ep_a, ep_b)
        # (release_timeouts may be non-zero on a saturated host: pbxd then goes on with its last snapshot)
        assert engine.offload.taken_back == 3
        await engine.close()
    run("asyncio", main)


def test_a_killed_worker_gives_its_calls_back_to_pbxd_and_is_replaced() -> None:
    async def main() -> None:
        engine = await new_engine()
        phone_a, phone_b, ep_a, ep_b = await call(engine)
        await exchange(phone_a, phone_b, ep_a, ep_b)
        await handed_over(engine, ep_a, ep_b)
        old = engine.offload.workers[0]
        os.kill(old.proc.pid, signal.SIGKILL)
        await settle(lambda: ep_a._offload is None and ep_b._offload is None)
        for _ in range(3):  # pbxd relays, with the counters of the last snapshot
            await exchange(phone_a, phone_b, ep_a, ep_b)
        await settle(lambda: engine.offload.workers[0] is not None and engine.offload.workers[0] is not old)
        await handed_over(engine, ep_a, ep_b)  # and the new worker takes the pair
        await exchange(phone_a, phone_b, ep_a, ep_b)
        await engine.close()
    run("asyncio", main)


def test_closing_the_engine_stops_its_workers_and_frees_the_ports() -> None:
    async def main() -> None:
        engine = await new_engine()
        phone_a, phone_b, ep_a, ep_b = await call(engine)
        await handed_over(engine, ep_a, ep_b)
        proc = engine.offload.workers[0].proc
        ports = (ep_a.local_port, ep_b.local_port)
        await engine.close()
        assert proc.poll() == 0 and engine.offload is None
        import socket
        for port in ports:  # no copy of the sockets survives in the worker
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.bind(("127.0.0.1", port))
    run("asyncio", main)


def test_closing_a_handed_over_endpoint_takes_it_back_first() -> None:
    async def main() -> None:
        engine = await new_engine()
        phone_a, phone_b, ep_a, ep_b = await call(engine)
        await handed_over(engine, ep_a, ep_b)
        await ep_a.close()
        assert ep_b._offload is None and not engine.offload.workers[0].pairs
        import socket
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", ep_a.local_port))
        await engine.close()
    run("asyncio", main)


def test_without_workers_nothing_is_handed_over() -> None:
    async def main() -> None:
        low, high = port_range()
        engine = MediaEngine("127.0.0.1", low, high)
        await engine.start()
        phone_a, phone_b, ep_a, ep_b = await call(engine)
        await asyncio.sleep(2.2)
        await exchange(phone_a, phone_b, ep_a, ep_b)
        assert engine.offload is None and ep_a._offload is None
        await engine.close()
    run("asyncio", main)
