"""pbxd's configuration, layered: defaults in code, then the `settings` table, then command-line flags.

Validated once, at start-up, with every problem reported together and traced to the layer it came from,
so that "port 70000" says whether the flag or the database is wrong.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appliance.errors import ApplianceError

KNOWN_CODECS = ("PCMU", "PCMA", "G722", "opus")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_REALM_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,252})")
_COUNTRY_RE = re.compile(r"[a-z]{2}")
MAX_EXPIRES = 7 * 86400


def default_realm() -> str:
    """The box's hostname when it is usable as a digest realm, else "pbx.local"."""
    name = socket.gethostname().strip().lower()
    if not name or name in ("localhost", "localhost.localdomain") or not _REALM_RE.fullmatch(name):
        return "pbx.local"
    return name


class ConfigError(ApplianceError):
    """The configuration is invalid; `problems` lists every reason, one line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class Config:
    """Everything pbxd needs to start. Ports may be 0 ("any free port"), which tests use."""

    data_dir: Path = Path("var")
    bind_address: str = "0.0.0.0"
    sip_udp_port: int = 5060
    sip_tcp_port: int = 5060
    sip_tls_port: int = 5061
    rtp_port_min: int = 10000
    rtp_port_max: int = 20000
    realm: str = field(default_factory=default_realm)
    ring_timeout: int = 30
    reg_min_expires: int = 60
    reg_max_expires: int = 3600
    reg_default_expires: int = 3600
    codecs: tuple[str, ...] = ("PCMU", "PCMA", "G722")
    #: Digest challenges offered, preferred first (RFC 8760). Old UACs that take the first challenge
    #: whatever its algorithm (SIPp 3.6, some phone firmware) need ("MD5",) or ("MD5", "SHA-256").
    digest_algorithms: tuple[str, ...] = ("SHA-256", "MD5")
    tone_country: str = "us"
    log_level: str = "INFO"
    #: SIP over WebSocket for the browser phone (RFC 7118); 0 switches a listener off. WSS uses the box's
    #: certificate. A port another program holds leaves that listener off with an error in the log.
    sip_ws_port: int = 8088
    sip_wss_port: int = 8089
    #: Addresses offered to browsers for media (ICE host candidates), comma-separated; empty means the
    #: bind address, or every interface's address when pbxd is bound to 0.0.0.0 or ::.
    webrtc_ice_host: str = ""
    #: Relay worker processes for two-party calls (D-engine-7): -1 = one per CPU beyond the first, 0 = off.
    media_relay_workers: int = -1
    #: Where each field's value came from ("default", "setting realm", "--sip-port"); for messages only.
    sources: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        # Canonical spellings, so the rest of the code compares plain strings.
        canonical = {c.lower(): c for c in KNOWN_CODECS}
        if isinstance(self.codecs, (list, tuple)):
            codecs = tuple(canonical.get(str(c).lower(), c) for c in self.codecs)
            object.__setattr__(self, "codecs", codecs)
        if isinstance(self.log_level, str):
            object.__setattr__(self, "log_level", self.log_level.upper())
        if isinstance(self.tone_country, str):
            object.__setattr__(self, "tone_country", self.tone_country.lower())
        object.__setattr__(self, "data_dir", Path(self.data_dir))

    def validate(self) -> Config:
        """Return self when valid, else raise ConfigError listing every problem."""
        problems = _problems(self)
        if problems:
            raise ConfigError(problems)
        return self

    def replace(self, **changes: Any) -> Config:
        """A copy with some fields changed (not validated)."""
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly view (for `appliance status` and the web UI)."""
        values = {f.name: getattr(self, f.name) for f in _FIELDS}
        values["data_dir"] = str(self.data_dir)
        values["codecs"] = list(self.codecs)
        return values


_FIELDS = [f for f in dataclasses.fields(Config) if f.name != "sources"]
_INT_FIELDS = {f.name for f in _FIELDS if f.type == "int"}
#: Fields an administrator may set in the settings table (the data directory is where that table lives).
SETTINGS_FIELDS = frozenset(f.name for f in _FIELDS if f.name != "data_dir")


def load_config(
    *,
    settings: Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
    override_sources: Mapping[str, str] | None = None,
) -> Config:
    """Merge defaults, `settings` (the settings table; unrelated keys are ignored) and `overrides`
    (command-line values, None meaning "not given"), then validate; raises ConfigError."""
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    problems: list[str] = []
    for key, value in (settings or {}).items():
        if key in SETTINGS_FIELDS:
            values[key] = value
            sources[key] = f"setting {key}"
    for key, value in (overrides or {}).items():
        if key not in {f.name for f in _FIELDS}:
            raise ValueError(f"unknown configuration field {key!r}")
        if value is not None:
            values[key] = value
            sources[key] = (override_sources or {}).get(key, "command line")
    coerced: dict[str, Any] = {}
    for key, value in values.items():
        try:
            coerced[key] = _coerce(key, value)
        except ValueError as err:
            problems.append(f"{key}: {err} [{sources[key]}]")
    if problems:
        raise ConfigError(problems)
    return Config(**coerced, sources=sources).validate()


def _coerce(key: str, value: Any) -> Any:
    if key in _INT_FIELDS:
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise ValueError(f"{value!r} is not a whole number")
        try:
            return int(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a whole number") from None
    if key == "data_dir":
        return Path(value)
    if key in ("codecs", "digest_algorithms"):
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)) or not all(isinstance(i, str) for i in items):
            raise ValueError(f"{value!r} is not a list of names")
        return tuple(i.strip() for i in items)
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not text")
    return value.strip()


def _problems(config: Config) -> list[str]:
    problems: list[str] = []

    def bad(key: str, message: str) -> None:
        problems.append(f"{key}: {message} [{config.sources.get(key, 'default')}]")

    try:
        ipaddress.ip_address(config.bind_address)
    except ValueError:
        bad("bind_address", f"{config.bind_address!r} is not an IPv4 or IPv6 address")
    for key in ("sip_udp_port", "sip_tcp_port", "sip_tls_port"):
        port = getattr(config, key)
        if not 0 <= port <= 65535:
            bad(key, f"{port} is not a port number (1-65535, or 0 for any free port)")
    if config.sip_tcp_port and config.sip_tcp_port == config.sip_tls_port:
        bad("sip_tls_port", f"TCP and TLS cannot both listen on port {config.sip_tls_port}")
    for key in ("sip_ws_port", "sip_wss_port"):
        port = getattr(config, key)
        if not 0 <= port <= 65535:
            bad(key, f"{port} is not a port number (1-65535, or 0 to switch it off)")
        elif port and port in (config.sip_tcp_port, config.sip_tls_port):
            bad(key, f"port {port} is already SIP's TCP or TLS port")
    if config.sip_ws_port and config.sip_ws_port == config.sip_wss_port:
        bad("sip_wss_port", f"WS and WSS cannot both listen on port {config.sip_wss_port}")
    for address in filter(None, (a.strip() for a in config.webrtc_ice_host.split(","))):
        try:
            ipaddress.ip_address(address)
        except ValueError:
            bad("webrtc_ice_host", f"{address!r} is not an IPv4 or IPv6 address")
    lo, hi = config.rtp_port_min, config.rtp_port_max
    if not 1024 <= lo <= 65535:
        bad("rtp_port_min", f"{lo} is not a port number between 1024 and 65535")
    if not 1024 <= hi <= 65535:
        bad("rtp_port_max", f"{hi} is not a port number between 1024 and 65535")
    if lo >= hi:
        bad("rtp_port_min", f"the RTP range {lo}-{hi} is empty (minimum must be below maximum)")
    elif config.sip_udp_port and lo <= config.sip_udp_port <= hi:
        bad("sip_udp_port", f"port {config.sip_udp_port} lies inside the RTP range {lo}-{hi}")
    if not -1 <= config.media_relay_workers <= 64:
        bad("media_relay_workers", f"{config.media_relay_workers} is not -1 (one per extra CPU), 0 (off) or 1-64")
    if not _REALM_RE.fullmatch(config.realm):
        bad("realm", f"{config.realm!r} is not a realm (letters, digits, '.', '-', '_'; at most 253)")
    if not 1 <= config.ring_timeout <= 3600:
        bad("ring_timeout", f"{config.ring_timeout} s is outside 1-3600 s")
    expires = (config.reg_min_expires, config.reg_default_expires, config.reg_max_expires)
    if not all(1 <= e <= MAX_EXPIRES for e in expires):
        bad("reg_min_expires", f"registration expiries {expires} must lie within 1-{MAX_EXPIRES} s")
    elif not config.reg_min_expires <= config.reg_default_expires <= config.reg_max_expires:
        bad(
            "reg_default_expires",
            f"need min <= default <= max, got {config.reg_min_expires} <= "
            f"{config.reg_default_expires} <= {config.reg_max_expires}",
        )
    if not config.digest_algorithms or any(a not in ("MD5", "SHA-256") for a in config.digest_algorithms):
        bad("digest_algorithms", f"{config.digest_algorithms!r}: choose from MD5 and SHA-256, at least one")
    if not config.codecs:
        bad("codecs", "at least one codec is needed")
    known = {c.lower() for c in KNOWN_CODECS}
    unknown = [c for c in config.codecs if c.lower() not in known]
    if unknown:
        bad("codecs", f"unknown codec(s) {', '.join(unknown)} (known: {', '.join(KNOWN_CODECS)})")
    elif len({c.lower() for c in config.codecs}) != len(config.codecs):
        bad("codecs", "a codec is listed twice")
    if not _COUNTRY_RE.fullmatch(config.tone_country):
        bad("tone_country", f"{config.tone_country!r} is not a two-letter country code like 'us'")
    if config.log_level.upper() not in LOG_LEVELS:
        bad("log_level", f"{config.log_level!r} is not one of {', '.join(LOG_LEVELS)}")
    if not str(config.data_dir):
        bad("data_dir", "must not be empty")
    return problems
