"""RTP/RTCP wire format (RFC 3550 §5-6), RFC 5761 demultiplexing and receiver statistics (appendix A)."""

from __future__ import annotations

import struct

import pytest

from appliance.media.rtp import (
    Bye,
    ReceiverReport,
    ReceptionStats,
    ReportBlock,
    RtpPacket,
    SdesChunk,
    SenderReport,
    SourceDescription,
    UnknownRtcp,
    build_compound,
    is_rtcp,
    ntp_middle32,
    ntp_timestamp,
    parse_rtcp,
)

# A PCMU packet as sent by a pjsua2 phone: V=2, PT=0, seq 0x1234, ts 0x00000a0, ssrc 0xdeadbeef.
PCMU_PACKET = bytes.fromhex("80001234000000a0deadbeef") + b"\xff" * 160


def test_parse_plain_pcmu_packet():
    pkt = RtpPacket.parse(PCMU_PACKET)
    assert (pkt.payload_type, pkt.sequence_number, pkt.timestamp, pkt.ssrc) == (0, 0x1234, 0xA0, 0xDEADBEEF)
    assert pkt.marker is False and pkt.csrc == [] and pkt.extension is None
    assert pkt.payload == b"\xff" * 160


def test_serialize_round_trips_captured_bytes():
    assert RtpPacket.parse(PCMU_PACKET).serialize() == PCMU_PACKET


def test_marker_csrc_extension_and_padding_round_trip():
    pkt = RtpPacket(payload_type=101, sequence_number=65535, timestamp=0xFFFFFFFF, ssrc=1,
                    payload=b"\x01\x0a\x00\xa0", marker=True, csrc=[7, 8],
                    extension=(0xBEDE, b"\x10\xff\x00\x00"), padding_size=4)
    data = pkt.serialize()
    assert data[0] == 0x80 | 0x20 | 0x10 | 2
    assert data[1] == 0x80 | 101
    assert data[-1] == 4
    again = RtpPacket.parse(data)
    assert again == pkt


def test_padding_is_stripped_from_payload():
    data = bytes.fromhex("a0000001000000010000000a") + b"abcd" + b"\x00\x00\x03"
    pkt = RtpPacket.parse(data)
    assert pkt.payload == b"abcd" and pkt.padding_size == 3


@pytest.mark.parametrize("data, message", [
    (b"\x80\x00", "too short"),
    (bytes.fromhex("40001234000000a0deadbeef"), "version"),
    (bytes.fromhex("82001234000000a0deadbeef") + b"\x00" * 4, "CSRC"),
    (bytes.fromhex("90001234000000a0deadbeef") + b"\xbe\xde\x00\x05", "extension"),
    (bytes.fromhex("a0001234000000a0deadbeef") + b"\x00", "padding"),
    (bytes.fromhex("a0001234000000a0deadbeef") + b"\x00\x20", "padding"),
])
def test_malformed_packets_raise_value_error(data, message):
    with pytest.raises(ValueError, match=message):
        RtpPacket.parse(data)


def test_rfc5761_demultiplexing_by_second_byte():
    sr = SenderReport(1, 0, 0, 0, 0).serialize()
    assert is_rtcp(sr)
    assert not is_rtcp(PCMU_PACKET)
    assert not is_rtcp(RtpPacket(payload_type=101, marker=True).serialize())  # 0xE5 = 229 > 223
    assert not is_rtcp(b"\x80")


def test_sender_report_with_blocks_round_trips():
    block = ReportBlock(ssrc=0x1111, fraction_lost=64, cumulative_lost=-3, highest_sequence=70000,
                        jitter=12, lsr=0xAABBCCDD, dlsr=65536)
    sr = SenderReport(ssrc=0x2222, ntp_timestamp=ntp_timestamp(1_700_000_000.5), rtp_timestamp=160,
                      packet_count=10, octet_count=1600, reports=[block])
    data = sr.serialize()
    assert len(data) == 28 + 24
    assert struct.unpack("!BBH", data[:4]) == (0x81, 200, 12)
    assert parse_rtcp(data) == [sr]


def test_compound_rr_sdes_bye_round_trips():
    packets = [
        ReceiverReport(ssrc=5, reports=[ReportBlock(ssrc=6, cumulative_lost=100)]),
        SourceDescription([SdesChunk(5, [(1, b"pbx@127.0.0.1"), (6, b"appliance")])]),
        Bye([5], b"hang up"),
    ]
    data = build_compound(packets)
    assert len(data) % 4 == 0
    assert parse_rtcp(data) == packets


def test_sdes_chunk_is_null_terminated_and_word_aligned():
    # "abcd" item: 4 + 2 + 4 = 10 bytes -> 2 null octets pad to 12.
    body = SourceDescription([SdesChunk(9, [(1, b"abcd")])]).serialize()[4:]
    assert body == struct.pack("!I", 9) + b"\x01\x04abcd\x00\x00"


def test_unknown_rtcp_types_are_kept():
    app = UnknownRtcp(packet_type=204, count=1, body=b"\x00\x00\x00\x01name")
    rr = ReceiverReport(ssrc=1)
    assert parse_rtcp(build_compound([rr, app])) == [rr, app]


def test_rtcp_padding_on_last_packet():
    data = bytearray(Bye([1]).serialize() + b"\x00\x00\x00\x04")
    data[0] |= 0x20
    data[3] += 1
    assert parse_rtcp(bytes(data)) == [Bye([1])]


@pytest.mark.parametrize("data", [
    b"\x81\xc8",
    bytes.fromhex("81c90007") + b"\x00" * 8,
    bytes.fromhex("41c90001") + b"\x00" * 4,
    bytes.fromhex("81c90001") + b"\x00" * 4,  # RR claims one block but has none
])
def test_malformed_rtcp_raises_value_error(data):
    with pytest.raises(ValueError):
        parse_rtcp(data)


def test_ntp_helpers():
    ntp = ntp_timestamp(0.25)
    assert ntp >> 32 == 2208988800
    assert ntp & 0xFFFFFFFF == 1 << 30
    assert ntp_middle32(ntp) == ((2208988800 & 0xFFFF) << 16) | 0x4000


# --------------------------------------------------------------------------- ReceptionStats

def _pkt(seq: int, ts: int, ssrc: int = 1) -> RtpPacket:
    return RtpPacket(sequence_number=seq & 0xFFFF, timestamp=ts & 0xFFFFFFFF, ssrc=ssrc)


def _feed(stats: ReceptionStats, seqs, start_seq=0) -> None:
    for i, seq in enumerate(seqs):
        stats.update(_pkt(seq, (seq - start_seq) * 160), i * 0.02)


def test_source_is_valid_after_min_sequential_packets():
    stats = ReceptionStats()
    assert stats.update(_pkt(10, 0), 0.0) is False
    assert stats.update(_pkt(11, 160), 0.02) is True
    assert stats.received == 1 and stats.expected == 1 and stats.lost == 0


def test_perfect_stream_has_no_loss_and_no_jitter():
    stats = ReceptionStats()
    _feed(stats, range(100, 200), start_seq=100)
    assert stats.lost == 0 and stats.fraction_lost == 0.0
    assert stats.jitter_ms == pytest.approx(0.0, abs=1e-6)


def test_loss_counts_and_fraction_per_interval():
    stats = ReceptionStats()
    seqs = [s for s in range(0, 102) if s not in (50, 51, 52, 53)]
    _feed(stats, seqs)
    assert stats.expected == 101  # base is seq 1, the first validated packet
    assert stats.lost == 4
    block = stats.report_block(now=3.0)
    assert block.cumulative_lost == 4
    assert block.fraction_lost == int(4 / 101 * 256)
    assert block.highest_sequence == 101
    _feed(stats, range(102, 112))
    assert stats.fraction_lost == 0.0  # new interval without losses


def test_sequence_wrap_extends_highest_sequence():
    stats = ReceptionStats()
    seqs = [(65530 + i) & 0xFFFF for i in range(12)]
    _feed(stats, seqs, start_seq=65530)
    assert stats.cycles == 65536
    assert stats.extended_max == 65536 + 5
    assert stats.lost == 0


def test_duplicates_make_loss_negative_as_rfc_says():
    stats = ReceptionStats()
    _feed(stats, [0, 1, 2, 2, 3])
    assert stats.lost == -1


def test_big_jump_needs_two_sequential_packets_to_restart():
    stats = ReceptionStats()
    _feed(stats, range(0, 10))
    assert stats.update(_pkt(30000, 0), 1.0) is False
    assert stats.update(_pkt(30001, 160), 1.02) is True
    assert stats.base_seq == 30001 and stats.lost == 0


def test_new_ssrc_restarts_statistics():
    stats = ReceptionStats()
    _feed(stats, [s for s in range(20) if s != 5])
    assert stats.lost == 1
    stats.update(_pkt(500, 0, ssrc=2), 1.0)
    stats.update(_pkt(501, 160, ssrc=2), 1.02)
    assert stats.ssrc == 2 and stats.lost == 0 and stats.received == 1


def test_jitter_follows_rfc3550_a8_estimator():
    stats = ReceptionStats()
    stats.update(_pkt(0, 0), 0.0)
    stats.update(_pkt(1, 160), 0.020)
    stats.update(_pkt(2, 320), 0.050)  # 10 ms late: D = 80 units
    assert stats.jitter == 5  # 80 / 16
    assert stats.jitter_ms == pytest.approx(80 / 16 / 8)


def test_jitter_survives_timestamp_wrap():
    stats = ReceptionStats()
    base = 0xFFFFFFFF - 200
    for i in range(4):
        stats.update(_pkt(i, base + 160 * i), i * 0.02)
    assert stats.jitter_ms < 0.01


def test_report_block_carries_lsr_and_dlsr():
    stats = ReceptionStats()
    _feed(stats, range(5))
    sr = SenderReport(1, ntp_timestamp(1000.5), 0, 0, 0)
    stats.record_sender_report(sr, arrival=10.0)
    block = stats.report_block(now=10.5)
    assert block.lsr == ntp_middle32(sr.ntp_timestamp)
    assert block.dlsr == 32768
    assert block.ssrc == 1
