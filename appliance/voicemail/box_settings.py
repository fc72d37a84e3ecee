"""Box-wide voicemail settings: the prompt language, trusting the owner's own phone, e-mail action links.

They are settings keys, written by the administrator's "Voicemail settings" page and validated here
for both sides. pbxd holds a `LiveBoxSettings` that re-reads them whenever the settings change
counter moves (checked every second and on `reload`), so a change applies to the next call without a
restart. `LiveSettings` is that mechanism for any other group of settings keys pbxd follows (recording,
feature codes: appliance.applications), given the group's own `load`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from appliance.store.exceptions import InvalidValue
from appliance.store.extensions import LANGUAGES
from appliance.store.settings import SettingsStore

log = logging.getLogger(__name__)

LANGUAGE = "prompts.language"
TRUST_OWN_DEVICE = "voicemail.trust_own_device"
EMAIL_LINKS = "voicemail.email_links"


@dataclass(frozen=True)
class BoxVoicemailSettings:
    """What the box does when a mailbox or extension does not say otherwise."""

    language: str = "en"  # prompts for callers and extensions without a language of their own
    trust_own_device: bool = False  # *61 from the owner's own registered phone skips the PIN
    email_links: bool = True  # "Mark as read" / "Delete" links in voicemail e-mails


def validate(values: Mapping[str, Any]) -> BoxVoicemailSettings:
    """The settings from a form's values; InvalidValue names the field that is wrong."""
    language = values.get("language")
    if language not in LANGUAGES:
        raise InvalidValue("language", f"must be one of {', '.join(LANGUAGES)}")
    flags = {}
    for name in ("trust_own_device", "email_links"):
        value = values.get(name)
        if not isinstance(value, bool):
            raise InvalidValue(name, "must be on or off")
        flags[name] = value
    return BoxVoicemailSettings(language=language, **flags)


def load(settings: SettingsStore) -> BoxVoicemailSettings:
    """The settings in force; a garbled stored value falls back to its default (with a warning)."""
    stored = settings.all()
    defaults = BoxVoicemailSettings()
    language = stored.get(LANGUAGE, defaults.language)
    if language not in LANGUAGES:
        log.warning("setting %s=%r is not a prompt language; using %s", LANGUAGE, language, defaults.language)
        language = defaults.language
    flags = {}
    for name, key in (("trust_own_device", TRUST_OWN_DEVICE), ("email_links", EMAIL_LINKS)):
        value = stored.get(key, getattr(defaults, name))
        if not isinstance(value, bool):
            log.warning("setting %s=%r is not true/false; using %s", key, value, getattr(defaults, name))
            value = getattr(defaults, name)
        flags[name] = value
    return BoxVoicemailSettings(language=language, **flags)


def save(settings: SettingsStore, box: BoxVoicemailSettings) -> None:
    """Store all three in one transaction (one bump of the change counter pbxd watches)."""
    settings.set_many({LANGUAGE: box.language, TRUST_OWN_DEVICE: box.trust_own_device,
                       EMAIL_LINKS: box.email_links})


T = TypeVar("T")


class LiveSettings(Generic[T]):
    """pbxd's copy of what `load` makes of the settings, re-read only when the settings table changed.

    `load` must not raise for stored values (fall back and log instead) and must return something that
    compares equal when nothing that matters changed."""

    def __init__(self, settings: SettingsStore, load: Callable[[SettingsStore], T], what: str) -> None:
        self._settings = settings
        self._load = load
        self.what = what
        self._version = settings.version()
        self.current: T = load(settings)

    def refresh(self) -> bool:
        """Re-read after a change of the settings table; True when what is in force changed."""
        version = self._settings.version()
        if version == self._version:
            return False
        self._version = version
        fresh = self._load(self._settings)
        if fresh == self.current:
            return False
        log.info("%s now %s (were %s)", self.what, fresh, self.current)
        self.current = fresh
        return True


class LiveBoxSettings(LiveSettings[BoxVoicemailSettings]):
    """pbxd's copy of the box-wide voicemail settings."""

    def __init__(self, settings: SettingsStore) -> None:
        super().__init__(settings, load, "voicemail settings")
