"""SIP and SIPS URIs (RFC 3261 §19.1) and a fallback for other absolute URIs.

The parser keeps user, parameter values and headers as written (escapes included) so that a
URI round-trips; parameter names are lower-cased (they are case-insensitive). Comparison
(RFC 3261 §19.1.4) unescapes. A URI never contains whitespace, control characters, '<', '>'
or '"' (RFC 3986 §2): rejecting them here keeps header injection out of everything built on top.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from urllib.parse import unquote

_DEFAULT_PORTS = {"sip": 5060, "sips": 5061}

# Characters that can never appear raw in a URI (RFC 3986 §2, RFC 3261 §25.1).
_FORBIDDEN = re.compile(r'[\x00-\x20\x7f<>"]')
_HOSTNAME = re.compile(r"[A-Za-z0-9_.-]+")  # hostname or IPv4; '_' tolerated (seen in the field)
_IPV6_REF = re.compile(r"\[([0-9A-Fa-f:.]+(?:%[A-Za-z0-9_.~-]+)?)\]")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")


@dataclass
class SipUri:
    """A sip: or sips: URI. Parameter names are stored lower-cased; values as written."""

    scheme: str = "sip"
    user: str | None = None
    password: str | None = None
    host: str = ""
    port: int | None = None
    params: dict[str, str | None] = field(default_factory=dict)
    headers: str | None = None

    @classmethod
    def parse(cls, text: str) -> SipUri:
        """Parse a SIP URI; raises ValueError with the reason when it is not one."""
        text = text.strip()
        colon = text.find(":")
        scheme = text[:colon].lower() if colon > 0 else ""
        if scheme != "sip" and scheme != "sips":
            raise ValueError(f"not a SIP URI: {text[:80]!r}")
        rest = text[colon + 1 :]
        if _FORBIDDEN.search(rest):
            raise ValueError(f"forbidden character in URI: {text[:80]!r}")
        user = password = None
        # '@' is legal only as the userinfo separator (user, password, host, params and headers
        # exclude it), while the user part may hold ';' '?' '/' ',' (RFC 3261 §25.1 user-unreserved):
        # so the userinfo is everything before the first '@'.
        at = rest.find("@")
        if at >= 0:
            userinfo, rest = rest[:at], rest[at + 1 :]
            user, pcolon, pw = userinfo.partition(":")
            if not user:
                raise ValueError(f"empty user part in {text[:80]!r}")
            password = pw if pcolon else None
        rest, qmark, headers = rest.partition("?")
        hostport, semi, paramtext = rest.partition(";")
        host, port = split_host_port(hostport)
        params: dict[str, str | None] = {}
        if semi:
            for item in paramtext.split(";"):
                name, eq, value = item.partition("=")
                if not name:
                    raise ValueError(f"empty URI parameter in {text[:80]!r}")
                params[name.lower()] = value if eq else None
        if qmark and not headers:
            raise ValueError(f"empty URI headers in {text[:80]!r}")
        return cls(scheme, user, password, host, port, params, headers if qmark else None)

    def __str__(self) -> str:
        out = [self.scheme, ":"]
        if self.user is not None:
            out.append(self.user)
            if self.password is not None:
                out.append(":" + self.password)
            out.append("@")
        out.append(format_host(self.host))
        if self.port is not None:
            out.append(f":{self.port}")
        for name, value in self.params.items():
            out.append(f";{name}" if value is None else f";{name}={value}")
        if self.headers is not None:
            out.append("?" + self.headers)
        return "".join(out)

    @property
    def transport(self) -> str:
        """The transport asked for by the URI (`transport` parameter), lower-case; sips implies tls."""
        value = self.params.get("transport")
        if value:
            return value.lower()
        return "tls" if self.scheme == "sips" else "udp"

    @property
    def default_port(self) -> int:
        return _DEFAULT_PORTS[self.scheme]

    def host_port(self) -> tuple[str, int]:
        """The host and the port to reach, with the scheme's default port filled in."""
        return self.host, self.port if self.port is not None else self.default_port

    def header_fields(self) -> list[tuple[str, str]]:
        """The `?name=value&…` headers as (name, value) pairs, unescaped (RFC 3261 §19.1.1)."""
        if not self.headers:
            return []
        out = []
        for item in self.headers.split("&"):
            name, _, value = item.partition("=")
            out.append((unquote(name), unquote(value)))
        return out

    def copy(self, **changes: object) -> SipUri:
        """A copy with some fields replaced; params are copied so edits do not leak."""
        values = dict(
            scheme=self.scheme,
            user=self.user,
            password=self.password,
            host=self.host,
            port=self.port,
            params=dict(self.params),
            headers=self.headers,
        )
        values.update(changes)
        return SipUri(**values)  # type: ignore[arg-type]

    def equivalent(self, other: SipUri) -> bool:
        """URI comparison of RFC 3261 §19.1.4.

        userinfo is compared case-sensitively, everything else case-insensitively, all after
        decoding %HEX escapes once. The `user`, `ttl`, `method`, `maddr` and `transport` parameters
        must match when present in either URI (transport included, as the section's examples require:
        `sip:bob@biloxi.com` is not `sip:bob@biloxi.com;transport=udp`); other parameters must match
        when present in both. Headers are never ignored and their order does not matter.
        """
        if self.scheme != other.scheme:
            return False
        if _unescape(self.user) != _unescape(other.user) or _unescape(self.password) != _unescape(other.password):
            return False
        if self.port != other.port or not _same_host(self.host, other.host):
            return False
        mine, theirs = _normalised_params(self.params), _normalised_params(other.params)
        for name in ("user", "ttl", "method", "maddr", "transport"):
            if (name in mine) != (name in theirs):
                return False
        for name in mine.keys() & theirs.keys():
            if mine[name] != theirs[name]:
                return False
        return _header_set(self) == _header_set(other)


@dataclass
class AbsoluteUri:
    """Any non-SIP absolute URI (tel:, urn:, http:, mailto: …), kept as written."""

    text: str

    @property
    def scheme(self) -> str:
        return self.text.partition(":")[0].lower()

    def __str__(self) -> str:
        return self.text


Uri = SipUri | AbsoluteUri


def parse_uri(text: str) -> Uri:
    """Parse any URI found in a SIP message: SIP/SIPS into SipUri, others kept opaque."""
    text = text.strip()
    if text[:4].lower() == "sip:":
        return SipUri.parse(text)
    colon = text.find(":")
    if colon <= 0 or not _SCHEME.fullmatch(text, 0, colon):
        raise ValueError(f"not an absolute URI: {text[:80]!r}")
    scheme = text[:colon].lower()
    if scheme == "sip" or scheme == "sips":
        return SipUri.parse(text)
    if colon == len(text) - 1 or _FORBIDDEN.search(text, colon + 1):
        raise ValueError(f"bad {scheme}: URI: {text[:80]!r}")
    return AbsoluteUri(text)


def split_host_port(hostport: str) -> tuple[str, int | None]:
    """Split 'host', 'host:port', '[v6]' or '[v6]:port'; the host is returned without brackets."""
    if not hostport:
        raise ValueError("empty host")
    if hostport[0] == "[":
        end = hostport.find("]")
        if end < 0 or not _IPV6_REF.fullmatch(hostport, 0, end + 1):
            raise ValueError(f"bad IPv6 reference: {hostport[:80]!r}")
        host, rest = hostport[1:end], hostport[end + 1 :]
        if rest and rest[0] != ":":
            raise ValueError(f"garbage after IPv6 reference: {hostport[:80]!r}")
        portpart = rest[1:] if rest else None
    else:
        host, colon, portpart_ = hostport.partition(":")
        portpart = portpart_ if colon else None
        if not _HOSTNAME.fullmatch(host):
            raise ValueError(f"bad host: {hostport[:80]!r}")
    port: int | None = None
    if portpart is not None:
        if not (0 < len(portpart) <= 5 and portpart.isascii() and portpart.isdigit()) or not 0 < int(portpart) < 65536:
            raise ValueError(f"bad port: {hostport[:80]!r}")
        port = int(portpart)
    return host, port


def format_host(host: str) -> str:
    """Bracket IPv6 literals for use in a URI or Via."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _unescape(value: str | None) -> str | None:
    if value is None or "%" not in value:
        return value
    return unquote(value, errors="surrogateescape")


def _same_host(a: str, b: str) -> bool:
    if a.lower() == b.lower():
        return True
    if ":" in a and ":" in b:  # two IPv6 literals written differently (RFC 5952 forms)
        try:
            return ipaddress.ip_address(a) == ipaddress.ip_address(b)
        except ValueError:
            return False
    return False


def _normalised_params(params: dict[str, str | None]) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name, value in params.items():
        out[_unescape(name).lower()] = None if value is None else _unescape(value).lower()  # type: ignore[union-attr]
    return out


def _header_set(uri: SipUri) -> frozenset[tuple[str, str]]:
    return frozenset((name.lower(), value) for name, value in uri.header_fields())
