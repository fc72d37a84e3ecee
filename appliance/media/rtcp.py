"""RTCP wire types (RFC 3550 §6): sender and receiver reports, SDES, BYE, compound packets.

Small classes with `parse`/`serialize`; `parse_rtcp` splits a compound packet (§6.1). RTCP is
sent every few seconds per stream, so clarity wins over speed here (unlike `rtp.RtpPacket`).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

_RTCP_HEADER = struct.Struct("!BBH")
NTP_EPOCH_OFFSET = 2208988800  # seconds from 1900-01-01 (NTP) to 1970-01-01 (Unix)

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
