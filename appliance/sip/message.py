"""SIP messages: parsing and serialization (RFC 3261 §7, §25), robust to the RFC 4475 torture cases.

Headers are kept as an ordered list of (canonical name, raw value) so unknown headers and the
order of repeated headers survive a round trip. Typed values (Via, CSeq, name-addr) are parsed
on access. Parsing never trusts Content-Length beyond the bytes present; framing of stream
transports is `StreamFramer`'s job. Syntax errors raise `SipParseError` and nothing else (invalid
UTF-8 survives as surrogate escapes); semantic checks a server makes before a request enters a
transaction are `validate_request`'s (RFC 3261 §8.2, RFC 4475 §3.1.2 and §3.3).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from .headers import LIST_HEADERS, CSeq, NameAddress, Via, canonical_name, is_token, split_list
from .uri import Uri, parse_uri

MAX_MESSAGE_SIZE = 65535  # larger messages are refused (UDP cannot carry them; a TCP flow sending one is closed)
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
    """A message that cannot be understood.

    `response_possible` tells whether it was a request (not an ACK) whose Via, From, To, Call-ID and
    CSeq were readable, so that the server can answer 400; `request` then holds what was parsed
    (start line as far as it went, every readable header, no body) for `make_response`.
    """

    def __init__(self, message: str, response_possible: bool = False, request: Request | None = None):
        super().__init__(message)
        self.response_possible = response_possible
        self.request = request


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
        for item in self._items:
            if item[0] == name:
                return True
        return False

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first field's value (as written, not split)."""
        name = canonical_name(name)
        for item in self._items:
            if item[0] == name:
                return item[1]
        return default

    def get_fields(self, name: str) -> list[str]:
        """Every field of that name, not split on commas."""
        name = canonical_name(name)
        return [v for n, v in self._items if n == name]

    def get_list(self, name: str) -> list[str]:
        """All values of a list header (RFC 3261 §7.3.1): repeated fields and comma-joined values alike."""
        name = canonical_name(name)
        is_list = name in LIST_HEADERS
        out: list[str] = []
        for n, v in self._items:
            if n == name:
                if is_list:
                    out.extend(split_list(v))
                else:
                    out.append(v.strip())
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

    __slots__ = ("headers", "body", "_vias", "_vias_key")

    def __init__(self, headers: Headers | None = None, body: bytes = b""):
        self.headers = headers if headers is not None else Headers()
        self.body = body
        self._vias: list[Via] | None = None
        self._vias_key: list[str] | None = None

    # --- typed accessors (ValueError when the header is missing or malformed) --------------------
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
        """The Via values, top first (parsed once and cached while the Via fields are unchanged)."""
        fields = self.headers.get_fields("Via")
        if self._vias is None or fields != self._vias_key:
            self._vias = [Via.parse(v) for f in fields for v in split_list(f)]
            self._vias_key = fields
        return self._vias

    def set_vias(self, vias: list[Via]) -> None:
        """Write `vias` back as the Via fields (one field each), at the top of the header."""
        self.headers.remove("Via")
        items = self.headers._items
        self.headers._items = [["Via", str(via)] for via in vias] + items
        self._vias = list(vias)
        self._vias_key = self.headers.get_fields("Via")

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
        """The Expires header in seconds; absurdly large values are clamped to 2**32-1 (RFC 4475 §3.1.2.4)."""
        value = self.headers.get("Expires")
        return None if value is None else _uint(value, "Expires", clamp=True)

    @property
    def max_forwards(self) -> int | None:
        value = self.headers.get("Max-Forwards")
        return None if value is None else _uint(value, "Max-Forwards", clamp=True)

    # --- serialization ---------------------------------------------------
    def _start_line(self) -> str:
        raise NotImplementedError

    def serialize(self) -> bytes:
        """The message on the wire; Content-Length is (re)written, in place, to match the body."""
        lines = [self._start_line()]
        length_done = False
        for name, value in self.headers._items:
            if name == "Content-Length":
                if length_done:
                    continue
                value = str(len(self.body))
                length_done = True
            lines.append(name + ": " + value)
        if not length_done:
            lines.append(f"Content-Length: {len(self.body)}")
        lines.append("\r\n")
        head = "\r\n".join(lines)
        if head.count("\n") != len(lines) or head.count("\r") != len(lines):
            raise ValueError("CR or LF inside a start line or header value")  # would forge header lines
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


# ---------------------------------------------------------------------------------------------------
# Parsing

_VERSION = re.compile(r"SIP/[0-9]+\.[0-9]+", re.I)
_STATUS_LINE = re.compile(r"(SIP/[0-9]+\.[0-9]+) ([0-9]{3})(?: (.*))?", re.I | re.S)
_KNOWN_METHODS = frozenset({"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "PRACK", "SUBSCRIBE",
                            "NOTIFY", "PUBLISH", "INFO", "REFER", "MESSAGE", "UPDATE"})
_name_cache: dict[str, str] = {}  # header name as written (LWS before ':' included) -> canonical name


def parse_message(data: bytes) -> Request | Response:
    """Parse one complete message (a datagram, or a frame cut by StreamFramer).

    Raises SipParseError and no other exception; see its `response_possible` and `request`.
    """
    if len(data) > MAX_MESSAGE_SIZE:
        raise SipParseError(f"message of {len(data)} bytes exceeds {MAX_MESSAGE_SIZE}")
    if data[:1] == b"\r" or data[:1] == b"\n":
        data = data.lstrip(b"\r\n")  # RFC 3261 §7.5: CRLFs before the start line are ignored
    end = data.find(b"\r\n\r\n")
    body_at = end + 4
    limit = end if end >= 0 else len(data)
    # Tolerated: bare-LF line endings, also mixed with CRLF ("\n\n", "\r\n\n", "\n\r\n" ending the header).
    for blank in (b"\n\n", b"\n\r\n"):
        at = data.find(blank, 0, limit)
        if at >= 0:
            limit = at
            end, body_at = (at - 1 if data[at - 1 : at] == b"\r" else at), at + len(blank)
    if end < 0:
        end = body_at = len(data)
    head = data[:end].decode("utf-8", "surrogateescape")  # invalid UTF-8 survives, and round-trips
    if "\r" in head:
        head = head.replace("\r\n", "\n")
    lines = head.split("\n")
    if len(lines) > 4 * MAX_HEADERS:
        raise SipParseError(f"{len(lines)} header lines: more than {MAX_HEADERS} header fields")
    start = lines[0]
    headers, problem = _parse_header_lines(lines)
    is_request = start[:4].upper() != "SIP/"
    if problem is None:
        if body_at == len(data) and end == len(data):
            problem = "no empty line after the header section" if data else "empty message"
        elif "\r" in head:
            problem = "CR not followed by LF in the header section"
        elif "\x00" in head and _unescaped_nul(head):
            problem = "NUL outside a quoted-pair in the header section"
    if problem is not None:
        raise _error(problem, start, headers, is_request)
    if is_request:
        message: Request | Response = _parse_request_line(start, headers)
    else:
        message = _parse_status_line(start, headers)
    body = data[body_at:]
    try:
        length = _content_length(headers)
    except ValueError as err:
        raise _error(str(err), start, headers, is_request) from None
    if length is None:
        message.body = body  # datagram: the body is the rest (RFC 3261 §18.3)
    elif length > len(body):
        raise _error(f"Content-Length {length} is larger than the {len(body)} bytes received", start, headers,
                     is_request)
    else:
        message.body = body[:length]  # extra bytes after the body are ignored (RFC 3261 §18.3)
    return message


def _parse_header_lines(lines: list[str]) -> tuple[Headers, str | None]:
    """Headers from lines[1:], unfolded (RFC 3261 §7.3.1); bad lines are skipped and the first reported."""
    headers = Headers()
    items = headers._items
    append = items.append
    known = _name_cache.get  # only ever holds names that validated, so a hit needs no further check
    problem = None
    for line in lines[1:]:
        raw, colon, value = line.partition(":")
        name = known(raw)
        if name is not None and colon:
            append([name, value.strip(" \t")])
            continue
        if not line:
            continue
        if line[0] == " " or line[0] == "\t":
            if not items:
                problem = problem or "continuation line before any header"
                continue
            last = items[-1]
            more = line.strip(" \t")
            last[1] = f"{last[1]} {more}" if last[1] and more else last[1] or more
            continue
        stripped = raw.rstrip(" \t")
        if not colon or not is_token(stripped):
            problem = problem or f"bad header line {line[:60]!r}"
            continue
        name = canonical_name(stripped)
        if len(_name_cache) < 4096:
            _name_cache[raw] = name
        append([name, value.strip(" \t")])
    if len(items) > MAX_HEADERS:
        # Still a request we can answer: report it like any other problem (the caller builds the 400).
        problem = problem or f"more than {MAX_HEADERS} header fields"
    return headers, problem


def _parse_request_line(start: str, headers: Headers) -> Request:
    parts = start.split(" ")
    if len(parts) != 3 or not (parts[0] and parts[1] and parts[2]):
        raise _error(f"bad request line {start[:80]!r}", start, headers, True)
    method, uri_text, version = parts
    if method not in _KNOWN_METHODS and not is_token(method):
        raise _error(f"bad method {method[:40]!r}", start, headers, True)
    if version != "SIP/2.0" and _VERSION.fullmatch(version) is None:
        raise _error(f"bad SIP version {version[:40]!r}", start, headers, True)
    # A request of another SIP version parses; validate_request answers it 505.
    return Request(method, uri_text, headers, version=version)


def _parse_status_line(start: str, headers: Headers) -> Response:
    m = _STATUS_LINE.fullmatch(start)
    if m is None:
        raise SipParseError(f"bad status line {start[:80]!r}")
    version, code, reason = m.groups()
    if version.upper() != "SIP/2.0":
        raise SipParseError(f"unsupported version {version!r}")
    status = int(code)
    if not 100 <= status <= 699:
        raise SipParseError(f"bad status code {code!r}")
    return Response(status, reason or "", headers, version=version)


def _content_length(headers: Headers) -> int | None:
    """The Content-Length, or None when absent; several fields must agree (RFC 4475 §3.3.9)."""
    length: int | None = None
    for name, value in headers._items:
        if name == "Content-Length":
            this = _uint(value, "Content-Length")
            if length is not None and this != length:
                raise ValueError(f"conflicting Content-Length values {length} and {this}")
            length = this
    return length


def _uint(value: str, what: str, clamp: bool = False) -> int:
    """A non-negative decimal (ASCII digits only); beyond 2**32-1 it is clamped or refused."""
    value = value.strip()
    if not (value.isascii() and value.isdigit()):
        raise ValueError(f"bad {what}: {value[:40]!r}")
    if len(value) > 10:
        value = value.lstrip("0") or "0"
    if len(value) > 10 or int(value) > 0xFFFFFFFF:
        if clamp:
            return 0xFFFFFFFF
        raise ValueError(f"{what} out of range: {value[:40]!r}")
    return int(value)


def _unescaped_nul(head: str) -> bool:
    """True when a NUL appears other than as a quoted-pair (intmeth, RFC 4475 §3.1.1.2, has '\\\\\\x00')."""
    at = head.find("\x00")
    while at >= 0:
        if at == 0 or head[at - 1] != "\\":
            return True
        at = head.find("\x00", at + 1)
    return False


def _error(problem: str, start: str, headers: Headers, is_request: bool) -> SipParseError:
    """A SipParseError carrying a partial request when a 400 can be built for it."""
    needed = [headers.get_fields(name) for name in ("Via", "From", "To", "Call-ID", "CSeq")]
    if not is_request or not all(needed) or any("\x00" in v or "\r" in v for vs in needed for v in vs):
        return SipParseError(problem)  # never echo a NUL or a bare CR back in the 400
    words = start.split(" ")
    cseq_words = (headers.get("CSeq") or "").split()
    method = words[0] if is_token(words[0]) else (cseq_words[-1] if cseq_words else "")
    if method == "ACK" or (cseq_words and cseq_words[-1] == "ACK") or not method:
        return SipParseError(problem)  # an ACK is never answered (RFC 3261 §17.2.3)
    uri_text = words[1] if len(words) > 1 else ""
    return SipParseError(problem, True, Request(method, uri_text, headers))


# ---------------------------------------------------------------------------------------------------
# Responses


def make_response(request: Request, status: int, reason: str | None = None, to_tag: str | None = None,
                  headers: Iterable[tuple[str, str]] = (), body: bytes = b"") -> Response:
    """Build a response copying Via, From, To, Call-ID and CSeq from the request (RFC 3261 §8.2.6.2)."""
    response = Response(status, reason)
    h = response.headers
    for value in request.headers.get_fields("Via"):
        h.add("Via", value)
    h.add("From", request.headers.get("From", "") or "")
    to_value = request.headers.get("To", "") or ""
    if to_tag is not None and status != 100 and to_value and _tag_of(to_value) is None:
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


# Re-exported: callers import the message API from one place.
from .framing import StreamFramer  # noqa: E402
from .validation import validate_request, validate_response  # noqa: E402

__all__ = [
    "MAX_HEADERS", "MAX_MESSAGE_SIZE", "REASON_PHRASES", "Headers", "Request", "Response", "SipMessage",
    "SipParseError", "StreamFramer", "make_response", "parse_message", "validate_request", "validate_response",
]
