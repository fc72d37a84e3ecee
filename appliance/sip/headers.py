"""Typed SIP header values: name-addr (From/To/Contact/Route), Via, CSeq, and list splitting.

RFC 3261 §7.3 and §25.1. Values are parsed on demand by the message accessors, so a
proxy path that never looks at a header never pays for parsing it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .uri import SipUri, Uri, format_host, parse_uri, split_host_port

# Compact forms, RFC 3261 §7.3.3 and later RFCs (o: Event, u: Allow-Events, r: Refer-To, b: Referred-By,
# x: Session-Expires, y: Identity, a: Accept-Contact, j: Reject-Contact, d: Request-Disposition).
COMPACT_FORMS = {
    "i": "Call-ID", "m": "Contact", "e": "Content-Encoding", "l": "Content-Length", "c": "Content-Type",
    "f": "From", "s": "Subject", "k": "Supported", "t": "To", "v": "Via", "o": "Event", "u": "Allow-Events",
    "r": "Refer-To", "b": "Referred-By", "x": "Session-Expires", "y": "Identity", "a": "Accept-Contact",
    "j": "Reject-Contact", "d": "Request-Disposition",
}

_SPECIAL_CASE = {
    "call-id": "Call-ID", "cseq": "CSeq", "www-authenticate": "WWW-Authenticate", "mime-version": "MIME-Version",
    "rack": "RAck", "rseq": "RSeq", "sip-etag": "SIP-ETag", "sip-if-match": "SIP-If-Match",
    "p-asserted-identity": "P-Asserted-Identity", "p-preferred-identity": "P-Preferred-Identity",
}

# Headers whose values are comma-separated lists (RFC 3261 §7.3.1); others (e.g. WWW-Authenticate, Date)
# contain commas that are not list separators.
LIST_HEADERS = frozenset({
    "Via", "Contact", "Route", "Record-Route", "Allow", "Supported", "Require", "Proxy-Require", "Unsupported",
    "Accept", "Accept-Encoding", "Accept-Language", "Allow-Events", "Content-Encoding", "In-Reply-To", "Path",
    "Service-Route", "Alert-Info", "Call-Info", "Error-Info", "Warning",
})

_canonical_cache: dict[str, str] = {}


def canonical_name(name: str) -> str:
    """The canonical spelling of a header name: long form, conventional capitalisation."""
    cached = _canonical_cache.get(name)
    if cached is not None:
        return cached
    lower = name.lower()
    if len(lower) == 1 and lower in COMPACT_FORMS:
        result = COMPACT_FORMS[lower]
    elif lower in _SPECIAL_CASE:
        result = _SPECIAL_CASE[lower]
    else:
        result = "-".join(part.capitalize() for part in lower.split("-"))
    if len(_canonical_cache) < 4096:  # bounded: a hostile peer can invent header names
        _canonical_cache[name] = result
    return result


def split_list(value: str) -> list[str]:
    """Split a comma-separated header value, honouring quoted strings and <…> URIs."""
    items: list[str] = []
    if "," not in value:
        stripped = value.strip()
        return [stripped] if stripped else []
    depth_angle = False
    in_quote = False
    start = 0
    i = 0
    n = len(value)
    while i < n:
        c = value[i]
        if in_quote:
            if c == "\\":
                i += 1
            elif c == '"':
                in_quote = False
        elif c == '"':
            in_quote = True
        elif c == "<":
            depth_angle = True
        elif c == ">":
            depth_angle = False
        elif c == "," and not depth_angle:
            item = value[start:i].strip()
            if item:
                items.append(item)
            start = i + 1
        i += 1
    item = value[start:].strip()
    if item:
        items.append(item)
    return items


def parse_params(text: str) -> dict[str, str | None]:
    """Parse ';name=value;flag' header parameters (names lower-cased, quoted values kept quoted)."""
    params: dict[str, str | None] = {}
    for item in _split_unquoted(text, ";"):
        item = item.strip()
        if not item:
            continue
        name, eq, value = item.partition("=")
        name = name.strip().lower()
        if not name or any(c in name for c in ' \t"<>'):
            raise ValueError(f"bad parameter: {item!r}")
        params[name] = value.strip() if eq else None
    return params


def format_params(params: dict[str, str | None]) -> str:
    return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in params.items())


def _split_unquoted(text: str, sep: str) -> list[str]:
    if '"' not in text:
        return text.split(sep)
    parts, start, in_quote, i = [], 0, False, 0
    while i < len(text):
        c = text[i]
        if in_quote and c == "\\":
            i += 1
        elif c == '"':
            in_quote = not in_quote
        elif c == sep and not in_quote:
            parts.append(text[start:i])
            start = i + 1
        i += 1
    parts.append(text[start:])
    return parts


def unquote_string(value: str) -> str:
    """Remove the quotes and backslash escapes of a quoted-string (RFC 3261 §25.1)."""
    value = value.strip()
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        inner = value[1:-1]
        out, i = [], 0
        while i < len(inner):
            if inner[i] == "\\" and i + 1 < len(inner):
                i += 1
            out.append(inner[i])
            i += 1
        return "".join(out)
    return value


def quote_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass
class NameAddress:
    """name-addr or addr-spec with header parameters: From, To, Contact, Route, Refer-To …"""

    uri: Uri
    display_name: str | None = None
    params: dict[str, str | None] = field(default_factory=dict)
    wildcard: bool = False  # Contact: *

    @classmethod
    def parse(cls, text: str) -> NameAddress:
        text = text.strip()
        if text == "*":
            return cls(uri=SipUri(host="*"), wildcard=True)
        display: str | None = None
        if "<" in text:
            lt = _find_unquoted(text, "<")
            if lt < 0:
                raise ValueError(f"bad name-addr: {text!r}")
            gt = text.find(">", lt)
            if gt < 0:
                raise ValueError(f"unterminated <URI> in {text!r}")
            display_text = text[:lt].strip()
            if display_text:
                display = unquote_string(display_text) if display_text.startswith('"') else display_text
            uri_text, rest = text[lt + 1 : gt], text[gt + 1 :].strip()
            if rest and not rest.startswith(";"):
                raise ValueError(f"garbage after URI in {text!r}")
        else:
            # addr-spec: parameters after ';' belong to the header, not the URI (RFC 3261 §20).
            uri_text, semi, rest = text.partition(";")
            rest = semi + rest
            if any(c in uri_text for c in " \t"):
                raise ValueError(f"whitespace in addr-spec: {text!r}")
        uri = parse_uri(uri_text)
        params = parse_params(rest) if rest else {}
        return cls(uri=uri, display_name=display, params=params)

    def __str__(self) -> str:
        if self.wildcard:
            return "*"
        prefix = ""
        if self.display_name:
            prefix = quote_string(self.display_name) + " "
        return f"{prefix}<{self.uri}>{format_params(self.params)}"

    @property
    def tag(self) -> str | None:
        return self.params.get("tag")

    @property
    def sip_uri(self) -> SipUri:
        """The URI as a SipUri; raises ValueError for tel:/other schemes where SIP is required."""
        if not isinstance(self.uri, SipUri):
            raise ValueError(f"not a SIP URI: {self.uri}")
        return self.uri


def _find_unquoted(text: str, char: str) -> int:
    in_quote, i = False, 0
    while i < len(text):
        c = text[i]
        if in_quote and c == "\\":
            i += 1
        elif c == '"':
            in_quote = not in_quote
        elif c == char and not in_quote:
            return i
        i += 1
    return -1


@dataclass
class Via:
    """One Via header value (RFC 3261 §20.42, RFC 3581 rport)."""

    transport: str
    host: str
    port: int | None = None
    params: dict[str, str | None] = field(default_factory=dict)
    protocol: str = "SIP/2.0"

    @classmethod
    def parse(cls, text: str) -> Via:
        text = text.strip()
        sent_protocol, _, rest = _split_sent_protocol(text)
        parts = [p.strip() for p in sent_protocol.split("/")]
        if len(parts) != 3 or not all(parts):
            raise ValueError(f"bad Via sent-protocol: {text!r}")
        hostport, semi, paramtext = rest.partition(";")
        host, port = split_host_port(hostport.strip().replace(" ", ""))
        params = parse_params(paramtext) if semi else {}
        return cls(parts[2].upper(), host, port, params, f"{parts[0]}/{parts[1]}")

    def __str__(self) -> str:
        port = f":{self.port}" if self.port is not None else ""
        return f"{self.protocol}/{self.transport} {format_host(self.host)}{port}{format_params(self.params)}"

    @property
    def branch(self) -> str | None:
        return self.params.get("branch")


def _split_sent_protocol(text: str) -> tuple[str, str, str]:
    """Split 'SIP / 2.0 / UDP host…' (whitespace allowed around '/') into protocol and the rest."""
    slashes = 0
    i = 0
    while i < len(text) and slashes < 2:
        if text[i] == "/":
            slashes += 1
        i += 1
    while i < len(text) and text[i] in " \t":
        i += 1
    while i < len(text) and text[i] not in " \t":
        i += 1
    return text[:i], " ", text[i:].strip()


@dataclass
class CSeq:
    number: int
    method: str

    @classmethod
    def parse(cls, text: str) -> CSeq:
        num, _, method = text.strip().partition(" ")
        method = method.strip()
        if not num.isdigit() or not method or len(num) > 10 or int(num) >= 2**31:
            raise ValueError(f"bad CSeq: {text!r}")
        return cls(int(num), method)

    def __str__(self) -> str:
        return f"{self.number} {self.method}"


def parse_auth_params(text: str) -> tuple[str, dict[str, str]]:
    """Parse 'Digest realm="x", nonce="y", …' into the scheme and unquoted parameters (RFC 7616 §3)."""
    text = text.strip()
    scheme, _, rest = text.partition(" ")
    params: dict[str, str] = {}
    for item in split_auth_list(rest):
        name, eq, value = item.partition("=")
        if not eq:
            raise ValueError(f"bad auth parameter: {item!r}")
        params[name.strip().lower()] = unquote_string(value.strip())
    return scheme, params


def split_auth_list(text: str) -> list[str]:
    """Comma-split honouring quotes (auth parameters never contain <…>)."""
    return [p.strip() for p in _split_unquoted(text, ",") if p.strip()]


def host_for_via(host: str, port: int | None) -> str:
    return format_host(host) + (f":{port}" if port is not None else "")
