"""The media engine on loopback UDP: plain asyncio datagram peers play the phones.

Every test runs under the default asyncio loop and under uvloop.  Audio is checked at the receiving phone by
decoding what arrived and measuring tone energy with a Goertzel filter.
"""

from __future__ import annotations

import asyncio
import math
import random
import socket
import struct
from collections.abc import Awaitable, Callable
from pathlib import Path

import numpy as np
import pytest

from appliance.media import g711
from appliance.media.engine import MediaEngine, PortsExhausted
from appliance.media.rtp import RtpPacket, parse_rtcp, ReceiverReport, SenderReport

pytestmark = pytest.mark.integration

LOOPS = ["asyncio", "uvloop"]


def run(loop_kind: str, main: Callable[[], Awaitable[None]]) -> None:
    """Run one test coroutine on a fresh loop of the given kind."""
    if loop_kind == "uvloop":
        import uvloop
        factory = uvloop.new_event_loop
    else:
        factory = asyncio.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(asyncio.wait_for(main(), 30))


@pytest.fixture(params=LOOPS)
def loop_kind(request: pytest.FixtureRequest) -> str:
    return request.param


def port_range(pairs: int = 100) -> tuple[int, int]:
    """A random range below the ephemeral ports, so parallel tests rarely collide (busy ports are skipped)."""
    base = random.randrange(12000, 32000 - 2 * pairs, 2)
    return base, base + 2 * pairs - 1


async def new_engine(**kwargs) -> MediaEngine:
    low, high = port_range()
    engine = MediaEngine("127.0.0.1", low, high, **kwargs)
    await engine.start()
    return engine


class Phone(asyncio.DatagramProtocol):
    """A loopback RTP peer: sends packets it is told to, and keeps what it receives."""

    def __init__(self) -> None:
        self.received: list[tuple[bytes, tuple[str, int]]] = []
        self.transport: asyncio.DatagramTransport | None = None
        self.arrived = asyncio.Event()
        self.ssrc = random.getrandbits(32)
        self.seq = 0
        self.ts = 0

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.received.append((data, addr))
        self.arrived.set()

    @classmethod
    async def open(cls) -> Phone:
        loop = asyncio.get_running_loop()
        transport, phone = await loop.create_datagram_endpoint(cls, local_addr=("127.0.0.1", 0))
        phone.transport = transport
        return phone

    @property
    def address(self) -> tuple[str, int]:
        return self.transport.get_extra_info("sockname")[:2]

    def send(self, data: bytes, to: tuple[str, int]) -> None:
        self.transport.sendto(data, to)

    def rtp(self, payload: bytes, pt: int = 0, marker: bool = False, ts_step: int = 160) -> bytes:
        self.seq = (self.seq + 1) & 0xFFFF
        packet = RtpPacket(pt, self.seq, self.ts, self.ssrc, payload, marker).serialize()
        self.ts = (self.ts + ts_step) & 0xFFFFFFFF
        return packet

    async def stream(self, to: tuple[str, int], pcm: np.ndarray, pt: int = 0,
                     encode: Callable[[np.ndarray], bytes] = g711.ulaw_encode) -> None:
        """Send audio in real time, 20 ms per packet."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        for i in range(0, len(pcm) - 159, 160):
            self.send(self.rtp(encode(pcm[i:i + 160]), pt, marker=i == 0), to)
            await asyncio.sleep(max(0.0, start + (i // 160 + 1) * 0.02 - loop.time()))

    def rtp_packets(self, pt: int | None = None) -> list[RtpPacket]:
        packets = []
        for data, _ in self.received:
            if 192 <= data[1] <= 223:
                continue
            packet = RtpPacket.parse(data)
            if pt is None or packet.payload_type == pt:
                packets.append(packet)
        return packets

    def audio(self, decode: Callable[[bytes], np.ndarray] = g711.ulaw_decode, pt: int = 0) -> np.ndarray:
        packets = self.rtp_packets(pt)
        if not packets:
            return np.zeros(0, dtype=np.int16)
        return np.concatenate([decode(p.payload) for p in packets])

    def close(self) -> None:
        self.transport.close()


def tone(freq: float, seconds: float, level: float = 8000.0) -> np.ndarray:
    t = np.arange(int(seconds * 8000)) / 8000.0
    return (np.sin(2 * np.pi * freq * t) * level).astype(np.int16)


def goertzel(pcm: np.ndarray, freq: float) -> float:
    """Relative power of `freq` in `pcm` (normalised by the signal's total power)."""
    x = pcm.astype(np.float64)
    if not len(x) or not np.any(x):
        return 0.0
    coeff = 2 * math.cos(2 * math.pi * freq / 8000)
    s1 = s2 = 0.0
    for sample in x:
        s1, s2 = sample + coeff * s1 - s2, s1
    power = s1 * s1 + s2 * s2 - coeff * s1 * s2
    return power / (np.sum(x * x) * len(x) / 2)


async def settle(condition: Callable[[], bool], timeout: float = 3.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


async def call(engine: MediaEngine, codec_a=("PCMU", 0, 101), codec_b=("PCMU", 0, 101)):
    """Two phones, two endpoints, set up as the B2BUA would after offer/answer, connected."""
    phone_a, phone_b = await Phone.open(), await Phone.open()
    ep_a, ep_b = await engine.create_endpoint(), await engine.create_endpoint()
    ep_a.set_remote(*phone_a.address)
    ep_b.set_remote(*phone_b.address)
    ep_a.set_codec(*codec_a)
    ep_b.set_codec(*codec_b)
    engine.connect(ep_a, ep_b)
    return phone_a, phone_b, ep_a, ep_b


def send_digit_event(phone: Phone, to: tuple[str, int], event: int, pt: int) -> None:
    """One RFC 4733 event as phones send it: a start (marker), an update, then the end packet three times."""
    for i, (end, duration) in enumerate([(False, 160), (False, 320), (True, 800), (True, 800), (True, 800)]):
        payload = struct.pack("!BBH", event, (0x80 if end else 0) | 10, duration)
        phone.seq += 1
        phone.send(RtpPacket(pt, phone.seq, 8000, phone.ssrc, payload, i == 0).serialize(), to)


def addr(ep) -> tuple[str, int]:
    return (ep.local_host, ep.local_port)


# --------------------------------------------------------------------------------------------------- relay

@pytest.mark.parametrize("io", ["reader", "transport"])
def test_relay_forwards_identical_bytes_both_ways(loop_kind: str, io: str) -> None:
    async def main() -> None:
        engine = await new_engine(io=io)
        phone_a, phone_b, ep_a, ep_b = await call(engine)
        sent_a = [phone_a.rtp(bytes([i]) * 160) for i in range(5)]
        sent_b = [phone_b.rtp(bytes([100 + i]) * 160) for i in range(5)]
        for a, b in zip(sent_a, sent_b):
            phone_a.send(a, addr(ep_a))
            phone_b.send(b, addr(ep_b))
            await asyncio.sleep(0.005)
        await settle(lambda: len(phone_a.received) == 5 and len(phone_b.received) == 5)
        assert [d for d, _ in phone_b.received] == sent_a
        assert [d for d, _ in phone_a.received] == sent_b
        # Media reaches each phone from the port the PBX gave it in SDP (symmetric RTP).
        assert {a for _, a in phone_b.received} == {addr(ep_b)}
        assert engine.route_of(ep_a).relay_from is ep_b and not engine.route_of(ep_a).decode
        assert ep_a.stats()["packets_in"] == 5 and ep_b.stats()["packets_out"] == 5
        await engine.close()
    run(loop_kind, main)


def test_relay_rewrites_payload_types_that_differ_between_legs(loop_kind: str) -> None:
    async def main() -> None:
        engine = await new_engine()
        # opus is not decodable here, yet it relays: only the numbers differ between the legs.
        phone_a, phone_b, ep_a, ep_b = await call(engine, ("opus", 111, 110), ("opus", 96, 101))
        audio = phone_a.rtp(b"\x01\x02\x03", pt=111, marker=True)
        event = phone_a.rtp(struct.pack("!BBH", 5, 10, 160), pt=110)
        foreign = phone_a.rtp(b"\x00", pt=13)  # comfort noise was not negotiated: dropped
        for data in (audio, event, foreign):
            phone_a.send(data, addr(ep_a))
        await settle(lambda: len(phone_b.received) == 2)
        await asyncio.sleep(0.05)
        got = [RtpPacket.parse(d) for d, _ in phone_b.received]
        assert [(p.payload_type, p.marker) for p in got] == [(96, True), (101, False)]
        assert got[0].payload == b"\x01\x02\x03" and got[0].ssrc == phone_a.ssrc
        assert got[0].sequence_number == RtpPacket.parse(audio).sequence_number
        await engine.close()
    run(loop_kind, main)


def test_pcmu_to_pcma_is_transcoded_by_table_without_decoding(loop_kind: str) -> None:
    async def main() -> None:
        engine = await new_engine()
        phone_a, phone_b, ep_a, ep_b = await call(engine, ("PCMU", 0, 101), ("PCMA", 8, 101))
        pcm = tone(1000, 0.1)
        payloads = [g711.ulaw_encode(pcm[i:i + 160]) for i in range(0, 800, 160)]
        for payload in payloads:
            phone_a.send(phone_a.rtp(payload, pt=0), addr(ep_a))
        reply = g711.alaw_encode(pcm[:160])
        phone_b.send(phone_b.rtp(reply, pt=8), addr(ep_b))
        await settle(lambda: len(phone_b.received) == 5 and len(phone_a.received) == 1)
        got = phone_b.rtp_packets()
        assert all(p.payload_type == 8 for p in got)
        assert [p.payload for p in got] == [g711.ulaw_to_alaw(p) for p in payloads]
        back = RtpPacket.parse(phone_a.received[0][0])
        assert back.payload_type == 0 and back.payload == g711.alaw_to_ulaw(reply)
        assert not engine.route_of(ep_a).decode and not engine.route_of(ep_b).decode
        await engine.close()
    run(loop_kind, main)


def test_symmetric_rtp_latches_to_where_media_comes_from(loop_kind: str) -> None:
    async def main() -> None:
        engine = await new_engine()
        phone_a, phone_b, ep_a, ep_b = await call(engine)
        behind_nat = await Phone.open()
        ep_b.set_remote("127.0.0.1", 9)  # what the SDP said (a private address, say) — nothing listens there
        behind_nat.send(behind_nat.rtp(b"\xff" * 160), addr(ep_b))
        await settle(lambda: len(phone_a.received) == 1)
        phone_a.send(phone_a.rtp(b"\x7f" * 160), addr(ep_a))
        await settle(lambda: len(behind_nat.received) == 1)
        assert ep_b.stats()["remote"] == "%s:%d" % behind_nat.address and ep_b.stats()["latched"]
        # Once latched, another source cannot take the stream over.
        intruder = await Phone.open()
        intruder.send(intruder.rtp(b"\x00" * 160), addr(ep_b))
        await asyncio.sleep(0.05)
        assert len(phone_a.received) == 1 and ep_b.stats()["dropped"] == 1
        await engine.close()
    run(loop_kind, main)


def test_telephone_events_in_a_relay_are_reported_and_forwarded(loop_kind: str) -> None:
    async def main() -> None:
        engine = await new_engine()
        phone_a, phone_b, ep_a, ep_b = await call(engine, ("PCMU", 0, 101), ("PCMU", 0, 96))
        digits: list[str] = []
        ep_a.on_dtmf = digits.append
        send_digit_event(phone_a, addr(ep_a), 7, 101)
        await settle(lambda: len(phone_b.received) == 5)
        assert digits == ["7"]
        assert {p.payload_type for p in phone_b.rtp_packets(None)} == {96}
        await engine.close()
    run(loop_kind, main)


# --------------------------------------------------------------------------------------------------- players

def test_country_dial_tone_is_heard_at_the_phone_with_our_own_rtp_stream(loop_kind: str) -> None:
    async def main() -> None:
        engine = await new_engine(tone_country="us")
        phone_a, phone_b, ep_a, ep_b = await call(engine)
        player = ep_a.play(engine.tones.dial)
        await settle(lambda: len(phone_a.rtp_packets()) >= 25)
        player.stop()
        assert await player.done is False
        packets = phone_a.rtp_packets()
        assert packets[0].marker and not any(p.marker for p in packets[1:])
        assert {p.ssrc for p in packets} == {ep_a.ssrc}
        assert all((b.sequence_number - a.sequence_number) & 0xFFFF == 1 for a, b in zip(packets, packets[1:]))
        assert all((b.timestamp - a.timestamp) & 0xFFFFFFFF == 160 for a, b in zip(packets, packets[1:]))
        audio = phone_a.audio()
        assert goertzel(audio, 350) > 0.3 and goertzel(audio, 440) > 0.3 and goertzel(audio, 1000) < 0.01
        assert phone_b.received == []  # the other side hears nothing of it
        await engine.close()
    run(loop_kind, main)


def test_wav_file_plays_to_the_end_then_the_relay_resumes(loop_kind: str, tmp_path: Path) -> None:
    async def main() -> None:
        from appliance.media.wav import write_wav_atomic
        engine = await new_engine()
        phone_a, phone_b, ep_a, ep_b = await call(engine)
        pcm = tone(600, 0.3)
        write_wav_atomic(tmp_path / "prompt.wav", pcm)
        player = ep_a.play(str(tmp_path / "prompt.wav"))
        assert await player.done is True
        payloads = [p.payload for p in phone_a.rtp_packets()]
        assert payloads == [g711.ulaw_encode(pcm[i:i + 160]) for i in range(0, len(pcm), 160)]
        assert engine.route_of(ep_a).relay_from is ep_b
        relayed = phone_b.rtp(b"\x55" * 160)
        phone_b.send(relayed, addr(ep_b))
        await settle(lambda: phone_a.received[-1][0] == relayed)
        await engine.close()
    run(loop_kind, main)


def test_looping_array_playback_continues_until_stopped(loop_kind: str) -> None:
    async def main() -> None:
        engine = await new_engine()
        phone_a, _, ep_a, _ = await call(engine)
        player = ep_a.play(tone(800, 0.05), loop=True)
        await settle(lambda: len(phone_a.rtp_packets()) >= 10)
        assert not player.done.done()
        player.stop()
        await engine.close()
    run(loop_kind, main)


def test_recording_writes_what_the_endpoint_receives(loop_kind: str, tmp_path: Path) -> None:
    async def main() -> None:
        from appliance.media.wav import read_wav
        engine = await new_engine()
        phone_a, phone_b, ep_a, ep_b = await call(engine)
        recorder = ep_a.record(str(tmp_path / "call.wav"))
        pcm = tone(700, 0.6)
        await phone_a.stream(addr(ep_a), pcm)
        await asyncio.sleep(0.3)
        path = await recorder.stop()
        recorded = read_wav(path)
        sent = g711.ulaw_decode(g711.ulaw_encode(pcm))
        start = int(np.flatnonzero(recorded)[0] - np.flatnonzero(sent)[0])
        assert np.array_equal(recorded[start:start + len(sent)], sent)
        assert len(phone_b.rtp_packets()) == 30  # the relay went on while recording
        await engine.close()
    run(loop_kind, main)


# --------------------------------------------------------------------------------------------------- DTMF

def test_rfc4733_digit_is_sent_as_one_event(loop_kind: str) -> None:
    async def main() -> None:
        from appliance.media.dtmf import TelephoneEvent
        engine = await new_engine()
        phone_a, _, ep_a, _ = await call(engine)
        ep_a.send_dtmf("5", duration_ms=100)
        await settle(lambda: any(TelephoneEvent.parse(p.payload).end for p in phone_a.rtp_packets(101))
                     and len(phone_a.rtp_packets(101)) >= 7)
        await asyncio.sleep(0.1)
        packets = phone_a.rtp_packets(101)
        events = [TelephoneEvent.parse(p.payload) for p in packets]
        assert packets[0].marker and not any(p.marker for p in packets[1:])
        assert {p.timestamp for p in packets} == {packets[0].timestamp}
        assert {e.event for e in events} == {5}
        assert [e.end for e in events][-3:] == [True] * 3 and events[-1].duration == 800
        assert len(packets) == 7  # one packet per 20 ms, the last (ending) one sent three times
        await engine.close()
    run(loop_kind, main)


def test_digit_without_telephone_event_is_sent_in_band(loop_kind: str) -> None:
    async def main() -> None:
        from appliance.media.dtmf import DtmfDetector
        engine = await new_engine()
        phone_a, _, ep_a, _ = await call(engine, ("PCMU", 0, None))
        ep_a.send_dtmf("#", duration_ms=120)
        ep_a.send_dtmf("3", duration_ms=120)
        await settle(lambda: len(phone_a.rtp_packets()) >= 18)
        assert DtmfDetector().feed(phone_a.audio()) == ["#", "3"]
        await engine.close()
    run(loop_kind, main)


def test_rfc4733_digits_are_reported_once_each(loop_kind: str) -> None:
    async def main() -> None:
        engine = await new_engine()
        phone_a, _, ep_a, _ = await call(engine)
        digits: list[str] = []
        ep_a.on_dtmf = digits.append
        for ts, event in ((1000, 1), (3000, 2), (5000, 1)):
            for duration, end in ((160, False), (480, True), (480, True), (480, True)):
                phone_a.seq += 1
                payload = struct.pack("!BBH", event, (0x80 if end else 0) | 10, duration)
                phone_a.send(RtpPacket(101, phone_a.seq, ts, phone_a.ssrc, payload).serialize(), addr(ep_a))
        await settle(lambda: len(digits) == 3)
        assert digits == ["1", "2", "1"]
        await engine.close()
    run(loop_kind, main)


def test_in_band_digits_are_detected_when_asked(loop_kind: str) -> None:
    async def main() -> None:
        from appliance.media.players import dtmf_tone
        engine = await new_engine()
        phone_a, _, ep_a, _ = await call(engine)
        digits: list[str] = []
        ep_a.on_dtmf = digits.append
        ep_a.detect_inband = True
        audio = np.concatenate([dtmf_tone(d, 100) for d in "42*"] + [np.zeros(800, dtype=np.int16)])
        await phone_a.stream(addr(ep_a), audio)
        await settle(lambda: len(digits) == 3)
        assert digits == ["4", "2", "*"]
        await engine.close()
    run(loop_kind, main)


# --------------------------------------------------------------------------------------------------- hold, timeout

def test_hold_directions_stop_media_towards_or_from_the_held_phone(loop_kind: str) -> None:
    async def main() -> None:
        engine = await new_engine()
        phone_a, phone_b, ep_a, ep_b = await call(engine)

        async def exchange() -> tuple[int, int]:
            before_a, before_b = len(phone_a.received), len(phone_b.received)
            phone_a.send(phone_a.rtp(b"\x11" * 160), addr(ep_a))
            phone_b.send(phone_b.rtp(b"\x22" * 160), addr(ep_b))
            await asyncio.sleep(0.1)
            return len(phone_a.received) - before_a, len(phone_b.received) - before_b

        assert await exchange() == (1, 1)
        ep_b.set_direction("recvonly")   # phone B put the call on hold with a=sendonly
        assert await exchange() == (1, 0)
        ep_b.set_direction("inactive")
        assert await exchange() == (0, 0)
        ep_b.set_direction("sendonly")   # we hold B: media from B is ignored, B still gets A
        assert await exchange() == (0, 1)
        ep_b.set_direction("sendrecv")
        assert await exchange() == (1, 1)
        # A player towards a held phone sends nothing either.
        ep_b.set_direction("recvonly")
        ep_b.play(tone(440, 0.1))
        await asyncio.sleep(0.2)
        assert len(phone_b.rtp_packets()) == 3
        await engine.close()
    run(loop_kind, main)


def test_rtp_timeout_fires_once_when_media_stops_while_receiving(loop_kind: str) -> None:
    async def main() -> None:
        engine = await new_engine()
        phone_a, phone_b, ep_a, ep_b = await call(engine)
        fired: list[int] = []
        ep_a.timeout = ep_b.timeout = 1
        ep_a.on_timeout = lambda: fired.append(ep_a.local_port)
        ep_b.on_timeout = lambda: fired.append(ep_b.local_port)
        ep_b.set_direction("sendonly")  # a leg we hold is not expected to send: no timeout
        phone_a.send(phone_a.rtp(b"\x00" * 160), addr(ep_a))
        await asyncio.sleep(3.2)
        assert fired == [ep_a.local_port]
        await engine.close()
    run(loop_kind, main)


# --------------------------------------------------------------------------------------------------- mixing

def test_three_party_conference_each_hears_the_other_two_not_itself(loop_kind: str) -> None:
    async def main() -> None:
        engine = await new_engine()
        freqs = (500, 900, 1400)
        phones = [await Phone.open() for _ in freqs]
        endpoints = [await engine.create_endpoint() for _ in freqs]
        mixer = engine.create_mixer()
        for phone, ep in zip(phones, endpoints):
            ep.set_remote(*phone.address)
            ep.set_codec("PCMU", 0, 101)
            mixer.add(ep)
        await asyncio.gather(*(p.stream(addr(ep), tone(f, 1.0)) for p, ep, f in zip(phones, endpoints, freqs)))
        await asyncio.sleep(0.2)
        for i, phone in enumerate(phones):
            audio = phone.audio()[1600:]  # past the jitter buffer's fill-up
            others = [f for j, f in enumerate(freqs) if j != i]
            assert all(goertzel(audio, f) > 0.2 for f in others), (i, [goertzel(audio, f) for f in freqs])
            assert goertzel(audio, freqs[i]) < 0.01
        mixer.remove(endpoints[0])
        assert engine.route_of(endpoints[0]).clocked is False
        await engine.close()
    run(loop_kind, main)


def test_pcmu_and_g722_legs_are_transcoded_through_the_clock(loop_kind: str) -> None:
    from appliance.media.codecs import new_codec, supported_codecs
    if "G722" not in supported_codecs():
        pytest.skip("libspandsp is not installed")

    async def main() -> None:
        engine = await new_engine()
        phone_a, phone_b, ep_a, ep_b = await call(engine, ("PCMU", 0, 101), ("G722", 9, 101))
        assert engine.route_of(ep_b).sources == (ep_a,)
        await phone_a.stream(addr(ep_a), tone(1000, 0.8))
        await asyncio.sleep(0.2)
        decoder = new_codec("G722")
        audio = phone_b.audio(decoder.decode, pt=9)[1600:]
        assert goertzel(audio, 1000) > 0.5
        await engine.close()
    run(loop_kind, main)


def test_monitor_hears_both_sides_and_whisper_reaches_only_the_target(loop_kind: str) -> None:
    async def main() -> None:
        engine = await new_engine()
        phone_a, phone_b, ep_a, ep_b = await call(engine)
        supervisor = await Phone.open()
        ep_s = await engine.create_endpoint()
        ep_s.set_remote(*supervisor.address)
        ep_s.set_codec("PCMU", 0, 101)
        engine.monitor(ep_a, ep_s, whisper=True)
        await asyncio.gather(phone_a.stream(addr(ep_a), tone(500, 1.0)), phone_b.stream(addr(ep_b), tone(900, 1.0)),
                             supervisor.stream(addr(ep_s), tone(1400, 1.0)))
        await asyncio.sleep(0.2)
        heard_s, heard_a, heard_b = supervisor.audio()[1600:], phone_a.audio()[1600:], phone_b.audio()
        assert goertzel(heard_s, 500) > 0.2 and goertzel(heard_s, 900) > 0.2 and goertzel(heard_s, 1400) < 0.01
        assert goertzel(heard_a, 900) > 0.2 and goertzel(heard_a, 1400) > 0.2
        assert goertzel(heard_b, 1400) < 0.01 and goertzel(heard_b, 500) > 0.5
        await engine.close()
    run(loop_kind, main)


# --------------------------------------------------------------------------------------------------- RTCP, ports

def test_rtcp_reports_are_sent_and_received_reports_fill_the_stats(loop_kind: str) -> None:
    async def main() -> None:
        engine = await new_engine()
        phone_a, _, ep_a, _ = await call(engine)
        rtcp_phone = await Phone.open()
        ep_a.set_remote(*phone_a.address, rtcp_port=rtcp_phone.address[1])
        ep_a.rtcp.interval = 0.5
        player = ep_a.play(tone(440, 2.0))
        for _ in range(10):
            phone_a.send(phone_a.rtp(b"\x00" * 160), addr(ep_a))
        await settle(lambda: any(isinstance(p, SenderReport) for d, _ in rtcp_phone.received
                                 for p in parse_rtcp(d)), timeout=4)
        sr = next(p for d, _ in rtcp_phone.received for p in parse_rtcp(d) if isinstance(p, SenderReport))
        assert sr.ssrc == ep_a.ssrc and sr.packet_count > 0
        assert sr.reports and sr.reports[0].ssrc == phone_a.ssrc
        from appliance.media.rtp import ReportBlock
        rr = ReceiverReport(phone_a.ssrc, [ReportBlock(ep_a.ssrc, 64, 12, 100, 80)]).serialize()
        rtcp_phone.send(rr, (ep_a.local_host, ep_a.local_port + 1))
        await settle(lambda: ep_a.stats()["rtcp_in"] == 1)
        stats = ep_a.stats()
        assert stats["remote_lost"] == 12 and stats["remote_fraction_lost"] == 0.25
        assert stats["remote_jitter_ms"] == 10.0
        player.stop()
        await engine.close()
    run(loop_kind, main)


def test_endpoint_ports_are_even_pairs_and_busy_ports_are_skipped(loop_kind: str) -> None:
    async def main() -> None:
        low, high = port_range(4)
        squatter = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        squatter.bind(("127.0.0.1", low + 1))  # someone holds the first pair's RTCP port
        engine = MediaEngine("127.0.0.1", low, high)
        await engine.start()
        ep = await engine.create_endpoint()
        assert ep.local_port % 2 == 0 and ep.local_port != low
        squatter.close()
        await engine.close()
    run(loop_kind, main)


@pytest.mark.parametrize("io", ["reader", "transport"])
def test_exhausted_port_range_raises_a_clear_error(loop_kind: str, io: str) -> None:
    async def main() -> None:
        low, high = port_range(2)
        engine = MediaEngine("127.0.0.1", low, high, io=io)
        await engine.start()
        created = []
        with pytest.raises(PortsExhausted, match=f"no free RTP/RTCP port pair in {low}-{high}"):
            for _ in range(3):
                created.append(await engine.create_endpoint())
        assert len(created) <= 2
        if created:
            await created[0].close()
            again = await engine.create_endpoint()  # a closed endpoint's ports are free again
            assert again.local_port == created[0].local_port or len(created) == 1
        await engine.close()
    run(loop_kind, main)


def test_relay_works_over_ipv6_loopback(loop_kind: str) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        socket.socket(socket.AF_INET6, socket.SOCK_DGRAM).bind(("::1", 0))
    except OSError:
        pytest.skip("no ::1 on this host")

    async def main() -> None:
        low, high = port_range()
        engine = MediaEngine("::1", low, high)
        await engine.start()
        loop = asyncio.get_running_loop()
        phones = []
        for _ in range(2):
            transport, phone = await loop.create_datagram_endpoint(Phone, local_addr=("::1", 0))
            phone.transport = transport
            phones.append(phone)
        ep_a, ep_b = await engine.create_endpoint(), await engine.create_endpoint()
        ep_a.set_remote(*phones[0].address)
        ep_b.set_remote(*phones[1].address)
        engine.connect(ep_a, ep_b)
        packet = phones[0].rtp(b"\x01" * 160)
        phones[0].send(packet, ("::1", ep_a.local_port))
        await settle(lambda: len(phones[1].received) == 1)
        assert phones[1].received[0][0] == packet
        assert ep_a.stats()["remote"] == "[::1]:%d" % phones[0].address[1]
        await engine.close()
    run(loop_kind, main)
