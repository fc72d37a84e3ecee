"""Call recording: who is recorded, when recording may start, and one call's recording from start to file.

A call is recorded automatically when a party is an extension with `record_calls` on, or on demand when a
party dials the in-call code `record_toggle` (`*1` in the CooVox profile). The engine records what each leg
receives (its `Recorder` taps a relayed leg without breaking the relay, D-engine-3); at the end of the call
the parts are mixed into one 8 kHz mono WAV off the event loop (storage.assemble) and the CDR gets its path.

Stopping and starting again during one call appends to the same file (segments, without the gap). A
recording started because of `record_calls` is the administrator's policy: the in-call code does not stop
it. Recording never starts while the recordings' filesystem has less than `min_free_mb` free, and running
recordings are stopped (kept so far) when it falls below that, so recordings never fill /data. The parties
hear a short tone when recording starts or pauses (indications.py; at answer only with `announce`). Both
settings follow the settings table while pbxd runs (`configure`).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from appliance.media.engine import MediaError

from . import storage
from .settings import DEFAULT_MIN_FREE_MB, RecordingSettings

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_MIN_FREE_MB", "MIN_SECONDS", "CallRecording", "RecordingService"]

MIN_SECONDS = 0.5  # a recording shorter than this (started and stopped at once) is not kept
SPACE_CHECK_INTERVAL = 5.0  # seconds between free-space checks while anything is being recorded
MB = 1024 * 1024


class RecordingService:
    """The box's call recordings under `root` (the data directory's `recordings/`)."""

    def __init__(self, root: Path, find_extension: Callable[[str], Any], *,
                 min_free_mb: float = DEFAULT_MIN_FREE_MB, announce: bool = False, min_seconds: float = MIN_SECONDS,
                 free_bytes: Callable[[Path], int] = storage.free_bytes,
                 token: Callable[[], str] = lambda: secrets.token_hex(4),
                 check_interval: float = SPACE_CHECK_INTERVAL) -> None:
        if min_free_mb < 0:
            raise ValueError(f"recording.min_free_mb must not be negative, not {min_free_mb}")
        self.root = Path(root)
        self.find_extension = find_extension
        self.min_free_mb = min_free_mb  # both follow the settings while pbxd runs (settings.py, applications)
        self.announce = announce  # beep to both parties when a call is recorded from its answer
        self.min_samples = int(min_seconds * storage.RATE)
        self._free_bytes = free_bytes
        self._token = token
        self.check_interval = check_interval
        self.active: set[CallRecording] = set()
        self._watch: asyncio.Task[None] | None = None

    def configure(self, chosen: RecordingSettings) -> None:
        """Use changed settings from now on: the next start, the next free-space check, the next answer."""
        if chosen.min_free_mb < 0:
            raise ValueError(f"recording.min_free_mb must not be negative, not {chosen.min_free_mb}")
        self.min_free_mb = chosen.min_free_mb
        self.announce = chosen.announce

    def recover(self) -> int:
        """At start-up: drop the parts of calls a crash cut off (see storage); returns how many."""
        return storage.remove_stale_parts(self.root)

    def wanted_by(self, *numbers: str | None) -> bool:
        """Whether any of these parties is an extension whose calls are all recorded (`record_calls`)."""
        for number in numbers:
            ext = self.find_extension(number) if number else None
            if ext is not None and getattr(ext, "record_calls", False):
                return True
        return False

    def for_call(self, start: float, caller: str, callee: str, label: str = "") -> CallRecording:
        """A (not yet started) recording for the call that started at wall-clock `start`."""
        uid = storage.call_uid(start, caller, callee, self._token())
        return CallRecording(self, uid, storage.recording_relpath(start, uid), label or uid)

    def space_ok(self) -> bool:
        """True when at least `min_free_mb` is free where recordings are written."""
        try:
            free = self._free_bytes(self.root)
        except OSError as err:
            log.error("cannot read the free space of %s: %s", self.root, err)
            return False
        return free >= self.min_free_mb * MB

    def _started(self, recording: CallRecording) -> None:
        self.active.add(recording)
        if self._watch is None or self._watch.done():
            self._watch = asyncio.ensure_future(self._watch_space())

    async def _watch_space(self) -> None:
        """Runs while anything is being recorded (statvfs every few seconds); ends with the last recording."""
        while self.active:
            await asyncio.sleep(self.check_interval)
            self.check_space()

    def check_space(self) -> int:
        """Stop running recordings (keeping what they hold) when free space fell below the cap; returns how many."""
        if not self.active or self.space_ok():
            return 0
        stopped = list(self.active)
        log.warning("less than %s MB free under %s: stopping %d call recording(s)", self.min_free_mb, self.root,
                    len(stopped))
        for recording in stopped:
            recording.stop()
        return len(stopped)


class CallRecording:
    """One call's recording: segments of both legs' received audio, one file when the call ends."""

    def __init__(self, service: RecordingService, uid: str, relpath: Any, label: str) -> None:
        self.service = service
        self.uid = uid
        self.relpath = relpath  # PurePosixPath relative to the recordings directory: what the CDR stores
        self.label = label
        self.segments: list[list[Any]] = []  # per segment, the engine Recorders of the legs
        self.forced = False
        self.finished = False

    @property
    def active(self) -> bool:
        return self in self.service.active

    def start(self, endpoints: Iterable[Any], *, forced: bool = False) -> bool:
        """Start (or continue, as a new segment) recording what `endpoints` receive; False when refused."""
        if self.finished:
            return False
        if self.active:
            self.forced = self.forced or forced
            return True
        if not self.service.space_ok():
            log.warning("%s: not recorded, less than %s MB free under %s", self.label, self.service.min_free_mb,
                        self.service.root)
            return False
        segment = len(self.segments)
        recorders = []
        for leg, endpoint in enumerate(endpoints):
            if endpoint is None or getattr(endpoint, "closed", False):
                continue
            path = storage.part_path(self.service.root, self.uid, segment, leg)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                recorders.append(endpoint.record(str(path)))
            except (MediaError, OSError) as err:
                log.error("%s: cannot record leg %d: %s", self.label, leg, err)
        if not recorders:
            return False
        self.segments.append(recorders)
        self.forced = self.forced or forced
        self.service._started(self)
        log.info("%s: recording%s (%s)", self.label, " continues" if segment else " starts",
                 "record_calls" if forced else "on demand")
        return True

    def stop(self, *, ending: bool = False) -> bool:
        """End the current segment; False when nothing was being recorded."""
        if not self.active:
            return False
        self.service.active.discard(self)
        for recorder in self.segments[-1]:
            recorder.stop()
        if not ending:
            log.info("%s: recording paused", self.label)
        return True

    def toggle(self, endpoints: Iterable[Any]) -> str:
        """The in-call code: "started", "stopped", "refused" or "kept" (recording is the extension's policy)."""
        if self.active:
            if self.forced:
                log.info("%s: recording is required by record_calls; the in-call code does not stop it", self.label)
                return "kept"
            self.stop()
            return "stopped"
        return "started" if self.start(endpoints) else "refused"

    def finish(self) -> asyncio.Future[str | None] | None:
        """The call ended: stop, and (when anything was recorded) assemble the file off the event loop.

        Returns None when nothing was ever recorded, else a future resolving to the CDR's `recording` value
        (None when the recording was too short to keep or could not be written)."""
        if self.finished:
            return None
        self.finished = True
        self.stop(ending=True)
        if not self.segments:
            return None
        return asyncio.ensure_future(self._assemble())

    async def _assemble(self) -> str | None:
        segments = []
        for recorders in self.segments:
            paths = []
            for recorder in recorders:
                done = recorder.stop()  # the same future when already stopped (or closed with its endpoint)
                try:
                    paths.append(Path(await asyncio.shield(done)))
                except asyncio.CancelledError:
                    if not done.cancelled():
                        raise
                    log.warning("%s: a leg's recording was dropped", self.label)
                except OSError as err:
                    log.error("%s: a leg's recording could not be finished: %s", self.label, err)
            segments.append(paths)
        target = self.service.root / self.relpath
        loop = asyncio.get_running_loop()
        try:
            samples = await loop.run_in_executor(None, storage.assemble, segments, target, self.service.min_samples)
        except (OSError, ValueError) as err:
            log.error("%s: recording could not be written to %s: %s", self.label, target, err)
            return None
        if not samples:
            log.info("%s: recording too short, not kept", self.label)
            return None
        log.info("%s: recording of %.1f s saved as %s", self.label, samples / storage.RATE, self.relpath)
        return str(self.relpath)
