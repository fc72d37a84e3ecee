"""Wiring of the applications the box answers calls with: prompts, feature codes, voicemail, recording.

Kept out of daemon.py so that the daemon reads as transport + calls, and each application is built
from explicit dependencies here. Prompts are optional at run time: without a rendered prompt library
(`make prompts`), calls and registrations work and the features that speak are refused with 501.

Box-wide settings are followed while pbxd runs (D-vmx-6): each group (voicemail, recording, feature codes)
is a `LiveSettings` re-read when the settings table changes, and `refresh_settings` (pbxd's 1 s
housekeeping and `reload`) hands a changed group to the code that uses it, for the next call.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv4Interface
from typing import Any

from appliance.calls.feature_apps import FeatureRunner
from appliance.calls.features import FEATURES, FeatureCodeConflict, FeatureCodes
from appliance.calls.incall import in_call_codes
from appliance.calls.incall_features import IN_CALL_FEATURES
from appliance.recording import settings as recording_settings
from appliance.recording.service import RecordingService
from appliance.store import ExtensionStore, SettingsStore, open_database
from appliance.voicemail.box_settings import BoxVoicemailSettings, LiveBoxSettings, LiveSettings
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
    #: Settings groups pbxd follows, each with what applies a changed value (see `follow`).
    followed: list[tuple[LiveSettings[Any], Callable[[Any], None]]] = field(default_factory=list)

    def follow(self, live: LiveSettings[Any], apply: Callable[[Any], None]) -> None:
        """Call `apply(live.current)` whenever a refresh finds that group changed."""
        self.followed.append((live, apply))

    def refresh_settings(self) -> None:
        """Pick up changed box-wide settings (voicemail, recording, feature codes) for the next call."""
        for live, apply in self.followed:
            if not live.refresh():
                continue
            try:
                apply(live.current)
            except Exception:  # one group that cannot be applied must not keep the others back
                log.exception("the changed %s could not be applied", live.what)

    def _use_voicemail_settings(self, current: BoxVoicemailSettings) -> None:
        if self.voicemail is not None:
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


def feature_code_settings(settings: SettingsStore) -> tuple[Any, dict[str, Any]]:
    """The stored profile and per-feature overrides, as stored (checked by `feature_codes_from`)."""
    stored = settings.all()
    overrides = {key[len("feature."):]: value for key, value in stored.items() if key.startswith("feature.")}
    return stored.get("features.profile", "coovox"), overrides


def feature_codes_from(stored: tuple[Any, dict[str, Any]], extensions: list[str]) -> FeatureCodes | None:
    """The code set (profile, overrides) make, checked against the extensions; None when it cannot be built
    (unknown profile or feature, a code that is not text). Collisions are logged and the set is used anyway."""
    profile, overrides = stored
    if not isinstance(profile, str) or not all(isinstance(code, str) for code in overrides.values()):
        log.error("feature-code settings are not text: profile %r, overrides %r", profile, overrides)
        return None
    try:
        codes = FeatureCodes(profile, overrides)
    except FeatureCodeConflict as err:
        log.error("feature-code settings cannot be used: %s", err)
        return None
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
    code_settings = LiveSettings(settings, feature_code_settings, "feature-code settings")
    codes = feature_codes_from(code_settings.current, [e.number for e in pbx.extensions.list()])
    if codes is None:
        log.error("using the default feature codes (CooVox profile) until the settings are corrected")
        codes = FeatureCodes()

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
    recording = LiveSettings(settings, recording_settings.load, "recording settings")
    recordings = _install_recording(pbx, recording.current)
    pbx.calls.features = runner if prompts is not None else None
    pbx.calls.prompts = prompts
    pbx.calls.voicemail = voicemail
    # Read per call: a language changed on the settings page applies to the next call (refresh_settings).
    pbx.calls.language_of = lambda extension: _language(pbx, extension, box_settings.current.language)
    apps = Applications(prompts, runner, codes, voicemail, outbox, box_settings)
    _use_codes(pbx, apps, codes)
    apps.follow(box_settings, apps._use_voicemail_settings)
    apps.follow(recording, recordings.configure)
    apps.follow(code_settings, lambda stored: _use_stored_codes(pbx, apps, stored))
    return apps


def _install_recording(pbx: Any, current: recording_settings.RecordingSettings) -> RecordingService:
    """Call recording (D-rec-1): the service on the data directory's recordings/, with the settings in force."""
    recordings = RecordingService(pbx.datadir.recordings_dir, pbx.extensions.find,
                                  min_free_mb=current.min_free_mb, announce=current.announce)
    recordings.recover()
    pbx.calls.env.recordings = recordings
    return recordings


def _use_codes(pbx: Any, apps: Applications, codes: FeatureCodes) -> None:
    """Route dialled feature codes and watch in-call ones with `codes`, from the next call on."""
    apps.feature_codes = codes
    pbx.calls.router.features = codes
    # Each Call copies these when it is created: calls already up keep the codes they started with.
    pbx.calls.env.in_call_codes = in_call_codes(codes.codes, FEATURES, IN_CALL_FEATURES)


def _use_stored_codes(pbx: Any, apps: Applications, stored: tuple[Any, dict[str, Any]]) -> None:
    """The feature-code settings changed: use the new set, or keep the one in force when it cannot be built."""
    codes = feature_codes_from(stored, [e.number for e in pbx.extensions.list()])
    if codes is None:
        log.error("keeping the feature codes in force (%s profile)", apps.feature_codes.profile)
        return
    _use_codes(pbx, apps, codes)
    log.info("feature codes now: profile %s, record_toggle %s", codes.profile,
             codes.codes.get("record_toggle") or "off")


def _counts(store: VoicemailStore, extension: str) -> tuple[int, int]:
    counts = store.count(extension)
    return counts["new"], counts["old"]


def _language(pbx: Any, extension: str, default: str) -> str:
    ext = pbx.extensions.find(extension)
    return (getattr(ext, "language", None) if ext else None) or default
