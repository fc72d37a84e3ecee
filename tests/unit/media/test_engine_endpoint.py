"""An endpoint's packet logic without sockets: statistics, latching, timeouts, generated RTP, DTMF, RTCP."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from appliance.media import g711
from appliance.media.dtmf import TelephoneEvent
from appliance.media.endpoint import Endpoint, _rewrite, payload_offset
from appliance.media.engine import PortAllocator
from appliance.media.players import ArraySource, DtmfOut, ToneSource
from appliance.media.rtp import ReceiverReport, ReportBlock, RtpPacket, SenderReport, ntp_middle32, ntp_timestamp, \
    parse_rtcp

PHONE = ("192.0.2.10", 4000)


class FakeEngine:
    """The few engine services an endpoint calls, with a settable clock."""

    cname = "pbx@test"

    def __init__(self) -> None:
        self.t = 1000.0
        self.digits: list[str] = []
        self.timeouts = 0

    def now(self) -> float:
        return self.t

    def ntp(self, now: float) -> int:
        return ntp_timestamp(1_700_000_000.0 + now)

    def _replan(self, endpoint: Endpoint) -> None:
        pass

    def _reclaim(self, endpoints: object) -> None:
        pass

    def _emit_dtmf(self, endpoint: Endpoint, digit: str) -> None:
        self.digits.append(digit)

    def _emit_timeout(self, endpoint: Endpoint) -> None:
        self.timeouts += 1


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine()


@pytest.fixture
def endpoint(engine: FakeEngine) -> Endpoint:
    ep = Endpoint(engine, 1, "127.0.0.1", 10000)  # type: ignore[arg-type]
    ep.set_remote(*PHONE)
    ep.set_codec("PCMU", 0, 101)
    return ep


class Wire:
    """Captures what an endpoint sends."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.sent: list[tuple[bytes, tuple[str, int]]] = []
        endpoint._sendto = self.send
        endpoint._rtcp_sendto = self.send

    def send(self, data: bytes, addr: tuple[str, int]) -> None:
        self.sent.append((bytes(data), addr))

    def packets(self) -> list[RtpPacket]:
        return [RtpPacket.parse(d) for d, _ in self.sent]


def rtp(seq: int, ts: int, pt: int = 0, payload: bytes = b"\xff" * 160, marker: bool = False,
        ssrc: int = 0x1234) -> bytes:
    return RtpPacket(pt, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc, payload, marker).serialize()


# --------------------------------------------------------------------------------------------------- wire helpers

def test_payload_offset_skips_csrcs_and_the_header_extension() -> None:
    plain = rtp(1, 0)
    assert payload_offset(plain) == 12
    rich = RtpPacket(0, 1, 0, 1, b"abcd", csrc=[7, 8], extension=(0xBEDE, b"\x10\x01\x00\x00")).serialize()
    assert payload_offset(rich) == 12 + 8 + 4 + 4
    assert rich[payload_offset(rich):] == b"abcd"


def test_rewrite_maps_the_payload_type_keeps_the_marker_and_swaps_the_g711_law() -> None:
    payload = g711.ulaw_encode(np.arange(-8000, 8000, 100, dtype=np.int16))
    data = rtp(5, 800, pt=0, payload=payload, marker=True)
    out = RtpPacket.parse(bytes(_rewrite(data, data[1], (8, g711.ULAW_TO_ALAW.tobytes()))))
    assert (out.payload_type, out.marker, out.sequence_number, out.timestamp) == (8, True, 5, 800)
    assert out.payload == g711.ulaw_to_alaw(payload)
    padded = RtpPacket(101, 1, 0, 1, b"\x05\x0a\x00\xa0", padding_size=4).serialize()
    out = RtpPacket.parse(bytes(_rewrite(padded, padded[1], (96, None))))
    assert out.payload_type == 96 and out.payload == b"\x05\x0a\x00\xa0"


def test_port_allocator_hands_out_even_ports_round_robin() -> None:
    ports = PortAllocator(10001, 10009)
    assert list(ports.ports) == [10002, 10004, 10006, 10008]
    ports.take(10002)
    assert list(ports.candidates()) == [10004, 10006, 10008]
    ports.take(10004)
    ports.release(10002)
    assert list(ports.candidates()) == [10006, 10008, 10002]  # a just-freed port is tried last
    with pytest.raises(ValueError, match="no even/odd pair"):
        PortAllocator(10000, 10000)


# --------------------------------------------------------------------------------------------------- receive side

def test_receive_statistics_count_loss_across_sequence_wrap(endpoint: Endpoint, engine: FakeEngine) -> None:
    for i, seq in enumerate([65533, 65534, 65535, 1, 2, 4]):  # 0 and 3 lost
        engine.t += 0.02
        endpoint._on_rtp(rtp(seq, i * 160), PHONE)
    stats = endpoint.stats()
    assert stats["packets_in"] == 6 and stats["lost"] == 2
    assert stats["jitter_ms"] == 0.0


def test_jitter_follows_rfc3550_a8(endpoint: Endpoint, engine: FakeEngine) -> None:
    endpoint._on_rtp(rtp(1, 0), PHONE)
    engine.t += 0.030  # 10 ms late against a 20 ms timestamp step: D = 80 units
    endpoint._on_rtp(rtp(2, 160), PHONE)
    assert endpoint.stats()["jitter_ms"] == pytest.approx(80 / 16 / 8, abs=1e-3)


def test_first_source_is_latched_and_others_are_dropped(endpoint: Endpoint, engine: FakeEngine) -> None:
    nat = ("198.51.100.7", 33000)
    endpoint._on_rtp(rtp(1, 0), nat)
    endpoint._on_rtp(rtp(1, 0), ("203.0.113.66", 5000))
    assert endpoint.remote == nat and endpoint.packets_in == 1 and endpoint.dropped == 1


def test_a_silent_latch_reopens_after_two_seconds(endpoint: Endpoint, engine: FakeEngine) -> None:
    endpoint._on_rtp(rtp(1, 0), PHONE)
    endpoint._housekeeping(engine.t)
    engine.t += 2.5
    endpoint._housekeeping(engine.t)
    moved = ("192.0.2.10", 4100)  # the phone's NAT binding changed
    endpoint._on_rtp(rtp(2, 160), moved)
    assert endpoint.remote == moved


def test_rtp_timeout_fires_once_and_rearms_when_media_returns(endpoint: Endpoint, engine: FakeEngine) -> None:
    endpoint.timeout = 5
    for _ in range(12):
        engine.t += 1
        endpoint._housekeeping(engine.t)
    assert engine.timeouts == 1
    endpoint._on_rtp(rtp(1, 0), PHONE)
    endpoint._housekeeping(engine.t)
    for _ in range(6):
        engine.t += 1
        endpoint._housekeeping(engine.t)
    assert engine.timeouts == 2


def test_no_timeout_while_we_only_send(endpoint: Endpoint, engine: FakeEngine) -> None:
    endpoint.timeout = 1
    endpoint.set_direction("sendonly")
    for _ in range(5):
        engine.t += 1
        endpoint._housekeeping(engine.t)
    assert engine.timeouts == 0


def test_media_received_while_sendonly_is_counted_but_not_used(endpoint: Endpoint, engine: FakeEngine) -> None:
    endpoint.set_direction("sendonly")
    endpoint._on_rtp(rtp(1, 0, pt=101, payload=TelephoneEvent(1, True, 10, 800).serialize()), PHONE)
    assert endpoint.packets_in == 1 and engine.digits == []


def test_muxed_rtcp_is_told_apart_from_rtp(endpoint: Endpoint, engine: FakeEngine) -> None:
    endpoint._on_rtp(ReceiverReport(0x1234, [ReportBlock(endpoint.ssrc, 0, 3, 10, 16)]).serialize(), PHONE)
    assert endpoint.packets_in == 0 and endpoint.stats()["rtcp_in"] == 1 and endpoint.stats()["remote_lost"] == 3


def test_garbage_is_dropped(endpoint: Endpoint) -> None:
    for junk in (b"", b"\x00" * 20, b"\x80\x00"):
        endpoint._on_rtp(junk, PHONE)
    assert endpoint.dropped == 3 and endpoint.packets_in == 0


# --------------------------------------------------------------------------------------------------- send side

def test_generated_audio_has_our_ssrc_a_marker_per_talkspurt_and_a_timestamp_that_follows_time(
        endpoint: Endpoint, engine: FakeEngine) -> None:
    wire = Wire(endpoint)
    frame = np.zeros(160, dtype=np.int16)
    for _ in range(3):
        endpoint._send_frame(frame, engine.t)
        engine.t += 0.02
    endpoint._end_talkspurt()
    engine.t += 0.1  # 100 ms with nothing sent
    endpoint._send_frame(frame, engine.t)
    packets = wire.packets()
    assert [p.marker for p in packets] == [True, False, False, True]
    assert {p.ssrc for p in packets} == {endpoint.ssrc}
    steps = [(b.timestamp - a.timestamp) & 0xFFFFFFFF for a, b in zip(packets, packets[1:])]
    assert steps == [160, 160, 160 + 800]
    assert all(addr == PHONE for _, addr in wire.sent)


def test_ptime_40_sends_one_packet_per_two_frames(endpoint: Endpoint, engine: FakeEngine) -> None:
    endpoint.set_codec("PCMA", 8, None, ptime=40)
    wire = Wire(endpoint)
    for _ in range(4):
        endpoint._send_frame(np.zeros(160, dtype=np.int16), engine.t)
        engine.t += 0.02
    assert [len(p.payload) for p in wire.packets()] == [320, 320]
    assert wire.packets()[0].payload_type == 8


def test_nothing_is_sent_towards_a_phone_that_does_not_receive(endpoint: Endpoint, engine: FakeEngine) -> None:
    wire = Wire(endpoint)
    endpoint.set_direction("recvonly")
    endpoint._send_frame(np.zeros(160, dtype=np.int16), engine.t)
    assert wire.sent == []


def test_rfc4733_digit_then_audio_keeps_one_timeline(endpoint: Endpoint, engine: FakeEngine) -> None:
    wire = Wire(endpoint)
    out = DtmfOut(endpoint, on_idle=lambda out: None)
    out.add("9", 60)
    for _ in range(6):
        out.tick(engine.t)
        engine.t += 0.02
    endpoint._send_frame(np.zeros(160, dtype=np.int16), engine.t)
    packets = wire.packets()
    events = [TelephoneEvent.parse(p.payload) for p in packets[:-1]]
    assert [e.duration for e in events] == [160, 320, 480, 480, 480]
    assert [e.end for e in events] == [False, False, True, True, True]
    assert packets[0].marker and packets[-1].marker
    start = packets[0].timestamp
    assert all(p.timestamp == start for p in packets[:-1])
    assert (packets[-1].timestamp - start) & 0xFFFFFFFF >= 480


def test_unknown_digits_are_refused(endpoint: Endpoint) -> None:
    with pytest.raises(ValueError):
        DtmfOut(endpoint, on_idle=lambda out: None).add("X", 100)


# --------------------------------------------------------------------------------------------------- sources

def test_array_source_pads_the_last_frame_and_ends() -> None:
    source = ArraySource(np.ones(200, dtype=np.int16))
    first, second = source.read_frame(), source.read_frame()
    assert len(first) == len(second) == 160 and second[40:].sum() == 0
    assert source.read_frame() is None


def test_looping_array_source_wraps_without_a_gap() -> None:
    source = ArraySource(np.arange(100, dtype=np.int16), loop=True)
    frame = source.read_frame()
    assert list(frame[98:102]) == [98, 99, 0, 1]


def test_one_shot_tone_ends_and_looping_tone_restarts() -> None:
    from appliance.media.tones import ToneSpec
    once = ToneSource(ToneSpec.parse("!440/30"))
    assert once.read_frame() is not None and once.read_frame() is not None and once.read_frame() is None
    looping = ToneSource(ToneSpec.parse("!440/30"), loop=True)
    assert all(looping.read_frame() is not None for _ in range(10))


# --------------------------------------------------------------------------------------------------- RTCP

def test_report_is_an_sr_with_a_block_about_the_phone_once_we_have_sent(endpoint: Endpoint,
                                                                         engine: FakeEngine) -> None:
    Wire(endpoint)
    for seq in (1, 2, 4):
        endpoint._on_rtp(rtp(seq, seq * 160, ssrc=0xCAFE), PHONE)
    report = parse_rtcp(endpoint.rtcp.build_report(engine.t))
    assert isinstance(report[0], ReceiverReport)
    block = report[0].reports[0]
    assert (block.ssrc, block.cumulative_lost, block.highest_sequence, block.fraction_lost) == (0xCAFE, 1, 4, 64)
    endpoint._send_frame(np.zeros(160, dtype=np.int16), engine.t)
    report = parse_rtcp(endpoint.rtcp.build_report(engine.t))
    assert isinstance(report[0], SenderReport) and report[0].packet_count == 1
    assert report[0].reports[0].fraction_lost == 0  # no new loss since the previous report


def test_round_trip_time_comes_from_lsr_and_dlsr(endpoint: Endpoint, engine: FakeEngine) -> None:
    sent_at = engine.t
    lsr = ntp_middle32(engine.ntp(sent_at))
    engine.t += 0.150  # the phone held our SR 100 ms, the network took 50 ms in total
    rr = ReceiverReport(0x1234, [ReportBlock(endpoint.ssrc, 0, 0, 1, 0, lsr, int(0.1 * 65536))])
    endpoint.rtcp.receive(rr.serialize(), engine.t)
    assert endpoint.stats()["rtt_ms"] == pytest.approx(50, abs=0.1)


def test_reports_are_scheduled_about_every_five_seconds(endpoint: Endpoint, engine: FakeEngine) -> None:
    wire = Wire(endpoint)
    for _ in range(60):
        engine.t += 1
        endpoint.rtcp.maybe_send(engine.t)
    assert 8 <= len(wire.sent) <= 20
    assert all(addr == (PHONE[0], PHONE[1] + 1) for _, addr in wire.sent)


def test_malformed_rtcp_is_ignored(endpoint: Endpoint, engine: FakeEngine) -> None:
    endpoint.rtcp.receive(struct.pack("!BBH", 0x80, 201, 50), engine.t)
    assert endpoint.stats()["rtcp_in"] == 0
