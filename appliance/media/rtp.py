"""RTP and RTCP wire types and receiver statistics (RFC 3550), sans-I/O.

`RtpPacket` is parsed and serialised on every 20 ms frame of every call, so it is a
`__slots__` class built on `struct` with no per-packet validation beyond what RFC 3550
§A.1 asks of a receiver. RTCP packets are in rtcp.py (re-exported here). `ReceptionStats` implements the
receiver algorithms of appendix A.1 (sequence validation), A.3 (loss) and A.8 (jitter).
"""

from __future__ import annotations

import struct

# RTCP lives in rtcp.py; re-exported because callers take RTP and RTCP types from one module.
from .rtcp import (  # noqa: F401
    NTP_EPOCH_OFFSET,
    SDES_CNAME,
    SDES_EMAIL,
    SDES_LOC,
    SDES_NAME,
    SDES_NOTE,
    SDES_PHONE,
    SDES_PRIV,
    SDES_TOOL,
    Bye,
    ReceiverReport,
    ReportBlock,
    RtcpPacket,
    SdesChunk,
    SenderReport,
    SourceDescription,
    UnknownRtcp,
    build_compound,
    ntp_middle32,
    ntp_timestamp,
    parse_rtcp,
)

_RTP_HEADER = struct.Struct("!BBHII")
RTP_SEQ_MOD = 1 << 16


class RtpPacket:
    """One RTP packet (RFC 3550 §5.1); padding is stripped on parse and added on request."""

    __slots__ = ("payload_type", "sequence_number", "timestamp", "ssrc", "payload",
                 "marker", "csrc", "extension", "padding_size")

    def __init__(self, payload_type: int = 0, sequence_number: int = 0, timestamp: int = 0,
                 ssrc: int = 0, payload: bytes = b"", marker: bool = False,
                 csrc: list[int] | None = None, extension: tuple[int, bytes] | None = None,
                 padding_size: int = 0) -> None:
        self.payload_type = payload_type
        self.sequence_number = sequence_number
        self.timestamp = timestamp
        self.ssrc = ssrc
        self.payload = payload
        self.marker = marker
        self.csrc = csrc if csrc is not None else []
        self.extension = extension
        self.padding_size = padding_size

    def __repr__(self) -> str:
        return (f"RtpPacket(pt={self.payload_type}, seq={self.sequence_number}, ts={self.timestamp}, "
                f"ssrc={self.ssrc:#010x}, marker={self.marker}, payload={len(self.payload)} bytes)")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RtpPacket):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self.__slots__)

    @classmethod
    def parse(cls, data: bytes) -> RtpPacket:
        """Parse a datagram; raise ValueError if it is not a well-formed RTP packet."""
        if len(data) < 12:
            raise ValueError(f"RTP packet too short: {len(data)} bytes, need at least 12")
        b0, b1, seq, ts, ssrc = _RTP_HEADER.unpack_from(data)
        if b0 >> 6 != 2:
            raise ValueError(f"RTP version is {b0 >> 6}, expected 2")
        end = len(data)
        padding = 0
        if b0 & 0x20:
            padding = data[-1]
            if padding == 0:
                raise ValueError("RTP padding flag set but padding count is 0")
            end -= padding
        pos = 12
        cc = b0 & 0x0F
        csrc: list[int] = []
        if cc:
            if pos + 4 * cc > end:
                raise ValueError(f"RTP packet too short for {cc} CSRC identifiers")
            csrc = list(struct.unpack_from(f"!{cc}I", data, pos))
            pos += 4 * cc
        extension = None
        if b0 & 0x10:
            if pos + 4 > end:
                raise ValueError("RTP packet too short for the header extension")
            profile, words = struct.unpack_from("!HH", data, pos)
            pos += 4
            if pos + 4 * words > end:
                raise ValueError(f"RTP header extension of {words} words overruns the packet")
            extension = (profile, bytes(data[pos:pos + 4 * words]))
            pos += 4 * words
        if end < pos:
            raise ValueError(f"RTP padding count {padding} overruns the packet")
        pkt = cls.__new__(cls)
        pkt.payload_type = b1 & 0x7F
        pkt.marker = bool(b1 & 0x80)
        pkt.sequence_number = seq
        pkt.timestamp = ts
        pkt.ssrc = ssrc
        pkt.csrc = csrc
        pkt.extension = extension
        pkt.padding_size = padding
        pkt.payload = bytes(data[pos:end])
        return pkt

    def serialize(self) -> bytes:
        """Return the packet as bytes, header first (RFC 3550 §5.1)."""
        b0 = 0x80 | len(self.csrc)
        if self.padding_size:
            b0 |= 0x20
        if self.extension is not None:
            b0 |= 0x10
        b1 = (0x80 if self.marker else 0) | (self.payload_type & 0x7F)
        header = _RTP_HEADER.pack(b0, b1, self.sequence_number & 0xFFFF,
                                  self.timestamp & 0xFFFFFFFF, self.ssrc & 0xFFFFFFFF)
        if not self.csrc and self.extension is None and not self.padding_size:
            return header + self.payload
        parts = [header]
        if self.csrc:
            parts.append(struct.pack(f"!{len(self.csrc)}I", *self.csrc))
        if self.extension is not None:
            profile, body = self.extension
            if len(body) % 4:
                raise ValueError("RTP header extension length must be a multiple of 4 bytes")
            parts.append(struct.pack("!HH", profile, len(body) // 4) + body)
        parts.append(self.payload)
        if self.padding_size:
            parts.append(bytes(self.padding_size - 1) + bytes([self.padding_size]))
        return b"".join(parts)


def is_rtcp(data: bytes) -> bool:
    """True when a datagram on a muxed port is RTCP (RFC 5761 §4: second byte 192..223)."""
    return len(data) >= 2 and 192 <= data[1] <= 223


# --------------------------------------------------------------------------- receiver statistics

MAX_DROPOUT = 3000
MAX_MISORDER = 100
MIN_SEQUENTIAL = 2


class ReceptionStats:
    """Receiver-side state for one source: RFC 3550 A.1 validation, A.3 loss, A.8 jitter.

    A new SSRC restarts the statistics (the source changed). `update` returns whether the
    packet is valid for the source; packets received during probation or after a big jump
    are not counted until the sequence is confirmed, exactly as A.1 prescribes.
    """

    def __init__(self, clock_rate: int = 8000, min_sequential: int = MIN_SEQUENTIAL) -> None:
        self.clock_rate = clock_rate
        self.min_sequential = min_sequential
        self.ssrc: int | None = None
        self.max_seq = 0
        self.cycles = 0
        self.base_seq = 0
        self.bad_seq = RTP_SEQ_MOD + 1
        self.probation = 0
        self._received = 0
        self.expected_prior = 0
        self.received_prior = 0
        self._transit: float | None = None
        self._jitter = 0.0  # in timestamp units, as in A.8
        self.last_sr_ntp_middle = 0
        self.last_sr_arrival: float | None = None

    def _init_seq(self, seq: int) -> None:
        self.base_seq = seq
        self.max_seq = seq
        self.bad_seq = RTP_SEQ_MOD + 1
        self.cycles = 0
        self._received = 0
        self.received_prior = 0
        self.expected_prior = 0

    def _start_source(self, ssrc: int, seq: int) -> None:
        self.ssrc = ssrc
        self._init_seq(seq)
        self.max_seq = (seq - 1) & 0xFFFF
        self.probation = self.min_sequential
        self._transit = None
        self._jitter = 0.0

    def _update_seq(self, seq: int) -> bool:
        udelta = (seq - self.max_seq) & 0xFFFF
        if self.probation:
            if seq == (self.max_seq + 1) & 0xFFFF:
                self.probation -= 1
                self.max_seq = seq
                if self.probation == 0:
                    self._init_seq(seq)
                    self._received += 1
                    return True
            else:
                self.probation = self.min_sequential - 1
                self.max_seq = seq
            return False
        if udelta < MAX_DROPOUT:
            if seq < self.max_seq:
                self.cycles += RTP_SEQ_MOD
            self.max_seq = seq
        elif udelta <= RTP_SEQ_MOD - MAX_MISORDER:
            if seq == self.bad_seq:
                self._init_seq(seq)  # two sequential packets after a jump: the sender restarted
            else:
                self.bad_seq = (seq + 1) & 0xFFFF
                return False
        self._received += 1  # duplicates and reordered packets are counted, as in A.1
        return True

    def update(self, packet: RtpPacket, arrival: float) -> bool:
        """Account for one received packet; `arrival` is the monotonic receive time in seconds."""
        if packet.ssrc != self.ssrc:
            self._start_source(packet.ssrc, packet.sequence_number)
            if self.min_sequential <= 1:
                self.probation = 0
                self._init_seq(packet.sequence_number)
                self._received = 1
            else:
                self._update_seq(packet.sequence_number)
                return False
        elif not self._update_seq(packet.sequence_number):
            return False
        transit = arrival * self.clock_rate - packet.timestamp
        if self._transit is not None:
            d = transit - self._transit
            # The timestamp is modulo 2^32: fold the difference back into range.
            d = (d + 2**31) % 2**32 - 2**31
            self._jitter += (abs(d) - self._jitter) / 16.0
        self._transit = transit
        return True

    def record_sender_report(self, sr: SenderReport, arrival: float) -> None:
        """Remember an SR from this source so the next report block carries LSR/DLSR."""
        self.last_sr_ntp_middle = ntp_middle32(sr.ntp_timestamp)
        self.last_sr_arrival = arrival

    @property
    def received(self) -> int:
        """Packets counted for this source (A.1: duplicates included)."""
        return self._received

    @property
    def extended_max(self) -> int:
        """Highest sequence number received, extended with the wrap count."""
        return self.cycles + self.max_seq

    @property
    def expected(self) -> int:
        """Packets expected from the base sequence to the highest received (A.3)."""
        if self.ssrc is None or self.probation:
            return 0
        return self.extended_max - self.base_seq + 1

    @property
    def lost(self) -> int:
        """Cumulative packets lost (A.3); negative when duplicates outnumber losses."""
        return self.expected - self._received

    @property
    def fraction_lost(self) -> float:
        """Fraction lost (0..1) since the last `report_block` (A.3), without resetting it."""
        expected_interval = self.expected - self.expected_prior
        lost_interval = expected_interval - (self._received - self.received_prior)
        if expected_interval <= 0 or lost_interval <= 0:
            return 0.0
        return lost_interval / expected_interval

    @property
    def jitter(self) -> int:
        """Interarrival jitter in timestamp units, as carried in report blocks (A.8)."""
        return int(self._jitter)

    @property
    def jitter_ms(self) -> float:
        """Interarrival jitter in milliseconds."""
        return self._jitter * 1000.0 / self.clock_rate

    def report_block(self, now: float) -> ReportBlock:
        """Build the report block for this source and start a new loss interval (A.3)."""
        fraction = min(255, int(self.fraction_lost * 256))
        self.expected_prior = self.expected
        self.received_prior = self._received
        dlsr = 0
        if self.last_sr_arrival is not None:
            dlsr = int(max(0.0, now - self.last_sr_arrival) * 65536) & 0xFFFFFFFF
        return ReportBlock(self.ssrc or 0, fraction, self.lost, self.extended_max & 0xFFFFFFFF,
                           self.jitter, self.last_sr_ntp_middle, dlsr)
