"""The network settings as the console and web UI see them: stored, applied, confirmed or reverted.

A change is applied and verified at once (see `apply`), then stays *pending* until the caller
confirms it: only a confirmed change is saved to the settings store. The caller owns the confirmation
deadline (it knows `now`); if it expires or the caller declines, `revert()` restores the previous
settings. A reboot while a change is pending boots into the saved (previous) settings.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from appliance.network.apply import ApplyResult, apply, configure
from appliance.network.context import NetContext
from appliance.network.model import SETTINGS_KEY, NetworkSettings, default_settings

log = logging.getLogger(__name__)


class SettingsLike(Protocol):
    """appliance.store.settings.SettingsStore, or a dict-backed fake in tests."""

    def get(self, key: str, default: Any = None) -> Any: ...

    def set(self, key: str, value: Any) -> None: ...


class NetworkManager:
    """Load, apply, confirm and revert the box's network settings."""

    def __init__(
        self, settings: SettingsLike, ctx: NetContext | None = None, *, defaults: NetworkSettings | None = None
    ) -> None:
        self._settings = settings
        self._ctx = ctx or NetContext()
        self._defaults = defaults or default_settings()
        self._pending: tuple[NetworkSettings, NetworkSettings] | None = None

    @property
    def context(self) -> NetContext:
        return self._ctx

    def saved(self) -> NetworkSettings:
        """The stored settings; factory defaults if none (or unreadable ones, which are logged)."""
        data = self._settings.get(SETTINGS_KEY)
        if data is None:
            return self._defaults
        try:
            return NetworkSettings.from_dict(data)
        except ValueError as err:
            log.error("stored network settings are invalid (%s); using defaults", err)
            return self._defaults

    def current(self) -> NetworkSettings:
        """What is configured now: the pending change if any, else the saved settings."""
        return self._pending[0] if self._pending else self.saved()

    @property
    def pending(self) -> bool:
        return self._pending is not None

    def apply(self, new: NetworkSettings) -> ApplyResult:
        """Configure and verify `new`; when it works it is pending until `confirm()` or `revert()`."""
        previous = self.current()
        result = apply(new, previous, self._ctx)
        if result.ok:
            self._pending = (new, self._pending[1] if self._pending else previous)
        return result

    def confirm(self) -> None:
        """Keep the pending change: save it."""
        if self._pending is None:
            return
        self._settings.set(SETTINGS_KEY, self._pending[0].to_dict())
        self._pending = None

    def revert(self) -> None:
        """Drop the pending change and configure the settings from before it."""
        if self._pending is None:
            return
        new, previous = self._pending
        self._pending = None
        configure(previous, new, self._ctx)

    def apply_saved(self) -> ApplyResult:
        """At boot: configure the saved settings (nothing to roll back to, so no verification)."""
        return apply(self.saved(), None, self._ctx, verify=False)
