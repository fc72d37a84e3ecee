"""Wiring of the applications the box answers calls with: prompts, feature codes, voicemail.

Kept out of daemon.py so that the daemon reads as transport + calls, and each application is built
from explicit dependencies here. Prompts are optional at run time: without a rendered prompt library
(`make prompts`), calls and registrations work and the features that speak are refused with 501.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from ipaddress import IPv4Interface
from typing import Any

from appliance.calls.feature_apps import FeatureRunner
from appliance.calls.features import FEATURES, FeatureCodeConflict, FeatureCodes
from appliance.calls.incall import in_call_codes
from appliance.calls.incall_features import IN_CALL_FEATURES
from appliance.recording.service import DEFAULT_MIN_FREE_MB, RecordingService
from appliance.store import ExtensionStore, SettingsStore, open_database
from appliance.voicemail.box_settings import LiveBoxSettings
from appliance.voicemail.mailer import EmailOutbox
from appliance.voicemail.menus import Speech
from appliance.voicemail.service import VoicemailService
from appliance.voicemail.storage import VoicemailStore

log = logging.getLogger(__name__)


@dataclass
class Applications:
    prompts: Any
    features: FeatureRunner
    feature_codes: FeatureCodes
    voicemail: VoicemailService | None
    outbox: EmailOutbox | None = None
    box_settings: LiveBoxSettings | None = None

    def refresh_settings(self) -> None:
        """Pick up changed box-wide voicemail settings (language, trusted phone) for the next call."""
        if self.box_settings is None or not self.box_settings.refresh():
            return
        if self.voicemail is not None:
            current = self.box_settings.current
            self.voicemail.trust_own_device = current.trust_own_device
            self.voicemail.default_language = current.language

    def close(self) -> None:
        if self.voicemail is not None:
            self.voicemail.close()
        if self.outbox is not None:
            self.outbox.stop()


def load_prompts() -> tuple[Any, Speech | None]:
    """The rendered prompt library and the speech helpers, or (None, None) when not built."""
    try:
        from appliance.prompts import PromptLibrary, say_count, say_digits, say_time  # noqa: PLC0415

        library = PromptLibrary()
    except Exception as err:  # missing build, or the module not there: calls still work
        log.warning("voice prompts unavailable (%s): spoken features are off; run `make prompts`", err)
        return None, None
    def count(n: int, noun: str, lang: str) -> list[str]:
        return say_count(n, noun, lang, you_have=False)  # the menus say "you have" once for both counts

    return library, Speech(say_digits, count, say_time)


def feature_codes_from(settings: SettingsStore, extensions: list[str]) -> FeatureCodes:
    """The code set in force: profile and overrides from settings, checked against the extensions."""
    profile = settings.get("features.profile", "coovox")
    overrides = {key[len("feature."):]: value for key, value in settings.all().items() if key.startswith("feature.")}
    codes = FeatureCodes(profile, overrides)
    try:
        codes.check(extensions)
    except FeatureCodeConflict as err:
        log.error("feature-code configuration has conflicts: %s", err)
    return codes


def build(pbx: Any) -> Applications:
    """Build the applications of a started `Pbx` and hook them into its call and subscription services."""
    prompts, speech = load_prompts()
    settings = SettingsStore(pbx.db)
    box_settings = LiveBoxSettings(settings)
    codes = feature_codes_from(settings, [e.number for e in pbx.extensions.list()])
    pbx.calls.router.features = codes

    def set_preference(extension: str, **changes: Any) -> None:
        ExtensionStore(pbx.db).update(extension, **changes)
        pbx.extensions.refresh()

    def live_addresses() -> dict[str, IPv4Interface | None]:
        """Runs on a worker thread (see FeatureRunner): its own database handle, netlink read there."""
        from appliance.network import NetworkManager, live_addresses as read  # noqa: PLC0415 - pyroute2 lazily

        db = open_database(pbx.datadir.database_path)
        try:
            manager = NetworkManager(SettingsStore(db))
            return read(manager.saved(), manager.context)
        except Exception as err:
            log.warning("cannot read the live addresses: %s", err)
            return {"wan": None, "lan": None}
        finally:
            db.conn.close()

    say_digits = speech.digits if speech else (lambda text, lang: [])
    runner = FeatureRunner(set_preference, live_addresses, say_digits)
    voicemail = None
    outbox = None
    if speech is not None:
        outbox = EmailOutbox(pbx.datadir.database_path, pbx.datadir.voicemail_dir)
        outbox.start()
        voicemail = VoicemailService(
            pbx.datadir.database_path, pbx.datadir.voicemail_dir, speech, wallclock=pbx.wallclock,
            mailbox_changed=pbx.subscriptions.mailbox_changed, outbox=outbox,
            trust_own_device=box_settings.current.trust_own_device,
            default_language=box_settings.current.language)
        voicemail.recover()
        voicemail.start_housekeeping()
        voicemail.menus.call_back = pbx.calls.dial_from_app
        names = {e.number: e.name for e in pbx.extensions.list()}
        for feature, handler in voicemail.feature_handlers(lambda number: names.get(number)).items():
            runner.register(feature, handler)
        counts_store = VoicemailStore(pbx.db, pbx.datadir.voicemail_dir)
        pbx.subscriptions.mailbox_counts = lambda ext: _counts(counts_store, ext)
    _install_recording(pbx, settings, codes)
    pbx.calls.features = runner if prompts is not None else None
    pbx.calls.prompts = prompts
    pbx.calls.voicemail = voicemail
    # Read per call: a language changed on the settings page applies to the next call (refresh_settings).
    pbx.calls.language_of = lambda extension: _language(pbx, extension, box_settings.current.language)
    return Applications(prompts, runner, codes, voicemail, outbox, box_settings)


def _install_recording(pbx: Any, settings: SettingsStore, codes: FeatureCodes) -> None:
    """Call recording (D-rec-1): the service on the data directory's recordings/, and the in-call codes
    (of the profile in force) that calls watch for."""
    min_free = settings.get("recording.min_free_mb", DEFAULT_MIN_FREE_MB)
    if isinstance(min_free, bool) or not isinstance(min_free, (int, float)) or min_free < 0:
        log.error("setting recording.min_free_mb=%r is not a number of MB >= 0; using %s", min_free,
                  DEFAULT_MIN_FREE_MB)
        min_free = DEFAULT_MIN_FREE_MB
    recordings = RecordingService(pbx.datadir.recordings_dir, pbx.extensions.find, min_free_mb=float(min_free))
    recordings.recover()
    pbx.calls.env.recordings = recordings
    pbx.calls.env.in_call_codes = in_call_codes(codes.codes, FEATURES, IN_CALL_FEATURES)


def _counts(store: VoicemailStore, extension: str) -> tuple[int, int]:
    counts = store.count(extension)
    return counts["new"], counts["old"]


def _language(pbx: Any, extension: str, default: str) -> str:
    ext = pbx.extensions.find(extension)
    return (getattr(ext, "language", None) if ext else None) or default
