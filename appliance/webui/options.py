"""The web UI's settings keys, their defaults and their limits (edited on the admin "Portal" page)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from appliance.store import SettingsStore

PORTAL_ENABLED = "portal.enabled"
IDLE_MINUTES = "web.session_idle_minutes"
LOCKOUT_FAILURES = "web.lockout_failures"
LOCKOUT_WINDOW_MINUTES = "web.lockout_window_minutes"


@dataclass(frozen=True)
class Limit:
    key: str
    default: int
    low: int
    high: int


LIMITS = {
    "idle_minutes": Limit(IDLE_MINUTES, 30, 1, 24 * 60),
    "lockout_failures": Limit(LOCKOUT_FAILURES, 5, 1, 100),
    "lockout_window_minutes": Limit(LOCKOUT_WINDOW_MINUTES, 15, 1, 24 * 60),
}


@dataclass(frozen=True)
class WebOptions:
    """The portal switch and the session/lockout policy in force."""

    portal_enabled: bool = False
    idle_minutes: int = 30
    lockout_failures: int = 5
    lockout_window_minutes: int = 15

    @property
    def idle_seconds(self) -> float:
        return self.idle_minutes * 60.0

    @property
    def lockout_window_seconds(self) -> float:
        return self.lockout_window_minutes * 60.0


def _bounded(value: Any, limit: Limit) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not limit.low <= value <= limit.high:
        return limit.default
    return value


def load(settings: SettingsStore) -> WebOptions:
    """Read the options; out-of-range or garbled stored values fall back to the defaults."""
    stored = settings.all()
    return WebOptions(
        portal_enabled=stored.get(PORTAL_ENABLED) is True,
        **{name: _bounded(stored.get(limit.key), limit) for name, limit in LIMITS.items()},
    )
