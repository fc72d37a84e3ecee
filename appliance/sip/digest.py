"""HTTP Digest authentication for SIP: RFC 2617/7616 with SHA-256 per RFC 8760, server side.

Nonces are stateless (timestamp + random + HMAC under a per-boot key) so that any number of
challenges costs no memory; replay is stopped by tracking, per nonce still in its lifetime, the
highest nonce-count seen (qop=auth) or the single use of a nonce (clients without qop). A
challenge never depends on the user name, so an answer never tells whether an extension exists.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
from dataclasses import dataclass
from enum import Enum

from .headers import parse_auth_params, quote_string

ALGORITHMS = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}


def _h(algorithm: str, data: str) -> str:
    return ALGORITHMS[algorithm](data.encode("utf-8")).hexdigest()


def ha1(algorithm: str, user: str, realm: str, password: str) -> str:
    return _h(algorithm, f"{user}:{realm}:{password}")


def digest_response(algorithm: str, ha1_value: str, nonce: str, method: str, uri: str, qop: str | None = None,
                    nc: str | None = None, cnonce: str | None = None, body: bytes = b"") -> str:
    """The `response` value a client computes (RFC 7616 §3.4.1); used to verify and in tests."""
    if qop == "auth-int":
        ha2 = _h(algorithm, f"{method}:{uri}:" + ALGORITHMS[algorithm](body).hexdigest())
    else:
        ha2 = _h(algorithm, f"{method}:{uri}")
    if qop:
        return _h(algorithm, f"{ha1_value}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")
    return _h(algorithm, f"{ha1_value}:{nonce}:{ha2}")


class Verdict(Enum):
    OK = "ok"
    MISSING = "missing"  # no credentials for our realm: challenge
    STALE = "stale"  # right password, expired or already-used nonce: challenge with stale=true
    FAILED = "failed"  # wrong password, unknown user, malformed, replay


@dataclass
class Credentials:
    """A parsed Authorization / Proxy-Authorization header."""

    username: str
    realm: str
    nonce: str
    uri: str
    response: str
    algorithm: str = "MD5"
    qop: str | None = None
    nc: str | None = None
    cnonce: str | None = None
    opaque: str | None = None

    @classmethod
    def parse(cls, value: str) -> Credentials:
        scheme, p = parse_auth_params(value)
        if scheme.lower() != "digest":
            raise ValueError(f"unsupported auth scheme {scheme!r}")
        try:
            algorithm = p.get("algorithm", "MD5").upper()
            if algorithm not in ALGORITHMS:
                raise ValueError(f"unsupported algorithm {algorithm!r}")
            return cls(p["username"], p["realm"], p["nonce"], p["uri"], p["response"].lower(), algorithm,
                       p.get("qop"), p.get("nc"), p.get("cnonce"), p.get("opaque"))
        except KeyError as err:
            raise ValueError(f"digest credentials lack {err.args[0]!r}") from err


class DigestAuthenticator:
    """Issues challenges and verifies credentials for one realm."""

    def __init__(self, realm: str, nonce_ttl: float = 300.0, algorithms: tuple[str, ...] = ("SHA-256", "MD5"),
                 key: bytes | None = None):
        for alg in algorithms:
            if alg not in ALGORITHMS:
                raise ValueError(f"unknown digest algorithm {alg!r}")
        self.realm = realm
        self.nonce_ttl = nonce_ttl
        self.algorithms = algorithms
        self._key = key or secrets.token_bytes(32)
        self._seen: dict[str, tuple[float, int]] = {}  # nonce -> (issued, highest nc; -1 = used without qop)
        self.max_tracked = 200_000  # bounds memory under a flood; the oldest nonces are forgotten first

    # --- challenges -------------------------------------------------------------------------
    def make_nonce(self, now: float) -> str:
        stamp = struct.pack(">d", now) + secrets.token_bytes(8)
        mac = hmac.new(self._key, stamp, hashlib.sha256).digest()[:12]
        return base64.urlsafe_b64encode(stamp + mac).decode().rstrip("=")

    def challenges(self, now: float, stale: bool = False) -> list[str]:
        """WWW-Authenticate values, preferred algorithm first (RFC 8760 §2.4), one nonce for all."""
        nonce = self.make_nonce(now)
        out = []
        for alg in self.algorithms:
            value = f"Digest realm={quote_string(self.realm)}, nonce={quote_string(nonce)}, algorithm={alg}, qop=\"auth\""
            if stale:
                value += ", stale=true"
            out.append(value)
        return out

    def _nonce_issued(self, nonce: str, now: float) -> float | None:
        """The issue time if the nonce is ours (HMAC valid) and not from the future; None otherwise."""
        try:
            raw = base64.urlsafe_b64decode(nonce + "=" * (-len(nonce) % 4))
        except (ValueError, TypeError):
            return None
        if len(raw) != 28:
            return None
        stamp, mac = raw[:16], raw[16:]
        if not hmac.compare_digest(mac, hmac.new(self._key, stamp, hashlib.sha256).digest()[:12]):
            return None
        issued = struct.unpack(">d", stamp[:8])[0]
        return issued if issued <= now + 1.0 else None

    # --- verification -----------------------------------------------------------------------
    def verify(self, header_value: str | None, method: str, password: str | None, now: float,
               body: bytes = b"") -> tuple[Verdict, Credentials | None]:
        """Check credentials; `password` is None for an unknown user (verified against a dummy)."""
        if header_value is None:
            return Verdict.MISSING, None
        try:
            creds = Credentials.parse(header_value)
        except ValueError:
            return Verdict.FAILED, None
        if creds.realm != self.realm:
            return Verdict.MISSING, creds
        if creds.algorithm not in self.algorithms:
            return Verdict.FAILED, creds
        if creds.qop is not None and (creds.qop not in ("auth", "auth-int") or not creds.nc or not creds.cnonce):
            return Verdict.FAILED, creds
        # Compute the hash even for unknown users so timing does not reveal which users exist.
        secret = password if password is not None else secrets.token_hex(16)
        expected = digest_response(creds.algorithm, ha1(creds.algorithm, creds.username, self.realm, secret),
                                   creds.nonce, method, creds.uri, creds.qop, creds.nc, creds.cnonce, body)
        if not hmac.compare_digest(expected, creds.response) or password is None:
            return Verdict.FAILED, creds
        issued = self._nonce_issued(creds.nonce, now)
        if issued is None:
            return Verdict.STALE, creds  # not a nonce of this boot's key: the client retries with a new one
        if now - issued > self.nonce_ttl:
            return Verdict.STALE, creds
        return (Verdict.OK if self._count_use(creds, issued, now) else Verdict.STALE), creds

    def _count_use(self, creds: Credentials, issued: float, now: float) -> bool:
        """Accept each nonce-count once, increasing; a nonce without qop only once."""
        self._prune(now)
        seen = self._seen.get(creds.nonce)
        if creds.qop is None:
            if seen is not None:
                return False
            self._seen[creds.nonce] = (issued, -1)
            return True
        try:
            nc = int(creds.nc or "", 16)
        except ValueError:
            return False
        if seen is not None and (seen[1] < 0 or nc <= seen[1]):
            return False
        self._seen[creds.nonce] = (issued, nc)
        return True

    def _prune(self, now: float) -> None:
        """Forget nonces past their lifetime, oldest first (dicts keep insertion order), in O(expired)."""
        limit = now - self.nonce_ttl
        seen = self._seen
        while seen:
            nonce = next(iter(seen))
            if seen[nonce][0] >= limit and len(seen) <= self.max_tracked:
                break
            del seen[nonce]


def client_authorization(challenge: str, method: str, uri: str, username: str, password: str,
                         nc: int = 1, cnonce: str | None = None) -> str:
    """An Authorization value answering a challenge: our outbound trunks and tests use it."""
    _, p = parse_auth_params(challenge)
    algorithm = p.get("algorithm", "MD5").upper()
    realm, nonce = p["realm"], p["nonce"]
    qop = "auth" if "auth" in [q.strip() for q in p.get("qop", "").split(",")] else None
    cnonce = cnonce or secrets.token_hex(8)
    nc_text = f"{nc:08x}"
    response = digest_response(algorithm, ha1(algorithm, username, realm, password), nonce, method, uri,
                               qop, nc_text if qop else None, cnonce if qop else None)
    parts = [f'Digest username="{username}"', f'realm="{realm}"', f'nonce="{nonce}"', f'uri="{uri}"',
             f'response="{response}"', f"algorithm={algorithm}"]
    if qop:
        parts += [f"qop={qop}", f"nc={nc_text}", f'cnonce="{cnonce}"']
    if "opaque" in p:
        parts.append(f'opaque="{p["opaque"]}"')
    return ", ".join(parts)
