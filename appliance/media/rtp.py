"""RTP and RTCP wire types and receiver statistics (RFC 3550), sans-I/O.

`RtpPacket` is parsed and serialised on every 20 ms frame of every call, so it is a
`__slots__` class built on `struct` with no per-packet validation beyond what RFC 3550
§A.1 asks of a receiver. RTCP packets are small classes with `parse`/`serialize`;
`parse_rtcp` splits a compound packet (RFC 3550 §6.1). `ReceptionStats` implements the
receiver algorithms of appendix A.1 (sequence validation), A.3 (loss) and A.8 (jitter).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

_RTP_HEADER = struct.Struct("!BBHII")
_RTCP_HEADER = struct.Struct("!BBH")
RTP_SEQ_MOD = 1 << 16
NTP_EPOCH_OFFSET = 2208988800  # seconds from 1900-01-01 (NTP) to 1970-01-01 (Unix)


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


# --------------------------------------------------------------------------- RTCP

@dataclass
class ReportBlock:
    """A reception report block (RFC 3550 §6.4.1)."""

    ssrc: int
    fraction_lost: int = 0  # 8-bit fixed point, lost/expected * 256
    cumulative_lost: int = 0  # signed 24 bits
    highest_sequence: int = 0  # extended highest sequence number received
    jitter: int = 0  # interarrival jitter in timestamp units
    lsr: int = 0  # middle 32 bits of the NTP timestamp of the last SR received
    dlsr: int = 0  # delay since that SR in 1/65536 s

    _STRUCT = struct.Struct("!IB3sIIII")

    @classmethod
    def parse(cls, data: bytes, pos: int = 0) -> ReportBlock:
        """Parse the 24-byte block at `pos`."""
        ssrc, fraction, lost, highest, jitter, lsr, dlsr = cls._STRUCT.unpack_from(data, pos)
        return cls(ssrc, fraction, int.from_bytes(lost, "big", signed=True), highest, jitter, lsr, dlsr)

    def serialize(self) -> bytes:
        """The 24-byte block."""
        lost = max(-(1 << 23), min((1 << 23) - 1, self.cumulative_lost))
        return self._STRUCT.pack(self.ssrc, self.fraction_lost, lost.to_bytes(3, "big", signed=True),
                                 self.highest_sequence & 0xFFFFFFFF, self.jitter, self.lsr, self.dlsr)


def _rtcp_header(count: int, packet_type: int, body: bytes) -> bytes:
    if len(body) % 4:
        raise ValueError("RTCP packet body must be a multiple of 4 bytes")
    return _RTCP_HEADER.pack(0x80 | count, packet_type, len(body) // 4) + body


def _parse_blocks(data: bytes, pos: int, count: int, end: int) -> list[ReportBlock]:
    if pos + 24 * count > end:
        raise ValueError(f"RTCP packet too short for {count} report blocks")
    return [ReportBlock.parse(data, pos + 24 * i) for i in range(count)]


@dataclass
class SenderReport:
    """RTCP SR, packet type 200 (RFC 3550 §6.4.1)."""

    ssrc: int
    ntp_timestamp: int  # 64-bit NTP format: seconds since 1900 << 32 | fraction
    rtp_timestamp: int
    packet_count: int
    octet_count: int
    reports: list[ReportBlock] = field(default_factory=list)
    extension: bytes = b""

    PACKET_TYPE = 200

    @classmethod
    def parse(cls, data: bytes, count: int) -> SenderReport:
        """Parse the body that follows the 4-byte header; ValueError if malformed."""
        if len(data) < 24:
            raise ValueError("RTCP SR shorter than its sender info")
        ssrc, ntp, rtp_ts, packets, octets = struct.unpack_from("!IQIII", data)
        reports = _parse_blocks(data, 24, count, len(data))
        return cls(ssrc, ntp, rtp_ts, packets, octets, reports, bytes(data[24 + 24 * count:]))

    def serialize(self) -> bytes:
        """The packet, RTCP header included."""
        body = struct.pack("!IQIII", self.ssrc, self.ntp_timestamp, self.rtp_timestamp & 0xFFFFFFFF,
                           self.packet_count & 0xFFFFFFFF, self.octet_count & 0xFFFFFFFF)
        body += b"".join(r.serialize() for r in self.reports) + self.extension
        return _rtcp_header(len(self.reports), self.PACKET_TYPE, body)


@dataclass
class ReceiverReport:
    """RTCP RR, packet type 201 (RFC 3550 §6.4.2)."""

    ssrc: int
    reports: list[ReportBlock] = field(default_factory=list)
    extension: bytes = b""

    PACKET_TYPE = 201

    @classmethod
    def parse(cls, data: bytes, count: int) -> ReceiverReport:
        """Parse the body that follows the 4-byte header; ValueError if malformed."""
        if len(data) < 4:
            raise ValueError("RTCP RR shorter than its SSRC")
        (ssrc,) = struct.unpack_from("!I", data)
        return cls(ssrc, _parse_blocks(data, 4, count, len(data)), bytes(data[4 + 24 * count:]))

    def serialize(self) -> bytes:
        """The packet, RTCP header included."""
        body = struct.pack("!I", self.ssrc) + b"".join(r.serialize() for r in self.reports)
        return _rtcp_header(len(self.reports), self.PACKET_TYPE, body + self.extension)


SDES_CNAME, SDES_NAME, SDES_EMAIL, SDES_PHONE, SDES_LOC, SDES_TOOL, SDES_NOTE, SDES_PRIV = range(1, 9)


@dataclass
class SdesChunk:
    """One SSRC and its SDES items, as (item type, value) pairs (RFC 3550 §6.5)."""

    ssrc: int
    items: list[tuple[int, bytes]] = field(default_factory=list)


@dataclass
class SourceDescription:
    """RTCP SDES, packet type 202 (RFC 3550 §6.5)."""

    chunks: list[SdesChunk] = field(default_factory=list)

    PACKET_TYPE = 202

    @classmethod
    def parse(cls, data: bytes, count: int) -> SourceDescription:
        """Parse the body that follows the 4-byte header; ValueError if malformed."""
        chunks = []
        pos = 0
        for _ in range(count):
            if pos + 4 > len(data):
                raise ValueError("RTCP SDES chunk overruns the packet")
            chunk = SdesChunk(struct.unpack_from("!I", data, pos)[0])
            pos += 4
            while True:
                if pos >= len(data):
                    raise ValueError("RTCP SDES chunk has no terminating null item")
                item_type = data[pos]
                if item_type == 0:
                    pos = (pos + 4) & ~3  # the null item plus padding to the next word
                    break
                if pos + 2 > len(data) or pos + 2 + data[pos + 1] > len(data):
                    raise ValueError("RTCP SDES item overruns the packet")
                length = data[pos + 1]
                chunk.items.append((item_type, bytes(data[pos + 2:pos + 2 + length])))
                pos += 2 + length
            chunks.append(chunk)
        return cls(chunks)

    def serialize(self) -> bytes:
        """The packet, RTCP header included."""
        body = bytearray()
        for chunk in self.chunks:
            body += struct.pack("!I", chunk.ssrc)
            for item_type, value in chunk.items:
                if len(value) > 255:
                    raise ValueError("RTCP SDES item longer than 255 bytes")
                body += bytes([item_type, len(value)]) + value
            body += bytes(4 - len(body) % 4)  # at least one null octet, then word alignment
        return _rtcp_header(len(self.chunks), self.PACKET_TYPE, bytes(body))


@dataclass
class Bye:
    """RTCP BYE, packet type 203 (RFC 3550 §6.6)."""

    sources: list[int] = field(default_factory=list)
    reason: bytes = b""

    PACKET_TYPE = 203

    @classmethod
    def parse(cls, data: bytes, count: int) -> Bye:
        """Parse the body that follows the 4-byte header; ValueError if malformed."""
        if 4 * count > len(data):
            raise ValueError(f"RTCP BYE too short for {count} sources")
        sources = list(struct.unpack_from(f"!{count}I", data))
        reason = b""
        pos = 4 * count
        if pos < len(data):
            length = data[pos]
            if pos + 1 + length > len(data):
                raise ValueError("RTCP BYE reason overruns the packet")
            reason = bytes(data[pos + 1:pos + 1 + length])
        return cls(sources, reason)

    def serialize(self) -> bytes:
        """The packet, RTCP header included."""
        body = struct.pack(f"!{len(self.sources)}I", *self.sources)
        if self.reason:
            text = bytes([len(self.reason)]) + self.reason
            body += text + bytes(-len(text) % 4)
        return _rtcp_header(len(self.sources), self.PACKET_TYPE, body)


@dataclass
class UnknownRtcp:
    """Any other RTCP packet (APP, feedback, XR), kept as its type, count field and body."""

    packet_type: int
    count: int
    body: bytes

    @classmethod
    def parse(cls, data: bytes, count: int, packet_type: int = 0) -> UnknownRtcp:
        """Parse the body that follows the 4-byte header; ValueError if malformed."""
        return cls(packet_type, count, bytes(data))

    def serialize(self) -> bytes:
        """The packet, RTCP header included."""
        return _rtcp_header(self.count, self.packet_type, self.body)


RtcpPacket = SenderReport | ReceiverReport | SourceDescription | Bye | UnknownRtcp
_RTCP_TYPES = {c.PACKET_TYPE: c for c in (SenderReport, ReceiverReport, SourceDescription, Bye)}


def parse_rtcp(data: bytes) -> list[RtcpPacket]:
    """Split and parse a compound RTCP packet (RFC 3550 §6.1); ValueError if malformed."""
    packets: list[RtcpPacket] = []
    pos = 0
    if len(data) < 4:
        raise ValueError(f"RTCP packet too short: {len(data)} bytes")
    while pos < len(data):
        if pos + 4 > len(data):
            raise ValueError("RTCP compound packet ends inside a header")
        b0, packet_type, words = _RTCP_HEADER.unpack_from(data, pos)
        if b0 >> 6 != 2:
            raise ValueError(f"RTCP version is {b0 >> 6}, expected 2")
        end = pos + 4 + 4 * words
        if end > len(data):
            raise ValueError(f"RTCP packet type {packet_type} length {words} overruns the datagram")
        body_end = end
        if b0 & 0x20:
            if end != len(data):
                raise ValueError("RTCP padding allowed only on the last packet of a compound")
            padding = data[end - 1]
            if padding == 0 or padding > 4 * words:
                raise ValueError(f"RTCP padding count {padding} is invalid")
            body_end -= padding
        body = memoryview(data)[pos + 4:body_end]
        cls = _RTCP_TYPES.get(packet_type)
        if cls is None:
            packets.append(UnknownRtcp(packet_type, b0 & 0x1F, bytes(body)))
        else:
            packets.append(cls.parse(bytes(body), b0 & 0x1F))
        pos = end
    return packets


def build_compound(packets: list[RtcpPacket]) -> bytes:
    """Concatenate RTCP packets into one compound datagram (SR or RR first, RFC 3550 §6.1)."""
    return b"".join(p.serialize() for p in packets)


def ntp_timestamp(unix_seconds: float) -> int:
    """64-bit NTP timestamp for a wall-clock time given as Unix seconds (taken by the caller)."""
    seconds = int(unix_seconds)
    fraction = int((unix_seconds - seconds) * (1 << 32)) & 0xFFFFFFFF
    return ((seconds + NTP_EPOCH_OFFSET) & 0xFFFFFFFF) << 32 | fraction


def ntp_middle32(ntp: int) -> int:
    """The middle 32 bits of an NTP timestamp, as carried in LSR (RFC 3550 §6.4.1)."""
    return (ntp >> 16) & 0xFFFFFFFF


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
