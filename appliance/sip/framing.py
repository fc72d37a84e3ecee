"""Cutting a TCP/TLS byte stream into SIP messages (RFC 3261 §18.3), with RFC 5626 keep-alives."""

from __future__ import annotations

from .message import MAX_MESSAGE_SIZE, SipParseError

_PING = b"\r\n\r\n"


class StreamFramer:
    """Cuts a TCP/TLS byte stream into messages by Content-Length (RFC 3261 §18.3).

    CRLF keep-alives between messages (RFC 5626 §3.5.1) are reported as b"\\r\\n\\r\\n" pings so that
    the transport can answer them with a single CRLF pong; a lone CRLF (a pong, or padding) is
    dropped. After a SipParseError framing is lost for good: every later `feed` raises again and
    the transport must close the connection.
    """

    def __init__(self, max_size: int = MAX_MESSAGE_SIZE):
        self._buffer = bytearray()
        self._max_size = max_size
        self._broken: str | None = None

    def feed(self, data: bytes) -> list[bytes]:
        """Add received bytes; return every complete message. Raises SipParseError on broken framing."""
        if self._broken is not None:
            raise SipParseError(self._broken)
        buf = self._buffer
        buf += data
        out: list[bytes] = []
        try:
            while buf:
                first = buf[0]
                if first == 13 or first == 10:
                    if buf.startswith(_PING):
                        del buf[:4]
                        out.append(_PING)
                    elif len(buf) < 4 and _PING.startswith(buf):
                        break  # maybe half a ping: wait
                    else:
                        del buf[: 2 if buf.startswith(b"\r\n") else 1]
                    continue
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    if len(buf) > self._max_size:
                        raise SipParseError("header section too large")
                    break
                total = end + 4 + _stream_content_length(bytes(buf[:end]))
                if total > self._max_size:
                    raise SipParseError(f"message of {total} bytes exceeds {self._max_size}")
                if len(buf) < total:
                    break
                out.append(bytes(buf[:total]))
                del buf[:total]
        except SipParseError as err:
            self._broken = f"stream framing lost: {err}"
            buf.clear()
            raise
        return out


def _stream_content_length(head: bytes) -> int:
    """Content-Length of a stream message's header section: mandatory there, absence read as 0 (RFC 3261 §18.3)."""
    lower = head.lower()
    if b"content-length" not in lower and b"\nl" not in lower:
        return 0
    fields: list[bytes] = []
    for line in lower.split(b"\r\n")[1:]:
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += b" " + line.strip()  # folded (RFC 3261 §7.3.1)
        else:
            fields.append(line)
    length: int | None = None
    for line in fields:
        name, colon, value = line.partition(b":")
        if colon and name.strip() in (b"content-length", b"l"):
            value = value.strip()
            if not value.isdigit() or len(value.lstrip(b"0")) > 9:
                raise SipParseError(f"bad Content-Length {value[:20]!r} on a stream transport")
            if length is not None and int(value) != length:
                raise SipParseError("conflicting Content-Length values on a stream transport")
            length = int(value)
    return length or 0
