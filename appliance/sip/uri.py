"""SIP and SIPS URIs (RFC 3261 §19.1) and a fallback for other absolute URIs.

The parser keeps user and parameter text as written (escapes included) so that a
message round-trips byte for byte; comparison (RFC 3261 §19.1.4) unescapes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import unquote

_DEFAULT_PORTS = {"sip": 5060, "sips": 5061}


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
        scheme, colon, rest = text.partition(":")
        scheme_l = scheme.lower()
        if not colon or scheme_l not in ("sip", "sips"):
            raise ValueError(f"not a SIP URI: {text!r}")
        rest, qmark, headers = rest.partition("?")
        user = password = None
        # The user part may contain ';' (RFC 3261 allows it in user), so split at the last '@'.
        at = rest.rfind("@")
        if at >= 0:
            userinfo, hostpart = rest[:at], rest[at + 1 :]
            if not userinfo:
                raise ValueError(f"empty user part in {text!r}")
            user, pcolon, pw = userinfo.partition(":")
            password = pw if pcolon else None
        else:
            hostpart = rest
        hostport, _, paramtext = hostpart.partition(";")
        host, port = split_host_port(hostport)
        params: dict[str, str | None] = {}
        if paramtext:
            for item in paramtext.split(";"):
                if not item:
                    raise ValueError(f"empty URI parameter in {text!r}")
                name, eq, value = item.partition("=")
                params[name.lower()] = value if eq else None
        return cls(scheme_l, user, password, host, port, params, headers if qmark else None)

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
        """URI comparison of RFC 3261 §19.1.4 (user case-sensitive, host case-insensitive, escapes decoded)."""
        if self.scheme != other.scheme:
            return False
        if _unescape(self.user) != _unescape(other.user) or _unescape(self.password) != _unescape(other.password):
            return False
        if self.host.lower() != other.host.lower() or self.port != other.port:
            return False
        # user, ttl, method, maddr and transport must match when present in either URI.
        for name in ("user", "ttl", "method", "maddr", "transport"):
            a, b = self.params.get(name), other.params.get(name)
            if (name in self.params) != (name in other.params):
                return False
            if a is not None and b is not None and a.lower() != b.lower():
                return False
        # Other parameters present in both must match.
        for name in self.params.keys() & other.params.keys():
            a, b = self.params[name], other.params[name]
            if (a or "").lower() != (b or "").lower():
                return False
        return True


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
    scheme, colon, _ = text.partition(":")
    if not colon or not scheme or not (scheme[0].isalpha() and all(c.isalnum() or c in "+-." for c in scheme)):
        raise ValueError(f"not an absolute URI: {text!r}")
    if scheme.lower() in ("sip", "sips"):
        return SipUri.parse(text)
    return AbsoluteUri(text)


def split_host_port(hostport: str) -> tuple[str, int | None]:
    """Split 'host', 'host:port', '[v6]' or '[v6]:port'; the host is returned without brackets."""
    if not hostport:
        raise ValueError("empty host")
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0:
            raise ValueError(f"unterminated IPv6 reference: {hostport!r}")
        host, rest = hostport[1:end], hostport[end + 1 :]
        if rest and not rest.startswith(":"):
            raise ValueError(f"garbage after IPv6 reference: {hostport!r}")
        portpart = rest[1:] if rest else None
    else:
        host, colon, portpart = hostport.partition(":")
        if not colon:
            portpart = None
    if not host or any(c in host for c in " \t<>\"@"):
        raise ValueError(f"bad host: {hostport!r}")
    port: int | None = None
    if portpart is not None:
        if not portpart.isdigit() or not 0 < int(portpart) < 65536:
            raise ValueError(f"bad port: {hostport!r}")
        port = int(portpart)
    return host, port


def format_host(host: str) -> str:
    """Bracket IPv6 literals for use in a URI or Via."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _unescape(value: str | None) -> str | None:
    return None if value is None else unquote(value)
