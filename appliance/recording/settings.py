"""Box-wide call-recording settings: the free-space cap and the announcement of automatic recordings.

Settings keys, written by the administrator's box page and validated here for both sides. pbxd follows
them live (a `LiveSettings` over `load`, see appliance.applications): a change applies to the next check
of free space and the next answered call without a restart.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from appliance.store.exceptions import InvalidValue
from appliance.store.settings import SettingsStore

log = logging.getLogger(__name__)

__all__ = ["ANNOUNCE", "DEFAULT_MIN_FREE_MB", "MAX_MIN_FREE_MB", "MIN_FREE_MB", "RecordingSettings", "load", "save",
           "validate"]

MIN_FREE_MB = "recording.min_free_mb"
ANNOUNCE = "recording.announce"
DEFAULT_MIN_FREE_MB = 200
MAX_MIN_FREE_MB = 1024 * 1024  # 1 TiB: more than any disk the box takes; the page refuses more


@dataclass(frozen=True)
class RecordingSettings:
    """What the recording service does whatever the call."""

    min_free_mb: float = DEFAULT_MIN_FREE_MB  # no recording starts (and running ones stop) below this, in MiB
    announce: bool = False  # a beep to both parties when a call is recorded from its answer (record_calls)


def validate(values: Mapping[str, Any]) -> RecordingSettings:
    """The settings from a form's values (`min_free_mb` as typed); InvalidValue names the field that is wrong."""
    text = str(values.get("min_free_mb", "")).strip()
    if not (text.isascii() and text.isdigit()) or int(text) > MAX_MIN_FREE_MB:
        raise InvalidValue("min_free_mb", f"must be a whole number of MiB from 0 to {MAX_MIN_FREE_MB}")
    announce = values.get("announce")
    if not isinstance(announce, bool):
        raise InvalidValue("announce", "must be on or off")
    return RecordingSettings(min_free_mb=int(text), announce=announce)


def load(settings: SettingsStore) -> RecordingSettings:
    """The settings in force; a garbled stored value falls back to its default (with an error in the log)."""
    stored = settings.all()
    defaults = RecordingSettings()
    min_free = stored.get(MIN_FREE_MB, defaults.min_free_mb)
    if isinstance(min_free, bool) or not isinstance(min_free, (int, float)) or not 0 <= min_free < float("inf"):
        log.error("setting %s=%r is not a number of MiB >= 0; using %s", MIN_FREE_MB, min_free,
                  defaults.min_free_mb)
        min_free = defaults.min_free_mb
    announce = stored.get(ANNOUNCE, defaults.announce)
    if not isinstance(announce, bool):
        log.error("setting %s=%r is not true/false; using %s", ANNOUNCE, announce, defaults.announce)
        announce = defaults.announce
    return RecordingSettings(min_free_mb=min_free, announce=announce)


def save(settings: SettingsStore, chosen: RecordingSettings) -> None:
    """Store both in one transaction (one bump of the change counter pbxd watches)."""
    settings.set_many({MIN_FREE_MB: chosen.min_free_mb, ANNOUNCE: chosen.announce})
