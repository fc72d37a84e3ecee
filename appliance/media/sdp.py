"""SDP (RFC 8866, formerly RFC 4566): parse and serialize session descriptions.

Only what a PBX needs is modelled as fields (origin, connection, timing, media lines); every other line and every
attribute is kept, in order, so that a description can be parsed and written back without losing what a phone or
a browser put in it.  The RFC 3264 offer/answer helpers live in :mod:`appliance.media.offer_answer` and are
re-exported here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

__all__ = [
    "Attribute", "Codec", "Connection", "DIRECTIONS", "MediaDescription", "Origin", "SessionDescription",
    "STATIC_CODECS", "codec_from_static",
]

DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")

# RFC 3551 §6 table 4: static audio payload types.  G.722 samples at 16 kHz but its RTP clock is 8000 (RFC 3551
# §4.5.2 quirk), which is what the table says and what every phone sends.
STATIC_CODECS: dict[int, tuple[str, int, int]] = {
    0: ("PCMU", 8000, 1), 3: ("GSM", 8000, 1), 4: ("G723", 8000, 1), 5: ("DVI4", 8000, 1),
    6: ("DVI4", 16000, 1), 7: ("LPC", 8000, 1), 8: ("PCMA", 8000, 1), 9: ("G722", 8000, 1),
    10: ("L16", 44100, 2), 11: ("L16", 44100, 1), 12: ("QCELP", 8000, 1), 13: ("CN", 8000, 1),
    14: ("MPA", 90000, 1), 15: ("G728", 8000, 1), 16: ("DVI4", 11025, 1), 17: ("DVI4", 22050, 1),
    18: ("G729", 8000, 1),
}
_CANONICAL_NAMES = {name.upper(): name for name, _, _ in STATIC_CODECS.values()}

# RFC 8866 §5: the order in which session-level and media-level lines must appear.
_SESSION_ORDER = "vosiuepcbtrzkam"
_MEDIA_ORDER = "micbka"


@dataclass
class Codec:
    """One RTP payload format as negotiated: `name` is canonical upper case for the static names (PCMU, G722…)."""

    name: str
    clock_rate: int
    payload_type: int
    channels: int = 1
    fmtp: str | None = None

    def same_format(self, other: Codec) -> bool:
        """True when both describe the same encoding (name, clock and channels), whatever the payload numbers."""
        return (self.name.lower() == other.name.lower() and self.clock_rate == other.clock_rate
                and self.channels == other.channels)

    def rtpmap_value(self) -> str:
        """The value of this codec's `a=rtpmap` attribute (RFC 8866 §6.6)."""
        suffix = f"/{self.channels}" if self.channels != 1 else ""
        return f"{self.payload_type} {self.name}/{self.clock_rate}{suffix}"


def codec_from_static(payload_type: int) -> Codec | None:
    """The codec a static payload type stands for when no rtpmap is given, or None for dynamic/unknown numbers."""
    entry = STATIC_CODECS.get(payload_type)
    if entry is None:
        return None
    name, rate, channels = entry
    return Codec(name, rate, payload_type, channels)


def _canonical_name(name: str) -> str:
    return _CANONICAL_NAMES.get(name.upper(), name)


@dataclass
class Attribute:
    """An `a=` line: `value` is None for property attributes such as `a=sendrecv`."""

    name: str
    value: str | None = None

    def __str__(self) -> str:
        return self.name if self.value is None else f"{self.name}:{self.value}"

    @classmethod
    def parse(cls, text: str) -> Attribute:
        name, sep, value = text.partition(":")
        if not name:
            raise ValueError(f"SDP attribute without a name: a={text!r}")
        return cls(name, value if sep else None)


@dataclass
class Origin:
    """The `o=` line (RFC 8866 §5.2); `session_version` must grow each time the description changes (RFC 3264 §8)."""

    username: str = "-"
    session_id: int = 0
    session_version: int = 0
    nettype: str = "IN"
    addrtype: str = "IP4"
    address: str = "127.0.0.1"

    def __str__(self) -> str:
        return (f"{self.username} {self.session_id} {self.session_version} "
                f"{self.nettype} {self.addrtype} {self.address}")

    @classmethod
    def parse(cls, text: str) -> Origin:
        parts = text.split()
        if len(parts) != 6:
            raise ValueError(f"SDP o= line needs 6 fields, got {len(parts)}: {text!r}")
        try:
            session_id, version = int(parts[1]), int(parts[2])
        except ValueError as err:
            raise ValueError(f"SDP o= session id and version must be numeric: {text!r}") from err
        return cls(parts[0], session_id, version, parts[3], parts[4], parts[5])


@dataclass
class Connection:
    """The `c=` line (RFC 8866 §5.7); an address of 0.0.0.0 is the RFC 2543 way of putting a call on hold."""

    address: str
    nettype: str = "IN"
    addrtype: str = "IP4"

    def __str__(self) -> str:
        return f"{self.nettype} {self.addrtype} {self.address}"

    @classmethod
    def parse(cls, text: str) -> Connection:
        parts = text.split()
        if len(parts) != 3:
            raise ValueError(f"SDP c= line needs 3 fields: {text!r}")
        # A multicast TTL/count suffix ("224.2.1.1/127") is kept as part of the address text.
        return cls(parts[2], parts[0], parts[1])

    @classmethod
    def for_host(cls, host: str) -> Connection:
        """The connection line for a literal IPv4 or IPv6 address."""
        return cls(host, "IN", "IP6" if ":" in host else "IP4")

    @property
    def is_hold(self) -> bool:
        """RFC 2543 §B.5 / RFC 3264 §8.4: c=0.0.0.0 asks the peer to stop sending."""
        return self.address.split("/")[0] in ("0.0.0.0", "::")


class _AttributeList:
    """Helpers shared by session and media sections over an ordered list of attributes."""

    attributes: list[Attribute]

    def get(self, name: str) -> str | None:
        """The value of the first attribute `name` ("" for a property attribute), or None when absent."""
        for attr in self.attributes:
            if attr.name == name:
                return "" if attr.value is None else attr.value
        return None

    def get_all(self, name: str) -> list[str]:
        return ["" if a.value is None else a.value for a in self.attributes if a.name == name]

    def has(self, name: str) -> bool:
        return any(a.name == name for a in self.attributes)

    def remove(self, name: str) -> None:
        self.attributes[:] = [a for a in self.attributes if a.name != name]

    def add(self, name: str, value: str | None = None) -> None:
        self.attributes.append(Attribute(name, value))

    @property
    def direction(self) -> str | None:
        """The last direction attribute given in this section, or None (RFC 3264 §5.1 default is sendrecv)."""
        found = None
        for attr in self.attributes:
            if attr.name in DIRECTIONS:
                found = attr.name
        return found

    def set_direction(self, direction: str | None) -> None:
        """Replace any direction attribute by `direction` (None removes it)."""
        if direction is not None and direction not in DIRECTIONS:
            raise ValueError(f"unknown SDP direction {direction!r}")
        self.attributes[:] = [a for a in self.attributes if a.name not in DIRECTIONS]
        if direction is not None:
            self.attributes.append(Attribute(direction))


@dataclass
class MediaDescription(_AttributeList):
    """One `m=` section with its own lines and attributes."""

    media: str
    port: int
    proto: str
    formats: list[str]
    port_count: int | None = None
    connection: Connection | None = None
    attributes: list[Attribute] = field(default_factory=list)
    # i=, b=, k= and any other lines, as (letter, value) pairs in their original order.
    other_lines: list[tuple[str, str]] = field(default_factory=list)

    @property
    def rejected(self) -> bool:
        """RFC 3264 §6: a port of zero rejects (or disables) the stream."""
        return self.port == 0

    def rtpmaps(self) -> dict[int, Codec]:
        """The `a=rtpmap` entries keyed by payload type, with their `a=fmtp` parameters attached."""
        codecs: dict[int, Codec] = {}
        for value in self.get_all("rtpmap"):
            pt_text, _, encoding = value.partition(" ")
            pieces = encoding.strip().split("/")
            try:
                pt = int(pt_text)
                rate = int(pieces[1]) if len(pieces) > 1 else 8000
                channels = int(pieces[2]) if len(pieces) > 2 and pieces[2] else 1
            except ValueError as err:
                raise ValueError(f"malformed a=rtpmap:{value!r}") from err
            if not pieces[0]:
                raise ValueError(f"a=rtpmap without an encoding name: {value!r}")
            codecs[pt] = Codec(_canonical_name(pieces[0]), rate, pt, channels)
        for pt, params in self.fmtps().items():
            if pt in codecs:
                codecs[pt].fmtp = params
        return codecs

    def fmtps(self) -> dict[int, str]:
        """The `a=fmtp` parameters keyed by payload type (formats that are not numbers are skipped)."""
        result: dict[int, str] = {}
        for value in self.get_all("fmtp"):
            fmt, _, params = value.partition(" ")
            if fmt.isdigit():
                result[int(fmt)] = params.strip()
        return result

    @property
    def codecs(self) -> list[Codec]:
        """The payload formats of the m= line in preference order, static types resolved when rtpmap is absent."""
        maps = self.rtpmaps()
        fmtps = self.fmtps()
        result = []
        for fmt in self.formats:
            if not fmt.isdigit():
                continue
            pt = int(fmt)
            codec = maps.get(pt)
            if codec is None:
                codec = codec_from_static(pt)
                if codec is None:
                    continue  # dynamic number without rtpmap: unusable, RFC 8866 §6.6
                codec.fmtp = fmtps.get(pt)
            result.append(codec)
        return result

    def add_codec(self, codec: Codec, *, rtpmap: bool = True) -> None:
        """Append a payload format to the m= line with its rtpmap (and fmtp when it has parameters)."""
        self.formats.append(str(codec.payload_type))
        if rtpmap:
            self.add("rtpmap", codec.rtpmap_value())
        if codec.fmtp:
            self.add("fmtp", f"{codec.payload_type} {codec.fmtp}")

    @property
    def ptime(self) -> int | None:
        return _int_attribute(self.get("ptime"))

    @property
    def maxptime(self) -> int | None:
        return _int_attribute(self.get("maxptime"))

    @property
    def rtcp_mux(self) -> bool:
        return self.has("rtcp-mux")

    @property
    def rtcp_port(self) -> int | None:
        """The port of `a=rtcp` (RFC 3605), or None when RTCP is on the default RTP port + 1."""
        value = self.get("rtcp")
        if not value:
            return None
        return _int_attribute(value.split()[0])

    @property
    def rtcp_address(self) -> str | None:
        """The address of `a=rtcp:port IN IP4 addr` when the attribute names one."""
        value = self.get("rtcp")
        parts = value.split() if value else []
        return parts[3] if len(parts) == 4 else None

    def lines(self) -> list[str]:
        port = f"{self.port}/{self.port_count}" if self.port_count is not None else str(self.port)
        head = f"m={self.media} {port} {self.proto}"
        if self.formats:
            head += " " + " ".join(self.formats)
        body: list[tuple[str, str]] = list(self.other_lines)
        if self.connection is not None:
            body.append(("c", str(self.connection)))
        body.sort(key=lambda item: _MEDIA_ORDER.index(item[0]) if item[0] in _MEDIA_ORDER else 4)
        return [head] + [f"{letter}={value}" for letter, value in body] + [f"a={a}" for a in self.attributes]

    @classmethod
    def parse_m_line(cls, text: str) -> MediaDescription:
        parts = text.split()
        if len(parts) < 3:
            raise ValueError(f"SDP m= line needs media, port and proto: {text!r}")
        port_text, _, count_text = parts[1].partition("/")
        try:
            port = int(port_text)
            count = int(count_text) if count_text else None
        except ValueError as err:
            raise ValueError(f"SDP m= line has a bad port: {text!r}") from err
        if not 0 <= port <= 65535:
            raise ValueError(f"SDP m= port out of range: {text!r}")
        return cls(parts[0], port, parts[2], parts[3:], count)


def _int_attribute(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(float(value))  # some phones write "a=ptime:20.0"
    except ValueError as err:
        raise ValueError(f"SDP attribute should be a number: {value!r}") from err


@dataclass
class SessionDescription(_AttributeList):
    """A whole SDP body: session-level lines followed by media sections."""

    origin: Origin = field(default_factory=Origin)
    session_name: str = "-"
    connection: Connection | None = None
    timing: str = "0 0"
    attributes: list[Attribute] = field(default_factory=list)
    media: list[MediaDescription] = field(default_factory=list)
    other_lines: list[tuple[str, str]] = field(default_factory=list)
    version: int = 0

    @classmethod
    def parse(cls, data: bytes | str) -> SessionDescription:
        """Parse an SDP body with CRLF or bare LF line ends; raise ValueError on a malformed line."""
        text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
        sd = cls()
        seen_origin = False
        current: MediaDescription | None = None
        for number, raw in enumerate(text.split("\n"), start=1):
            line = raw.rstrip("\r")
            if not line.strip():
                continue
            if len(line) < 2 or line[1] != "=" or not line[0].isalpha():
                raise ValueError(f"SDP line {number} is not of the form x=value: {line!r}")
            letter, value = line[0], line[2:]
            if letter == "m":
                current = MediaDescription.parse_m_line(value)
                sd.media.append(current)
            elif letter == "a":
                (current or sd).attributes.append(Attribute.parse(value))
            elif letter == "c":
                (current or sd).connection = Connection.parse(value)
            elif current is not None:
                current.other_lines.append((letter, value))
            elif letter == "v":
                if value.strip() != "0":
                    raise ValueError(f"unsupported SDP version v={value!r}")
            elif letter == "o":
                sd.origin = Origin.parse(value)
                seen_origin = True
            elif letter == "s":
                sd.session_name = value
            elif letter == "t":
                sd.timing = value
            else:
                sd.other_lines.append((letter, value))
        if not seen_origin:
            raise ValueError("SDP body has no o= line")
        return sd

    def serialize(self) -> bytes:
        """The body as bytes with CRLF line ends, lines in RFC 8866 §5 order."""
        session: list[tuple[str, str]] = [("v", str(self.version)), ("o", str(self.origin)),
                                          ("s", self.session_name or "-"), ("t", self.timing)]
        if self.connection is not None:
            session.append(("c", str(self.connection)))
        session.extend(self.other_lines)
        session.sort(key=lambda item: _SESSION_ORDER.index(item[0]) if item[0] in _SESSION_ORDER else 12)
        lines = [f"{letter}={value}" for letter, value in session]
        lines += [f"a={a}" for a in self.attributes]
        for media in self.media:
            lines += media.lines()
        return ("\r\n".join(lines) + "\r\n").encode("utf-8")

    __bytes__ = serialize

    def copy(self) -> SessionDescription:
        return dataclasses.replace(
            self, origin=dataclasses.replace(self.origin),
            connection=dataclasses.replace(self.connection) if self.connection else None,
            attributes=[dataclasses.replace(a) for a in self.attributes],
            media=[dataclasses.replace(m, formats=list(m.formats), attributes=[dataclasses.replace(a) for a in m.attributes],
                                       other_lines=list(m.other_lines),
                                       connection=dataclasses.replace(m.connection) if m.connection else None)
                   for m in self.media],
            other_lines=list(self.other_lines))

    def connection_for(self, media: MediaDescription) -> Connection | None:
        """The connection that applies to `media`: its own c= line, else the session's (RFC 8866 §5.7)."""
        return media.connection or self.connection

    def direction_of(self, media: MediaDescription) -> str:
        """The direction declared for `media` (media level wins over session level, default sendrecv)."""
        return media.direction or self.direction or "sendrecv"

    def effective_direction(self, media: MediaDescription) -> str:
        """The declared direction, with RFC 2543 c=0.0.0.0 hold read as "the sender will not receive"."""
        direction = self.direction_of(media)
        conn = self.connection_for(media)
        if conn is not None and conn.is_hold:
            return {"sendrecv": "sendonly", "recvonly": "inactive"}.get(direction, direction)
        return direction

    def is_hold(self, media: MediaDescription | None = None) -> bool:
        """True when the describing party puts `media` (default: the first audio stream) on hold."""
        if media is None:
            media = self.first_audio()
            if media is None:
                return False
        return self.effective_direction(media) in ("sendonly", "inactive")

    def first_audio(self) -> MediaDescription | None:
        """The first audio stream that is not rejected (what a voice call uses)."""
        for media in self.media:
            if media.media == "audio" and not media.rejected:
                return media
        return None

    def rtp_address(self, media: MediaDescription) -> tuple[str, int, int | None]:
        """(host, rtp port, rtcp port or None) where the describing party wants to receive this stream."""
        conn = self.connection_for(media)
        if conn is None:
            raise ValueError("SDP media section has no c= line and neither has the session")
        host = conn.address.split("/")[0]
        rtcp_port = media.rtcp_port
        if media.rtcp_mux:
            rtcp_port = media.port
        return host, media.port, rtcp_port


_OFFER_ANSWER_NAMES = ("NotAcceptableHere", "SdpVersioner", "build_answer", "build_offer", "negotiate_direction")
__all__ += list(_OFFER_ANSWER_NAMES)


def __getattr__(name: str) -> object:
    """Re-export the RFC 3264 helpers lazily (PEP 562): offer_answer imports this module, so no import cycle."""
    if name in _OFFER_ANSWER_NAMES:
        from appliance.media import offer_answer
        return getattr(offer_answer, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
