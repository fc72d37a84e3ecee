"""Password and PIN hashing with scrypt (hashlib), in one self-describing string format.

Format: ``scrypt$<log2 n>$<r>$<p>$<salt, base64>$<hash, base64>``. The cost parameters travel with
the hash so that they can be raised later without invalidating stored hashes. scrypt was chosen over
PBKDF2 because it is memory-hard and is in the standard library; bcrypt/argon2 would add a dependency.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SCHEME = "scrypt"
# n=2**14, r=8 uses 16 MiB and takes ~50 ms on a desktop core, a few hundred ms on the board's ARM:
# slow enough to hurt guessing, fast enough for a console PIN or a web login.
DEFAULT_LOG2_N = 14
DEFAULT_R = 8
DEFAULT_P = 1
_DKLEN = 32
_MAXMEM = 64 * 1024 * 1024

# No 0/O, 1/l/I: the password is read off a serial console and typed into a browser by hand.
_ALPHABET = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def hash_password(password: str, *, log2_n: int = DEFAULT_LOG2_N, r: int = DEFAULT_R, p: int = DEFAULT_P) -> str:
    """Return a salted scrypt hash string for `password`, suitable for storing in the settings."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=2**log2_n, r=r, p=p, maxmem=_MAXMEM, dklen=_DKLEN)
    return f"{SCHEME}${log2_n}${r}${p}${_b64(salt)}${_b64(digest)}"


def parse_hash(encoded: str) -> tuple[int, int, int, bytes, bytes]:
    """Split a stored hash into (log2_n, r, p, salt, digest); raise ValueError if it is malformed."""
    parts = encoded.split("$")
    if len(parts) != 6 or parts[0] != SCHEME:
        raise ValueError(f"not a {SCHEME} password hash: expected 6 '$'-separated fields starting with '{SCHEME}'")
    try:
        log2_n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt, digest = _unb64(parts[4]), _unb64(parts[5])
    except ValueError as err:
        raise ValueError(f"malformed {SCHEME} password hash: {err}") from err
    if not (1 <= log2_n <= 20 and 1 <= r <= 32 and 1 <= p <= 16) or not salt or not digest:
        raise ValueError(f"{SCHEME} password hash has out-of-range parameters n=2**{log2_n} r={r} p={p}")
    return log2_n, r, p, salt, digest


def verify_password(password: str, encoded: str) -> bool:
    """True if `password` matches the stored hash; False for a wrong password or a malformed hash."""
    try:
        log2_n, r, p, salt, digest = parse_hash(encoded)
    except ValueError:
        return False
    candidate = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=2**log2_n, r=r, p=p, maxmem=_MAXMEM, dklen=len(digest)
    )
    return hmac.compare_digest(candidate, digest)


def generate_password(length: int = 12) -> str:
    """Return a random password from an alphabet without look-alike characters."""
    if length < 8:
        raise ValueError(f"password length {length} is too short: use at least 8")
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))
