"""A raw SIP test client: send hand-written bytes over UDP or TCP to 127.0.0.1, read back what comes.

Deliberately independent of ``appliance.sip`` (it checks it): its parser is minimal and forgiving, enough to
read status lines, headers in order and bodies; malformed-message tests write their bytes by hand. Also holds
an RFC 2617 / RFC 7616 digest calculator (MD5, SHA-256, SHA-512-256, their -sess forms, qop auth/auth-int).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import socket
import time
from dataclasses import dataclass, field
from typing import Callable

LOOPBACK = "127.0.0.1"
COMPACT = {"i": "call-id", "f": "from", "t": "to", "v": "via", "m": "contact", "l": "content-length",
           "c": "content-type", "k": "supported", "s": "subject", "e": "content-encoding", "o": "event",
           "u": "allow-events", "r": "refer-to", "b": "referred-by", "x": "session-expires"}


@dataclass
class SipMessage:
    """A received (or built) SIP message: first line, headers in order as (name, value), raw body."""

    first_line: str
    headers: list[tuple[str, str]]
    body: bytes = b""
    source: tuple[str, int] | None = None
    raw: bytes = b""

    @property
    def is_request(self) -> bool:
        return not self.first_line.startswith("SIP/")

    @property
    def method(self) -> str:
        """Request method, or for a response the method of its CSeq."""
        if self.is_request:
            return self.first_line.split(" ", 1)[0]
        return self.cseq[1]

    @property
    def uri(self) -> str:
        return self.first_line.split(" ")[1] if self.is_request else ""

    @property
    def status(self) -> int:
        return int(self.first_line.split(" ")[1]) if not self.is_request else 0

    @property
    def reason(self) -> str:
        parts = self.first_line.split(" ", 2)
        return parts[2] if not self.is_request and len(parts) > 2 else ""

    def header_all(self, name: str) -> list[str]:
        """Every value of a header (compact forms matched), in order; comma lists are not split."""
        key = COMPACT.get(name.lower(), name.lower())
        return [v for n, v in self.headers if COMPACT.get(n.lower(), n.lower()) == key]

    def header(self, name: str, default: str | None = None) -> str | None:
        values = self.header_all(name)
        return values[0] if values else default

    @property
    def call_id(self) -> str:
        return self.header("Call-ID", "") or ""

    @property
    def cseq(self) -> tuple[int, str]:
        number, _, method = (self.header("CSeq", "0 ") or "0 ").partition(" ")
        return int(number), method.strip()

    def tag(self, name: str = "To") -> str | None:
        """The tag parameter of From or To, None when absent."""
        match = re.search(r";\s*tag=([^;>\s]+)", self.header(name, "") or "")
        return match.group(1) if match else None

    def __bytes__(self) -> bytes:
        lines = [self.first_line, *(f"{n}: {v}" for n, v in self.headers)]
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + self.body

    def __str__(self) -> str:
        return bytes(self).decode(errors="replace")


def parse_message(data: bytes, source: tuple[str, int] | None = None) -> SipMessage:
    """Parse one whole message; raises ValueError when there is no header/body separator or first line."""
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = data.partition(b"\n\n")
    if not sep:
        raise ValueError("no end of headers (CRLF CRLF) in message")
    lines = head.decode("utf-8", errors="replace").replace("\r\n", "\n").split("\n")
    if not lines[0].strip():
        raise ValueError("empty first line")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and headers:
            name, value = headers[-1]
            headers[-1] = (name, f"{value} {line.strip()}")
        elif ":" in line:
            name, value = line.split(":", 1)
            headers.append((name.strip(), value.strip()))
    msg = SipMessage(lines[0].strip(), headers, body, source, data)
    length = msg.header("Content-Length")
    if length is not None and length.strip().isdigit():
        msg.body = body[:int(length)]
    return msg


def split_stream(buffer: bytearray) -> SipMessage | None:
    """Take one complete message off the front of a TCP stream buffer (framed by Content-Length)."""
    while buffer[:2] == b"\r\n":  # RFC 5626 keep-alive CRLFs
        del buffer[:2]
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None
    match = re.search(rb"(?im)^(?:content-length|l)\s*:\s*(\d+)", bytes(buffer[:end]))
    total = end + 4 + (int(match.group(1)) if match else 0)
    if len(buffer) < total:
        return None
    data = bytes(buffer[:total])
    del buffer[:total]
    return parse_message(data)


class SipClient:
    """One socket on 127.0.0.1 talking to one SIP server; unmatched messages wait in a backlog."""

    def __init__(self, remote_port: int, transport: str = "udp", remote_host: str = LOOPBACK,
                 timeout: float = 2.0) -> None:
        self.remote = (remote_host, remote_port)
        self.transport = transport
        self.timeout = timeout
        self.backlog: list[SipMessage] = []
        self.received: list[SipMessage] = []
        self._stream = bytearray()
        if transport == "udp":
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.sock.bind((LOOPBACK, 0))
        elif transport == "tcp":
            self.sock = socket.create_connection(self.remote, timeout=timeout, source_address=(LOOPBACK, 0))
        else:
            raise ValueError(f"transport must be udp or tcp, not {transport!r}")
        self.local_port = self.sock.getsockname()[1]
        self.tag = secrets.token_hex(4)
        self.call_id = f"{secrets.token_hex(8)}@{LOOPBACK}"
        self.cseq = 0

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> SipClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- sending ------------------------------------------------------------------------------------------
    def send(self, data: bytes | str | SipMessage) -> None:
        """Send bytes exactly as given (str is encoded as UTF-8; nothing is fixed up)."""
        raw = bytes(data) if isinstance(data, SipMessage) else data.encode() if isinstance(data, str) else data
        if self.transport == "udp":
            self.sock.sendto(raw, self.remote)
        else:
            self.sock.sendall(raw)

    def build_request(self, method: str, uri: str, headers: list[tuple[str, str]] | dict[str, str] | None = None,
                      body: bytes | str = b"", user: str = "test", to: str | None = None,
                      call_id: str | None = None, cseq: int | None = None, from_tag: str | None = None) -> SipMessage:
        """A well-formed request with Via/From/To/Call-ID/CSeq/Contact/Max-Forwards/Content-Length filled in;
        ``headers`` are added after them (a name given there replaces the default)."""
        if cseq is None:
            self.cseq += 1
        payload = body.encode() if isinstance(body, str) else body
        proto = self.transport.upper()
        defaults = [
            ("Via", f"SIP/2.0/{proto} {LOOPBACK}:{self.local_port};branch=z9hG4bK{secrets.token_hex(8)};rport"),
            ("Max-Forwards", "70"),
            ("From", f"<sip:{user}@{LOOPBACK}>;tag={from_tag or self.tag}"),
            ("To", to or f"<{uri}>"),
            ("Call-ID", call_id or self.call_id),
            ("CSeq", f"{cseq if cseq is not None else self.cseq} {method}"),
            ("Contact", f"<sip:{user}@{LOOPBACK}:{self.local_port};transport={self.transport}>"),
        ]
        extra = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
        names = {n.lower() for n, _ in extra}
        merged = [(n, v) for n, v in defaults if n.lower() not in names] + extra
        if "content-length" not in names:
            merged.append(("Content-Length", str(len(payload))))
        return SipMessage(f"{method} {uri} SIP/2.0", merged, payload)

    def request(self, method: str, uri: str, **kwargs: object) -> SipMessage:
        """Build and send a request (see ``build_request``); returns what was sent."""
        msg = self.build_request(method, uri, **kwargs)  # type: ignore[arg-type]
        self.send(msg)
        return msg

    def reply(self, request: SipMessage, status: int, reason: str = "OK",
              headers: list[tuple[str, str]] | None = None, body: bytes = b"", to_tag: str | None = None) -> SipMessage:
        """Answer a received request (Via/From/To/Call-ID/CSeq copied; a To tag added unless present)."""
        copied = [(n, v) for n, v in request.headers
                  if COMPACT.get(n.lower(), n.lower()) in ("via", "from", "to", "call-id", "cseq")]
        if request.tag("To") is None:
            copied = [(n, f"{v};tag={to_tag or self.tag}" if COMPACT.get(n.lower(), n.lower()) == "to" else v)
                      for n, v in copied]
        msg = SipMessage(f"SIP/2.0 {status} {reason}", copied + list(headers or []) +
                         [("Content-Length", str(len(body)))], body)
        self.send(msg)
        return msg

    # -- receiving ----------------------------------------------------------------------------------------
    def _read_one(self, deadline: float) -> SipMessage | None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        if self.transport == "tcp":
            msg = split_stream(self._stream)
            if msg is not None:
                return msg
        self.sock.settimeout(remaining)
        try:
            if self.transport == "udp":
                data, source = self.sock.recvfrom(65535)
                if not data.strip():
                    return self._read_one(deadline)
                return parse_message(data, source)
            chunk = self.sock.recv(65535)
        except socket.timeout:
            return None
        if not chunk:
            raise AssertionError(f"TCP connection closed by {self.remote}; received so far: {self._summary()}")
        self._stream.extend(chunk)
        return self._read_one(deadline)

    def receive(self, timeout: float | None = None,
                where: Callable[[SipMessage], bool] | None = None) -> SipMessage:
        """Next message (from the backlog first) satisfying ``where``; others stay in the backlog."""
        for index, msg in enumerate(self.backlog):
            if where is None or where(msg):
                return self.backlog.pop(index)
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            msg = self._read_one(deadline)
            if msg is None:
                raise AssertionError(f"no matching SIP message within {timeout or self.timeout:g}s; "
                                     f"received: {self._summary()}")
            self.received.append(msg)
            if where is None or where(msg):
                return msg
            self.backlog.append(msg)

    def expect_response(self, status: int | None = None, method: str | None = None, timeout: float | None = None,
                        skip_provisional: bool = True) -> SipMessage:
        """Next response (1xx skipped unless asked for); fails if its status is not ``status``."""

        def wanted(msg: SipMessage) -> bool:
            if msg.is_request or (method and msg.method != method):
                return False
            return not (skip_provisional and msg.status < 200 and (status is None or status >= 200))

        msg = self.receive(timeout, wanted)
        if status is not None and msg.status != status:
            raise AssertionError(f"expected {status}, got {msg.first_line}\n{msg}")
        return msg

    def expect_request(self, method: str, timeout: float | None = None) -> SipMessage:
        return self.receive(timeout, lambda m: m.is_request and m.method == method)

    def assert_silent(self, seconds: float = 0.3) -> None:
        """Check that nothing arrives for a while (e.g. garbage must be dropped without an answer)."""
        try:
            msg = self.receive(seconds)
        except AssertionError:
            return
        raise AssertionError(f"expected no answer, got {msg.first_line}")

    def _summary(self) -> str:
        return ", ".join(m.first_line for m in self.received[-10:]) or "nothing"


# -- digest authentication (RFC 2617, RFC 7616) ---------------------------------------------------------------
_HASHES = {"MD5": "md5", "SHA-256": "sha256", "SHA-512-256": "sha512_256"}


def _h(algorithm: str, text: str | bytes) -> str:
    base = algorithm.upper().removesuffix("-SESS")
    name = _HASHES.get(base)
    if name is None:
        raise ValueError(f"unsupported digest algorithm {algorithm!r}")
    data = text.encode() if isinstance(text, str) else text
    return hashlib.new(name, data).hexdigest()


def parse_challenge(value: str) -> dict[str, str]:
    """Parameters of a ``WWW-Authenticate``/``Proxy-Authenticate``/``Authorization`` Digest value."""
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "digest":
        raise ValueError(f"not a Digest challenge: {value!r}")
    params: dict[str, str] = {}
    for match in re.finditer(r'\s*([\w-]+)\s*=\s*("((?:[^"\\]|\\.)*)"|[^,\s]*)\s*,?', rest):
        quoted = match.group(3)
        params[match.group(1).lower()] = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else match.group(2)
    return params


def digest_response(username: str, realm: str, password: str, method: str, uri: str, nonce: str,
                    algorithm: str = "MD5", qop: str | None = None, nc: str = "00000001", cnonce: str = "",
                    body: bytes = b"") -> str:
    """The ``response`` value: H(HA1:nonce[:nc:cnonce:qop]:HA2) per RFC 2617 §3.2.2 / RFC 7616 §3.4.1."""
    ha1 = _h(algorithm, f"{username}:{realm}:{password}")
    if algorithm.upper().endswith("-SESS"):
        ha1 = _h(algorithm, f"{ha1}:{nonce}:{cnonce}")
    ha2 = _h(algorithm, f"{method}:{uri}:{_h(algorithm, body)}" if qop == "auth-int" else f"{method}:{uri}")
    if qop:
        return _h(algorithm, f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")
    return _h(algorithm, f"{ha1}:{nonce}:{ha2}")


def authorization(challenge: str, method: str, uri: str, username: str, password: str, nc: int = 1,
                  cnonce: str | None = None, body: bytes = b"", qop: str | None = None) -> str:
    """An ``Authorization``/``Proxy-Authorization`` value answering ``challenge`` (prefers qop=auth)."""
    params = parse_challenge(challenge)
    algorithm = params.get("algorithm", "MD5")
    offered = [q.strip() for q in params.get("qop", "").split(",") if q.strip()]
    chosen = qop or ("auth" if "auth" in offered else offered[0] if offered else None)
    nc_text = f"{nc:08x}"
    cnonce_text = cnonce or secrets.token_hex(8)
    response = digest_response(username, params.get("realm", ""), password, method, uri, params["nonce"],
                               algorithm, chosen, nc_text, cnonce_text, body)
    parts = [f'username="{username}"', f'realm="{params.get("realm", "")}"', f'nonce="{params["nonce"]}"',
             f'uri="{uri}"', f'response="{response}"', f"algorithm={algorithm}"]
    if "opaque" in params:
        parts.append(f'opaque="{params["opaque"]}"')
    if chosen:
        parts += [f"qop={chosen}", f"nc={nc_text}", f'cnonce="{cnonce_text}"']
    return "Digest " + ", ".join(parts)


@dataclass
class Challenge:
    """A parsed challenge, handy for asserting on what a registrar sent."""

    params: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, msg: SipMessage) -> Challenge:
        value = msg.header("WWW-Authenticate") or msg.header("Proxy-Authenticate")
        if value is None:
            raise AssertionError(f"no WWW-Authenticate/Proxy-Authenticate in {msg.first_line}")
        return cls(parse_challenge(value))
