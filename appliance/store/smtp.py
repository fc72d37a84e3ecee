"""The outgoing mail server (voicemail-to-email, fax-to-email, test mails), kept as settings keys `smtp.*`.

One place that validates and reads them, so that the web UI that writes them and the services that send
mail agree on names and defaults.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from appliance.store.exceptions import InvalidValue
from appliance.store.extensions import validate_email
from appliance.store.settings import SettingsStore

SECURITY_MODES = ("none", "starttls", "tls")
DEFAULT_PORTS = {"none": 25, "starttls": 587, "tls": 465}
KEY_PREFIX = "smtp."
_HOST_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST_RE = re.compile(rf"{_HOST_LABEL}(?:\.{_HOST_LABEL})*\.?|\[?[0-9A-Fa-f:.]+\]?")


@dataclass(frozen=True)
class SmtpSettings:
    """How to reach the mail server. An empty host means "no mail server configured"."""

    host: str = ""
    port: int = 587
    security: str = "starttls"
    user: str = ""
    password: str = ""
    from_address: str = ""

    @property
    def configured(self) -> bool:
        return bool(self.host and self.from_address)


def validate_smtp(values: dict[str, Any]) -> SmtpSettings:
    """Check form-shaped values (strings allowed for the port); raise InvalidValue naming the field."""
    host = str(values.get("host") or "").strip()
    if host and (len(host) > 253 or not _HOST_RE.fullmatch(host)):
        raise InvalidValue("host", f"{host!r} is not a host name or address")
    security = str(values.get("security") or "starttls")
    if security not in SECURITY_MODES:
        raise InvalidValue("security", f"must be one of {', '.join(SECURITY_MODES)}")
    raw_port = values.get("port")
    if raw_port in (None, ""):
        port = DEFAULT_PORTS[security]
    else:
        try:
            port = int(str(raw_port).strip())
        except ValueError:
            raise InvalidValue("port", f"{raw_port!r} is not a port number") from None
        if not 1 <= port <= 65535:
            raise InvalidValue("port", "must be between 1 and 65535")
    user = str(values.get("user") or "").strip()
    if len(user) > 254 or any(ord(c) < 32 for c in user):
        raise InvalidValue("user", "must be at most 254 printable characters")
    password = str(values.get("password") or "")
    if len(password) > 254 or any(ord(c) < 32 for c in password):
        raise InvalidValue("password", "must be at most 254 printable characters")
    try:
        from_address = validate_email(str(values.get("from_address") or "")) or ""
    except InvalidValue as err:
        raise InvalidValue("from_address", err.message) from err
    if host and not from_address:
        raise InvalidValue("from_address", "a sender address is needed to send mail")
    return SmtpSettings(host, port, security, user, password, from_address)


def load_smtp(settings: SettingsStore) -> SmtpSettings:
    """The stored mail server settings (defaults where a key was never set)."""
    stored = {key[len(KEY_PREFIX):]: value for key, value in settings.all().items() if key.startswith(KEY_PREFIX)}
    defaults = asdict(SmtpSettings())
    values = {name: stored.get(name, default) for name, default in defaults.items()}
    try:
        return SmtpSettings(
            host=str(values["host"]), port=int(values["port"]), security=str(values["security"]),
            user=str(values["user"]), password=str(values["password"]),
            from_address=str(values["from_address"]),
        )
    except (TypeError, ValueError):
        return SmtpSettings()


def save_smtp(settings: SettingsStore, smtp: SmtpSettings) -> None:
    """Store every field at once (all or none)."""
    settings.set_many({KEY_PREFIX + name: value for name, value in asdict(smtp).items()})
