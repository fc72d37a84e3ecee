"""Typed SIP header values: name-addr (From/To/Contact/Route), Via, CSeq, and list splitting.

RFC 3261 §7.3 and §25.1. Values are parsed on demand by the message accessors, so a
proxy path that never looks at a header never pays for parsing it. The typed parsers follow the
grammar strictly where RFC 4475 says an element should answer 400 (empty parameters, spaces inside
<…>, unquoted display names with separators, headers in an addr-spec, unterminated quotes) and are
liberal where it says to be (no LWS before '<', LWS anywhere else, leading zeros).
"""

from __future__ import annotations

import re
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

# Names whose conventional spelling is not what capitalising each '-' part gives.
_SPECIAL_CASE = {
    "call-id": "Call-ID", "cseq": "CSeq", "www-authenticate": "WWW-Authenticate", "mime-version": "MIME-Version",
    "rack": "RAck", "rseq": "RSeq", "sip-etag": "SIP-ETag", "sip-if-match": "SIP-If-Match",
    "p-asserted-identity": "P-Asserted-Identity", "p-preferred-identity": "P-Preferred-Identity",
    "min-se": "Min-SE", "content-id": "Content-ID", "remote-party-id": "Remote-Party-ID",
    "p-charging-vector": "P-Charging-Vector", "p-charging-function-addresses": "P-Charging-Function-Addresses",
    "p-early-media": "P-Early-Media", "p-called-party-id": "P-Called-Party-ID",
    "p-associated-uri": "P-Associated-URI", "p-access-network-info": "P-Access-Network-Info",
    "p-visited-network-id": "P-Visited-Network-ID",
}

# Headers whose values are comma-separated lists (RFC 3261 §7.3.1); others (e.g. WWW-Authenticate, Date)
# contain commas that are not list separators.
LIST_HEADERS = frozenset({
    "Via", "Contact", "Route", "Record-Route", "Allow", "Supported", "Require", "Proxy-Require", "Unsupported",
    "Accept", "Accept-Encoding", "Accept-Language", "Allow-Events", "Content-Encoding", "In-Reply-To", "Path",
    "Service-Route", "Alert-Info", "Call-Info", "Error-Info", "Warning",
})

_TOKEN_CLASS = r"A-Za-z0-9\-.!%*_+`'~"
_TOKEN = re.compile(f"[{_TOKEN_CLASS}]+")
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
# An unquoted display name: tokens separated by LWS; non-ASCII tolerated (phones send raw UTF-8 names).
_DISPLAY_TOKENS = re.compile(f"[{_TOKEN_CLASS}\\s\x80-\U0010ffff]+")
# One header parameter: ';' name ['=' (quoted-string / anything up to LWS ; , ")], LWS allowed around.
_PARAM = re.compile(r'[ \t]*;[ \t]*([^\s=;,"]*)[ \t]*(?:=[ \t]*("(?:[^"\\]|\\.)*"|[^\s;,"]*))?[ \t]*', re.S)
# Parameters that need no quoting nor LWS handling: the usual case, checked by one regex and split.
_SIMPLE_PARAMS = re.compile(f"(?:;[{_TOKEN_CLASS}]+(?:=[^;\\s,\"]*)?)+")
_VIA = re.compile(f"([{_TOKEN_CLASS}]+)[ \\t]*/[ \\t]*([{_TOKEN_CLASS}]+)[ \\t]*/[ \\t]*([{_TOKEN_CLASS}]+)"
                  r"[ \t]+([^;]+?)[ \t]*(;.*)?", re.S)
_LWS_COLON = re.compile(r"[ \t]*:[ \t]*")
_CSEQ = re.compile(r"([0-9]+)[ \t]+(\S+)")

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


def is_token(text: str) -> bool:
    """True when `text` is an RFC 3261 token (methods, header names, parameter names, transports)."""
    return _TOKEN.fullmatch(text) is not None


def split_list(value: str) -> list[str]:
    """Split a comma-separated header value, honouring quoted strings and <…> URIs; empty items are dropped."""
    if "," not in value:
        stripped = value.strip()
        return [stripped] if stripped else []
    if '"' not in value and "<" not in value:
        return [item for item in (part.strip() for part in value.split(",")) if item]
    items: list[str] = []
    in_angle = False
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
            in_angle = True
        elif c == ">":
            in_angle = False
        elif c == "," and not in_angle:
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
    """Parse ';name=value;flag' header parameters (RFC 3261 §25.1 generic-param).

    Names are lower-cased, values kept as written (quoted values keep their quotes). An empty
    parameter (';;' or a trailing ';') is a syntax error (RFC 4475 §3.1.2.1).
    """
    params: dict[str, str | None] = {}
    if text[:1] != ";":
        text = text.strip()
        if not text:
            return params
        if text[0] != ";":
            text = ";" + text
    if _SIMPLE_PARAMS.fullmatch(text) is not None:
        for item in text[1:].split(";"):
            name, eq, value = item.partition("=")
            params[name.lower()] = value if eq else None
        return params
    text = text.strip()
    pos, n = 0, len(text)
    while pos < n:
        m = _PARAM.match(text, pos)
        if m is None or m.end() == pos:
            raise ValueError(f"bad parameter at {text[pos:pos + 40]!r}")
        name = m.group(1)
        if not name or _TOKEN.fullmatch(name) is None:
            raise ValueError(f"bad parameter name in {text[:80]!r}")
        params[name.lower()] = m.group(2)
        pos = m.end()
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
        if "\\" not in inner:
            return inner
        out, i = [], 0
        while i < len(inner):
            if inner[i] == "\\" and i + 1 < len(inner):
                i += 1
            out.append(inner[i])
            i += 1
        return "".join(out)
    return value


_QUOTE_ESCAPES = {i: "\\" + chr(i) for i in (*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F)}
_QUOTE_ESCAPES.update({ord("\\"): "\\\\", ord('"'): '\\"', 0x0A: " ", 0x0D: " "})


def quote_string(value: str) -> str:
    """A quoted-string for `value`: quotes, backslashes and controls escaped (CR/LF cannot be, so become SP)."""
    return '"' + value.translate(_QUOTE_ESCAPES) + '"'


@dataclass
class NameAddress:
    """name-addr or addr-spec with header parameters: From, To, Contact, Route, Refer-To …"""

    uri: Uri
    display_name: str | None = None
    params: dict[str, str | None] = field(default_factory=dict)
    wildcard: bool = False  # Contact: *

    @classmethod
    def parse(cls, text: str) -> NameAddress:
        """Parse one value (already split from a list); ValueError names what is wrong."""
        text = text.strip()
        if text == "*":
            return cls(uri=SipUri(host="*"), wildcard=True)
        display: str | None = None
        if text[:1] == '"':
            quoted = _QUOTED.match(text)
            if quoted is None:
                raise ValueError(f"unterminated quoted display name in {text[:80]!r}")
            display = unquote_string(quoted.group())
            lt = quoted.end()
            while text[lt : lt + 1] in (" ", "\t"):
                lt += 1
            if text[lt : lt + 1] != "<":
                raise ValueError(f"expected <URI> after the display name in {text[:80]!r}")
        else:
            lt = text.find("<")
            if lt > 0 and '"' in text[:lt]:
                lt = _find_unquoted(text, "<")  # -1: '<' only inside quotes, so an addr-spec (or garbage)
            if lt > 0:
                display = text[:lt].rstrip()
                if _DISPLAY_TOKENS.fullmatch(display) is None:
                    raise ValueError(f"display name must be quoted: {display[:80]!r}")
        if lt >= 0:
            gt = text.find(">", lt)
            if gt < 0:
                raise ValueError(f"unterminated <URI> in {text[:80]!r}")
            uri_text, rest = text[lt + 1 : gt], text[gt + 1 :].lstrip(" \t")
            if not uri_text or uri_text[0] in " \t" or uri_text[-1] in " \t":
                raise ValueError(f"whitespace inside <URI> in {text[:80]!r}")
            if rest and rest[0] != ";":
                raise ValueError(f"garbage after <URI> in {text[:80]!r}")
        else:
            # addr-spec: parameters after ';' belong to the header, not the URI (RFC 3261 §20); a URI
            # with ',', '?' or ';' must be in <…> (RFC 3261 §20.10, RFC 4475 §3.1.2.13).
            semi = text.find(";")
            uri_text, rest = (text, "") if semi < 0 else (text[:semi].rstrip(), text[semi:])
            if "?" in uri_text:
                raise ValueError(f"URI with headers must be enclosed in <>: {text[:80]!r}")
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
        """Parse 'SIP/2.0/UDP host:port;params' (LWS allowed around '/', ':' and ';')."""
        m = _VIA.fullmatch(text.strip())
        if m is None:
            raise ValueError(f"bad Via: {text[:80]!r}")
        name, version, transport, sent_by, paramtext = m.groups()
        if " " in sent_by or "\t" in sent_by:
            sent_by = _LWS_COLON.sub(":", sent_by)  # sent-by = host [ SWS ":" SWS port ]
        host, port = split_host_port(sent_by)
        params = parse_params(paramtext) if paramtext else {}
        protocol = "SIP/2.0" if name == "SIP" and version == "2.0" else f"{name.upper()}/{version}"
        return cls(transport.upper(), host, port, params, protocol)

    def __str__(self) -> str:
        port = f":{self.port}" if self.port is not None else ""
        return f"{self.protocol}/{self.transport} {format_host(self.host)}{port}{format_params(self.params)}"

    @property
    def branch(self) -> str | None:
        return self.params.get("branch")

    @property
    def has_rfc3261_branch(self) -> bool:
        """True when the branch carries the magic cookie and an identifier after it (RFC 3261 §8.1.1.7)."""
        branch = self.params.get("branch")
        return branch is not None and len(branch) > 7 and branch.startswith("z9hG4bK")


@dataclass
class CSeq:
    number: int
    method: str

    @classmethod
    def parse(cls, text: str) -> CSeq:
        """Parse '<number> <method>'; the number must fit 32 bits unsigned (RFC 3261 §20.16, RFC 4475 §3.1.2.4)."""
        m = _CSEQ.fullmatch(text.strip())
        if m is None:
            raise ValueError(f"bad CSeq: {text[:80]!r}")
        digits, method = m.groups()
        if len(digits) > 10:
            digits = digits.lstrip("0") or "0"
        if len(digits) > 10 or int(digits) > 0xFFFFFFFF:
            raise ValueError(f"CSeq number out of range: {text[:80]!r}")
        if _TOKEN.fullmatch(method) is None:
            raise ValueError(f"bad CSeq method: {text[:80]!r}")
        return cls(int(digits), method)

    def __str__(self) -> str:
        return f"{self.number} {self.method}"


def parse_auth_params(text: str) -> tuple[str, dict[str, str]]:
    """Parse 'Digest realm="x", nonce="y", …' into the scheme and unquoted parameters (RFC 7616 §3)."""
    parts = text.strip().split(None, 1)
    if not parts:
        raise ValueError("empty credentials or challenge")
    scheme = parts[0]
    rest = parts[1] if len(parts) > 1 else ""
    params: dict[str, str] = {}
    for item in split_auth_list(rest):
        name, eq, value = item.partition("=")
        if not eq:
            raise ValueError(f"bad auth parameter: {item[:80]!r}")
        params[name.strip().lower()] = unquote_string(value.strip())
    return scheme, params


def split_auth_list(text: str) -> list[str]:
    """Comma-split honouring quotes (auth parameters never contain <…>)."""
    return [p.strip() for p in _split_unquoted(text, ",") if p.strip()]


def host_for_via(host: str, port: int | None) -> str:
    return format_host(host) + (f":{port}" if port is not None else "")
