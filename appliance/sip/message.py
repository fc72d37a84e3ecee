"""SIP messages: parsing and serialization (RFC 3261 §7, §25), robust to the RFC 4475 torture cases.

Headers are kept as an ordered list of (canonical name, raw value) so unknown headers and the
order of repeated headers survive a round trip. Typed values (Via, CSeq, name-addr) are parsed
on access. Parsing never trusts Content-Length beyond the bytes present; framing of stream
transports is `StreamFramer`'s job.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from .headers import LIST_HEADERS, CSeq, NameAddress, Via, canonical_name, split_list
from .uri import Uri, parse_uri

MAX_MESSAGE_SIZE = 65535  # larger messages are refused (UDP cannot carry them; TCP gets a 513)
MAX_HEADERS = 256

REASON_PHRASES = {
    100: "Trying", 180: "Ringing", 181: "Call Is Being Forwarded", 182: "Queued", 183: "Session Progress",
    200: "OK", 202: "Accepted", 204: "No Notification",
    301: "Moved Permanently", 302: "Moved Temporarily",
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
    407: "Proxy Authentication Required", 408: "Request Timeout", 410: "Gone", 413: "Request Entity Too Large",
    415: "Unsupported Media Type", 416: "Unsupported URI Scheme", 420: "Bad Extension", 421: "Extension Required",
    423: "Interval Too Brief", 480: "Temporarily Unavailable", 481: "Call/Transaction Does Not Exist",
    482: "Loop Detected", 483: "Too Many Hops", 484: "Address Incomplete", 486: "Busy Here",
    487: "Request Terminated", 488: "Not Acceptable Here", 489: "Bad Event", 491: "Request Pending",
    500: "Server Internal Error", 501: "Not Implemented", 503: "Service Unavailable", 504: "Server Time-out",
    505: "Version Not Supported", 513: "Message Too Large",
    600: "Busy Everywhere", 603: "Decline", 604: "Does Not Exist Anywhere", 606: "Not Acceptable",
}


class SipParseError(ValueError):
    """A message that cannot be understood. `response_possible` tells whether enough was parsed to answer 400."""

    def __init__(self, message: str, response_possible: bool = False):
        super().__init__(message)
        self.response_possible = response_possible


class Headers:
    """Ordered, case-insensitive multi-map of header fields."""

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[tuple[str, str]] = ()):
        self._items: list[list[str]] = [[canonical_name(n), v] for n, v in items]

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return ((n, v) for n, v in self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, name: str) -> bool:
        name = canonical_name(name)
        return any(n == name for n, _ in self._items)

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first field's value (as written, not split)."""
        name = canonical_name(name)
        for n, v in self._items:
            if n == name:
                return v
        return default

    def get_fields(self, name: str) -> list[str]:
        """Every field of that name, not split on commas."""
        name = canonical_name(name)
        return [v for n, v in self._items if n == name]

    def get_list(self, name: str) -> list[str]:
        """All values of a list header (RFC 3261 §7.3.1): repeated fields and comma-joined values alike."""
        name = canonical_name(name)
        out: list[str] = []
        for n, v in self._items:
            if n == name:
                out.extend(split_list(v) if name in LIST_HEADERS else [v.strip()])
        return out

    def set(self, name: str, value: str) -> None:
        """Replace every field of that name by one field, keeping the first one's position."""
        name = canonical_name(name)
        for i, item in enumerate(self._items):
            if item[0] == name:
                item[1] = value
                self._items[i + 1 :] = [it for it in self._items[i + 1 :] if it[0] != name]
                return
        self._items.append([name, value])

    def add(self, name: str, value: str) -> None:
        self._items.append([canonical_name(name), value])

    def add_first(self, name: str, value: str) -> None:
        """Insert before any field of the same name (Via, Record-Route are pushed at the top)."""
        name = canonical_name(name)
        for i, (n, _) in enumerate(self._items):
            if n == name:
                self._items.insert(i, [name, value])
                return
        self._items.insert(0, [name, value])

    def remove(self, name: str) -> None:
        name = canonical_name(name)
        self._items = [it for it in self._items if it[0] != name]

    def copy(self) -> Headers:
        h = Headers()
        h._items = [list(it) for it in self._items]
        return h


class SipMessage:
    """Common part of requests and responses."""

    __slots__ = ("headers", "body", "_vias")

    def __init__(self, headers: Headers | None = None, body: bytes = b""):
        self.headers = headers if headers is not None else Headers()
        self.body = body
        self._vias: list[Via] | None = None

    # --- typed accessors -------------------------------------------------
    @property
    def call_id(self) -> str:
        return self.headers.get("Call-ID", "") or ""

    @property
    def cseq(self) -> CSeq:
        value = self.headers.get("CSeq")
        if value is None:
            raise ValueError("missing CSeq")
        return CSeq.parse(value)

    @property
    def from_(self) -> NameAddress:
        return self._name_address("From")

    @property
    def to(self) -> NameAddress:
        return self._name_address("To")

    def _name_address(self, name: str) -> NameAddress:
        value = self.headers.get(name)
        if value is None:
            raise ValueError(f"missing {name}")
        return NameAddress.parse(value)

    @property
    def vias(self) -> list[Via]:
        """The Via values, top first (parsed once and cached; `set_vias` writes them back)."""
        if self._vias is None:
            self._vias = [Via.parse(v) for v in self.headers.get_list("Via")]
        return self._vias

    def set_vias(self, vias: list[Via]) -> None:
        self._vias = list(vias)
        self.headers.remove("Via")
        for via in vias:
            self.headers.add("Via", str(via))
        self._reorder_via_first()

    def _reorder_via_first(self) -> None:
        # Keep Via fields at the top, where proxies and humans expect them.
        items = self.headers._items
        vias = [it for it in items if it[0] == "Via"]
        self.headers._items = vias + [it for it in items if it[0] != "Via"]

    @property
    def contacts(self) -> list[NameAddress]:
        return [NameAddress.parse(v) for v in self.headers.get_list("Contact")]

    def name_addresses(self, name: str) -> list[NameAddress]:
        """Route, Record-Route, Path … as parsed name-addrs."""
        return [NameAddress.parse(v) for v in self.headers.get_list(name)]

    @property
    def content_type(self) -> str:
        return (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()

    @property
    def expires(self) -> int | None:
        value = self.headers.get("Expires")
        if value is None:
            return None
        value = value.strip()
        if not value.isdigit():
            raise ValueError(f"bad Expires: {value!r}")
        return min(int(value), 2**32 - 1)

    # --- serialization ---------------------------------------------------
    def _start_line(self) -> str:
        raise NotImplementedError

    def serialize(self) -> bytes:
        """The message on the wire; Content-Length is always (re)written to match the body."""
        lines = [self._start_line()]
        for name, value in self.headers:
            if name != "Content-Length":
                lines.append(f"{name}: {value}")
        lines.append(f"Content-Length: {len(self.body)}")
        head = "\r\n".join(lines) + "\r\n\r\n"
        return head.encode("utf-8", "surrogateescape") + self.body

    def __bytes__(self) -> bytes:
        return self.serialize()


class Request(SipMessage):
    __slots__ = ("method", "uri_text", "version", "_uri")

    def __init__(self, method: str, uri: str | Uri, headers: Headers | None = None, body: bytes = b"",
                 version: str = "SIP/2.0"):
        super().__init__(headers, body)
        self.method = method
        self.uri_text = str(uri)
        self._uri: Uri | None = None if isinstance(uri, str) else uri
        self.version = version

    @property
    def uri(self) -> Uri:
        """The Request-URI, parsed on first use (ValueError when it is not a URI)."""
        if self._uri is None:
            self._uri = parse_uri(self.uri_text)
        return self._uri

    @uri.setter
    def uri(self, value: Uri) -> None:
        self._uri = value
        self.uri_text = str(value)

    def _start_line(self) -> str:
        return f"{self.method} {self.uri_text} {self.version}"

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.uri_text} call-id={self.call_id!r}>"


class Response(SipMessage):
    __slots__ = ("status", "reason", "version")

    def __init__(self, status: int, reason: str | None = None, headers: Headers | None = None,
                 body: bytes = b"", version: str = "SIP/2.0"):
        super().__init__(headers, body)
        self.status = status
        self.reason = reason if reason is not None else REASON_PHRASES.get(status, "Unknown")
        self.version = version

    def _start_line(self) -> str:
        return f"{self.version} {self.status} {self.reason}"

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.reason} call-id={self.call_id!r}>"


def parse_message(data: bytes) -> Request | Response:
    """Parse one complete message (a datagram, or a frame cut by StreamFramer).

    Raises SipParseError; `response_possible` is set when the start line and the headers needed to
    build a response (Via, From, To, Call-ID, CSeq) were readable, so the caller can answer 400.
    """
    if len(data) > MAX_MESSAGE_SIZE:
        raise SipParseError(f"message of {len(data)} bytes exceeds {MAX_MESSAGE_SIZE}")
    # RFC 3261 §7.5: ignore CRLFs before the start line (keep-alives are handled by transports).
    data = data.lstrip(b"\r\n")
    end = data.find(b"\r\n\r\n")
    sep_len = 4
    if end < 0:
        end = data.find(b"\n\n")  # tolerate bare LF line endings
        sep_len = 2
        if end < 0:
            raise SipParseError("no blank line after the headers")
    head = data[:end].decode("utf-8", "surrogateescape")
    body = data[end + sep_len :]
    lines = head.replace("\r\n", "\n").split("\n")
    start = lines[0]
    headers = _parse_header_lines(lines[1:])
    message = _parse_start_line(start, headers)
    _apply_content_length(message, body)
    return message


def _parse_start_line(start: str, headers: Headers) -> Request | Response:
    if start.startswith("SIP/"):
        version, _, rest = start.partition(" ")
        code, _, reason = rest.partition(" ")
        if version.upper() != "SIP/2.0":
            raise SipParseError(f"unsupported version {version!r}")
        if len(code) != 3 or not code.isdigit() or not 100 <= int(code) <= 699:
            raise SipParseError(f"bad status code {code!r}")
        return Response(int(code), reason.strip(), headers, version=version)
    parts = start.split(" ")
    if len(parts) != 3 or not all(parts):
        raise SipParseError(f"bad request line {start!r}", response_possible=_can_respond(headers))
    method, uri_text, version = parts
    if not _is_token(method):
        raise SipParseError(f"bad method {method!r}", response_possible=_can_respond(headers))
    # A request of another SIP version parses; the server layer answers it 505.
    return Request(method, uri_text, headers, version=version)


def _parse_header_lines(lines: list[str]) -> Headers:
    headers = Headers()
    items = headers._items
    for line in lines:
        if not line:
            continue
        if line[0] in " \t":
            # Folded continuation of the previous header (RFC 3261 §7.3.1): replace LWS by one space.
            if not items:
                raise SipParseError("continuation line before any header")
            items[-1][1] = items[-1][1] + " " + line.strip()
            continue
        name, colon, value = line.partition(":")
        name = name.rstrip(" \t")
        if not colon or not name or not _is_token(name):
            raise SipParseError(f"bad header line {line[:60]!r}", response_possible=False)
        items.append([canonical_name(name), value.strip()])
        if len(items) > MAX_HEADERS:
            raise SipParseError(f"more than {MAX_HEADERS} header fields")
    return headers


def _apply_content_length(message: Request | Response, body: bytes) -> None:
    value = message.headers.get("Content-Length")
    if value is None:
        message.body = body  # datagram: the body is the rest (RFC 3261 §18.3)
        return
    value = value.strip()
    if not value.isdigit():
        raise SipParseError(f"bad Content-Length {value!r}", response_possible=_can_respond(message.headers))
    length = int(value)
    if length > len(body):
        raise SipParseError(
            f"Content-Length {length} is larger than the {len(body)} bytes received",
            response_possible=_can_respond(message.headers),
        )
    message.body = body[:length]  # extra bytes after the body are ignored (RFC 3261 §18.3)


_TOKEN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~")


def _is_token(text: str) -> bool:
    return bool(text) and all(c in _TOKEN_CHARS for c in text)


def _can_respond(headers: Headers) -> bool:
    return all(name in headers for name in ("Via", "From", "To", "Call-ID", "CSeq"))


class StreamFramer:
    """Cuts a TCP/TLS byte stream into messages by Content-Length (RFC 3261 §18.3).

    CRLF keep-alives between messages (RFC 5626 §3.5.1) are reported as b"\\r\\n\\r\\n" pings so that
    the transport can answer them with a single CRLF pong.
    """

    def __init__(self, max_size: int = MAX_MESSAGE_SIZE):
        self._buffer = bytearray()
        self._max_size = max_size

    def feed(self, data: bytes) -> list[bytes]:
        """Add received bytes; return every complete message. Raises SipParseError on broken framing."""
        self._buffer += data
        out: list[bytes] = []
        while True:
            buf = self._buffer
            if buf.startswith(b"\r\n\r\n"):
                del buf[:4]
                out.append(b"\r\n\r\n")
                continue
            stripped = 0
            while stripped < len(buf) and buf[stripped : stripped + 2] == b"\r\n":
                stripped += 2
            if stripped and stripped == len(buf):
                break  # a lone CRLF (pong or half a ping): wait for more
            if stripped:
                del buf[:stripped]
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > self._max_size:
                    raise SipParseError("header section too large")
                break
            length = _content_length_of(bytes(buf[:end]))
            total = end + 4 + length
            if total > self._max_size:
                raise SipParseError(f"message of {total} bytes exceeds {self._max_size}")
            if len(buf) < total:
                break
            out.append(bytes(buf[:total]))
            del buf[:total]
        return out


def _content_length_of(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, colon, value = line.partition(b":")
        if colon and name.strip().lower() in (b"content-length", b"l"):
            value = value.strip()
            if not value.isdigit():
                raise SipParseError(f"bad Content-Length {value!r} on a stream transport")
            return int(value)
    # RFC 3261 §18.3: Content-Length is mandatory on stream transports; treat absence as no body.
    return 0


def make_response(request: Request, status: int, reason: str | None = None, to_tag: str | None = None,
                  headers: Iterable[tuple[str, str]] = (), body: bytes = b"") -> Response:
    """Build a response copying Via, From, To, Call-ID and CSeq from the request (RFC 3261 §8.2.6.2)."""
    response = Response(status, reason)
    h = response.headers
    for name in ("Via",):
        for value in request.headers.get_fields(name):
            h.add(name, value)
    h.add("From", request.headers.get("From", "") or "")
    to_value = request.headers.get("To", "") or ""
    if to_tag is not None and status != 100 and _tag_of(to_value) is None:
        to_value = f"{to_value};tag={to_tag}"
    h.add("To", to_value)
    h.add("Call-ID", request.call_id)
    h.add("CSeq", request.headers.get("CSeq", "") or "")
    if status == 100 and "Timestamp" in request.headers:
        h.add("Timestamp", request.headers.get("Timestamp") or "")
    for name, value in headers:
        h.add(name, value)
    response.body = body
    return response


def _tag_of(value: str) -> str | None:
    try:
        return NameAddress.parse(value).tag
    except ValueError:
        return None
