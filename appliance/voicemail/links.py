"""Signed links in voicemail e-mails: "Mark as read" and "Delete", acted on in the web portal without a login.

A token names one action on one message until an expiry and carries an HMAC-SHA256 (cut to 128 bits)
under a random key kept in the settings (`voicemail.link_key`, made by the mailer on first use). The token
is the only authority, so it is unguessable, bound to its action and message, and dies after
`LIFETIME`; the web page asks before it acts (a GET never changes anything: mail scanners open links).
The portal's address is the setting `web.public_url`, else a guess from the box's host name or the
address of its default route; with neither, mails carry no links.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import re
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlite_utils import Database

from appliance.store.db import transaction
from appliance.store.exceptions import InvalidValue
from appliance.store.settings import SettingsStore

from .exceptions import ExpiredLink, InvalidLink

ACTIONS = ("read", "delete")
LIFETIME = 14 * 86400
KEY_SETTING = "voicemail.link_key"
PUBLIC_URL = "web.public_url"
#: Where the web portal serves the links (the blueprint `voicemail_links` is mounted here).
PATH = "/vm/"
_SIG_BYTES = 16
_TOKEN = re.compile(r"(read|delete)\.([0-9A-Za-z-]{1,64})\.([0-9]{1,12})\.([A-Za-z0-9_-]{22})")
_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*")


@dataclass(frozen=True)
class LinkClaim:
    """What a verified token allows: `action` on the message `uid`, until `expires` (epoch seconds)."""

    action: str
    uid: str
    expires: int


def _signature(key: bytes, action: str, uid: str, expires: int) -> str:
    mac = hmac.new(key, f"vm-link|{action}|{uid}|{expires}".encode(), hashlib.sha256).digest()[:_SIG_BYTES]
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def sign(key: bytes, action: str, uid: str, expires: int) -> str:
    """The token `<action>.<uid>.<expires>.<signature>` (URL-safe as it is)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown link action {action!r}")
    token = f"{action}.{uid}.{int(expires)}.{_signature(key, action, uid, int(expires))}"
    if not _TOKEN.fullmatch(token):
        raise ValueError(f"message uid {uid!r} cannot be put in a link")
    return token


def verify(key: bytes | None, token: str, now: float) -> LinkClaim:
    """The claim of a genuine, unexpired token; InvalidLink (forged, altered, unknown key) or ExpiredLink.

    The signature is checked before the expiry, so an altered expiry is "invalid", never "expired".
    """
    match = _TOKEN.fullmatch(token or "")
    if key is None or match is None:
        raise InvalidLink()
    action, uid, expires, signature = match.group(1), match.group(2), int(match.group(3)), match.group(4)
    if not hmac.compare_digest(signature, _signature(key, action, uid, expires)):
        raise InvalidLink()
    if now >= expires:
        raise ExpiredLink(expires)
    return LinkClaim(action, uid, expires)


def load_key(settings: SettingsStore) -> bytes | None:
    """The signing key, or None when no link was ever made (then every token is invalid)."""
    value = settings.get(KEY_SETTING)
    try:
        key = bytes.fromhex(value) if isinstance(value, str) else b""
    except ValueError:
        return None
    return key if len(key) >= 32 else None


def ensure_key(db: Database) -> tuple[bytes, bool]:
    """The signing key, made now if missing: (key, whether it was made). The check and the write share one
    write transaction, so two processes racing here end with one key."""
    settings = SettingsStore(db)
    with transaction(db):
        key = load_key(settings)
        if key is not None:
            return key, False
        key = secrets.token_bytes(32)
        settings.set(KEY_SETTING, key.hex())
    return key, True


def validate_public_url(value: str | None) -> str | None:
    """http(s)://host[:port][/path] without query, fragment or user name; "" or None for "guess it"."""
    text = (value or "").strip()
    if not text:
        return None
    if len(text) > 200:
        raise InvalidValue("public_url", "must be at most 200 characters")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as err:
        raise InvalidValue("public_url", f"is not a web address ({err})") from err
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidValue("public_url", "must start with https:// (or http://) and name a host")
    if parts.username is not None or parts.query or parts.fragment or "\\" in text or " " in text:
        raise InvalidValue("public_url", "must be only the portal's address, like https://pbx.example.com")
    if not (_HOST.fullmatch(parts.hostname) or _is_ip(parts.hostname)):
        raise InvalidValue("public_url", f"{parts.hostname!r} is not a host name or address")
    if port == 0:
        raise InvalidValue("public_url", "has port 0")
    return text.rstrip("/")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _default_route_address() -> str | None:
    """The address the box would send from towards the outside: connect() on UDP only picks a route, it
    sends nothing (192.0.2.1 is TEST-NET-1)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))
            return str(probe.getsockname()[0])
    except OSError:
        return None


def guess_public_url(hostname: str | None = None, address: str | None = None) -> str | None:
    """https://<host name> when the box has a dotted name, else https://<address of the default route>,
    else None. Port 443: where the box's init script serves the portal."""
    name = socket.gethostname() if hostname is None else hostname
    if "." in name and not name.endswith(".localdomain") and _HOST.fullmatch(name):
        return f"https://{name.lower()}"
    found = _default_route_address() if address is None else address
    try:
        ip = ipaddress.ip_address(found or "")
    except ValueError:
        return None
    if ip.is_loopback or ip.is_link_local or ip.is_unspecified:
        return None
    return f"https://[{ip}]" if ip.version == 6 else f"https://{ip}"


def portal_url(settings: SettingsStore, guess: Callable[[], str | None] = guess_public_url) -> str | None:
    """The portal address links start with: the setting, else the guess; None when neither is usable."""
    stored = settings.get(PUBLIC_URL)
    if stored:
        try:
            return validate_public_url(str(stored))
        except InvalidValue:
            return None
    return guess()


class ActionLinks:
    """Makes the two links of one message: {"read": url, "delete": url}."""

    def __init__(self, base_url: str, key: bytes, lifetime: float = LIFETIME) -> None:
        self.base_url = base_url.rstrip("/")
        self.key = key
        self.lifetime = lifetime

    @property
    def days(self) -> int:
        return max(1, round(self.lifetime / 86400))

    def for_message(self, uid: str, now: float) -> dict[str, str]:
        expires = int(now + self.lifetime)
        return {action: f"{self.base_url}{PATH}{sign(self.key, action, uid, expires)}" for action in ACTIONS}
