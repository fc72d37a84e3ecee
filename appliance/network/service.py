"""Network changes asked for from the web admin, held by pbxd: applied, verified, then kept or rolled back.

The web UI runs in short-lived gunicorn workers, so "this change is active but not confirmed; undo it
at the deadline" lives here, in the long-lived daemon (D-netweb-1). A change goes through phases:

    idle --apply--> applying --verified--> pending --confirm--> idle (saved)
                       |                      +--revert, or deadline--> reverting --> idle (previous back)
                       +--failed (apply() already went back)--> idle

Netlink and udhcpc block, so every NetworkManager call runs in order on one worker thread; the
deadline is a timer. `clock`, `timer` and `executor` are injected so tests decide when time passes.
A marker file in the run directory (a tmpfs on the box) records a change from before it is applied
until it is kept or undone: a pbxd restarted in between puts the previous settings back rather than
leaving unconfirmed ones active (D-netweb-3).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from appliance.limits import SecondsSetting
from appliance.network.apply import ApplyResult, configure
from appliance.network.context import RESOLV_CONF_ENV, RUN_DIR_ENV, NetContext, context_from_env
from appliance.network.exceptions import NetworkError
from appliance.network.manager import NetworkManager, SettingsLike
from appliance.network.model import NetworkSettings
from appliance.network.resolv import atomic_write
from appliance.network.status import LinkStatus, link_statuses

log = logging.getLogger(__name__)

#: seconds a web change stays active without confirmation before it is undone
CONFIRM_KEY = "network.confirm_seconds"
DEFAULT_CONFIRM_SECONDS = 120.0
CONFIRM_LIMITS = (1.0, 3600.0)
#: the same key and bounds for the console's network dialog and anything that sets it
CONFIRM = SecondsSetting(CONFIRM_KEY, DEFAULT_CONFIRM_SECONDS, *CONFIRM_LIMITS, "the time to keep a network change")
#: the page answering "apply" should reach the browser before the address it came through moves
START_DELAY = 2.0
MARKER = "web-pending.json"
COMMANDS = ("network_status", "network_apply", "network_confirm", "network_revert")

SettingsFactory = Callable[[], AbstractContextManager[SettingsLike]]


class NetworkBusy(NetworkError):
    """Another change is being applied, waits for confirmation or is being undone."""


class NothingPending(NetworkError):
    """Confirm or revert asked for while no change waits for confirmation."""


class InvalidSettings(NetworkError):
    """The settings sent with network_apply cannot be used."""


class Timer(Protocol):
    def cancel(self) -> None: ...


TimerFactory = Callable[[float, Callable[[], None]], Timer]


class ManagerLike(Protocol):
    """What the service needs of appliance.network.NetworkManager (tests pass a fake)."""

    def saved(self) -> NetworkSettings: ...
    def apply(self, new: NetworkSettings) -> ApplyResult: ...
    def confirm(self) -> None: ...
    def revert(self) -> None: ...


def thread_timer(delay: float, callback: Callable[[], None]) -> Timer:
    """Run `callback` on its own thread after `delay` seconds."""
    timer = threading.Timer(delay, callback)
    timer.daemon = True
    timer.start()
    return timer


@dataclass(frozen=True)
class Outcome:
    """How the last change ended (or went on), for the page that asked for it."""

    kind: str  # kept | reverted | expired | rolled_back | failed | revert_failed | recovered
    message: str
    at: float
    problems: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    def to_dict(self, now: float) -> dict[str, Any]:
        return {"outcome": self.kind, "message": self.message, "problems": list(self.problems),
                "warnings": list(self.warnings), "seconds_ago": round(max(0.0, now - self.at), 1)}


@dataclass(frozen=True)
class _Pending:
    new: NetworkSettings
    previous: NetworkSettings
    deadline: float
    confirm_seconds: float
    warnings: tuple[str, ...]


class _SettingsPerCall:
    """SettingsLike that opens the store for each call: the manager works on a thread of its own."""

    def __init__(self, factory: SettingsFactory) -> None:
        self._factory = factory

    def get(self, key: str, default: Any = None) -> Any:
        with self._factory() as store:
            return store.get(key, default)

    def set(self, key: str, value: Any) -> None:
        with self._factory() as store:
            store.set(key, value)


class NetworkService:
    """apply / confirm / revert / status of the box's network for the web admin, with a deadline."""

    def __init__(
        self,
        settings_store_factory: SettingsFactory,
        ctx: NetContext | None = None,
        *,
        manager: ManagerLike | None = None,
        clock: Callable[[], float] = time.monotonic,
        timer: TimerFactory = thread_timer,
        executor: Executor | None = None,
        links: Callable[[NetworkSettings], list[LinkStatus]] | None = None,
        reconfigure: Callable[[NetworkSettings, NetworkSettings], None] | None = None,
        start_delay: float = START_DELAY,
    ) -> None:
        self._settings_factory = settings_store_factory
        self._ctx = ctx or NetContext()
        self._manager: ManagerLike = manager or NetworkManager(_SettingsPerCall(settings_store_factory), self._ctx)
        self._clock = clock
        self._timer = timer
        self._executor = executor or ThreadPoolExecutor(max_workers=1, thread_name_prefix="network")
        self._links = links or (lambda settings: link_statuses(settings, self._ctx))
        self._reconfigure = reconfigure or (lambda previous, new: configure(previous, new, self._ctx))
        self._start_delay = start_delay
        self._lock = threading.Lock()
        self._phase = "idle"
        self._generation = 0
        self._applying: NetworkSettings | None = None
        self._pending: _Pending | None = None
        self._last: Outcome | None = None
        self._timers: list[Timer] = []
        self._closing = False
        if self._marker_path.exists():
            self._phase = "reverting"
            self._submit(self._recover)

    # -- what the control commands call --------------------------------------------------------------------
    def apply(self, new: NetworkSettings) -> dict[str, Any]:
        """Start applying `new` (after the start delay); refused while another change is under way."""
        with self._lock:
            self._refuse_if_busy()
            self._phase, self._applying = "applying", new
            self._generation += 1
            generation = self._generation
            if self._start_delay > 0:
                self._arm(self._start_delay, lambda: self._submit(self._do_apply, new, generation))
        log.info("network change asked for from the web: %s", "; ".join(c.describe() for c in new.interfaces()))
        if self._start_delay <= 0:
            self._submit(self._do_apply, new, generation)
        return {"phase": "applying", "starts_in": self._start_delay, "verify_seconds": self._ctx.grace}

    def confirm(self) -> dict[str, Any]:
        """Keep the pending change: it is saved and survives a reboot."""
        with self._lock:
            pending = self._require_pending()
            late = self._clock() >= pending.deadline
            message = self._begin_expiry() if late else ""
            if not late:
                self._phase = "confirming"
                self._cancel_timers()
        if late:
            self._submit(self._do_revert, "expired", message)
            raise NetworkError("too late: the time to confirm ran out and the previous settings are being restored")
        return self._submit(self._do_confirm, pending).result()

    def revert(self) -> dict[str, Any]:
        """Undo the pending change now (the previous settings are configured on the worker)."""
        with self._lock:
            self._require_pending()
            self._phase = "reverting"
            self._cancel_timers()
        self._submit(self._do_revert, "reverted", "Undone by the administrator: the previous settings are back.")
        return {"phase": "reverting"}

    def status(self) -> dict[str, Any]:
        """Saved settings, the change under way with seconds left, live links and the last outcome."""
        now = self._clock()
        with self._lock:
            phase, applying, pending, last = self._phase, self._applying, self._pending, self._last
        saved = self._manager.saved()
        shown = applying or (pending.new if pending else saved)
        reply: dict[str, Any] = {
            "phase": phase, "saved": saved.to_dict(), "applying": applying.to_dict() if applying else None,
            "pending": None, "last": last.to_dict(now) if last else None,
            "confirm_seconds": self.confirm_seconds(), "verify_seconds": self._ctx.grace,
            "links": [], "links_error": None,
        }
        if pending is not None:
            reply["pending"] = {"settings": pending.new.to_dict(), "previous": pending.previous.to_dict(),
                                "seconds_left": round(max(0.0, pending.deadline - now), 1),
                                "confirm_seconds": pending.confirm_seconds, "warnings": list(pending.warnings)}
        try:
            reply["links"] = [_link_dict(link) for link in self._links(shown)]
        except Exception as err:  # a netlink hiccup must not hide the rest of the page
            log.warning("reading the network links failed: %s", err)
            reply["links_error"] = str(err)
        return reply

    def confirm_seconds(self) -> float:
        """The grace for confirming, from setting network.confirm_seconds (default 120 s)."""
        try:
            with self._settings_factory() as store:
                value = store.get(CONFIRM_KEY)
        except Exception as err:  # a busy database must not stop a rollback from being armed
            log.warning("cannot read %s (%s); using %g s", CONFIRM_KEY, err, DEFAULT_CONFIRM_SECONDS)
            return DEFAULT_CONFIRM_SECONDS
        return CONFIRM.read(value)

    async def handle(self, cmd: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """One control command of COMMANDS; blocking parts run on threads, off pbxd's event loop."""
        if cmd == "network_status":
            return await asyncio.to_thread(self.status)
        if cmd == "network_apply":
            return self.apply(parse_settings(params.get("settings")))
        if cmd == "network_confirm":
            return await asyncio.to_thread(self.confirm)
        if cmd == "network_revert":
            return self.revert()
        raise ValueError(f"unknown network command {cmd!r}")

    def close(self) -> None:
        """pbxd stops: an unconfirmed change is undone first (it would otherwise stay until a reboot)."""
        with self._lock:
            self._closing = True
            self._cancel_timers()
            # an apply under way sees _closing: before it starts nothing happens, after it the change is undone
            undo = self._phase == "pending"
            if undo:
                self._phase = "reverting"
        if undo:
            self._submit(self._do_revert, "reverted", "pbxd stopped before the change was confirmed.")
        self._executor.shutdown(wait=True)

    # -- on the worker thread ------------------------------------------------------------------------------
    def _do_apply(self, new: NetworkSettings, generation: int) -> None:
        with self._lock:
            if self._closing or generation != self._generation:
                self._phase, self._applying = "idle", None
                return
        previous = self._manager.saved()
        confirm_seconds = self.confirm_seconds()
        self._write_marker(new, previous)
        try:
            result = self._manager.apply(new)
        except Exception as err:  # a bug must not leave the phase stuck at "applying"
            log.exception("applying the network settings failed")
            result = ApplyResult(ok=False, problems=(f"internal error: {err}",))
        if not result.ok:
            self._remove_marker()
            kind = "rolled_back" if result.rolled_back else "failed"
            message = ("The new settings did not work; the previous settings are back." if result.rolled_back
                       else "The new settings could not be applied.")
            self._finish(Outcome(kind, message, self._clock(), result.problems, result.warnings))
            return
        with self._lock:
            self._applying = None
            if not self._closing:
                self._phase = "pending"
                self._pending = _Pending(new, previous, self._clock() + confirm_seconds, confirm_seconds,
                                         result.warnings)
                self._arm(confirm_seconds, lambda: self._expire(generation))
                log.info("network change active; undone in %g s unless confirmed", confirm_seconds)
                return
            self._phase = "reverting"
        self._do_revert("reverted", "pbxd stopped before the change was confirmed.")

    def _do_confirm(self, pending: _Pending) -> dict[str, Any]:
        try:
            self._manager.confirm()
        except Exception as err:
            log.exception("saving the confirmed network settings failed")
            with self._lock:  # still active and unsaved: the rollback stays armed
                self._phase = "pending"
                self._arm(max(0.0, pending.deadline - self._clock()), lambda: self._expire(self._generation))
            raise NetworkError(f"the settings could not be saved: {err}") from err
        self._remove_marker()
        self._finish(Outcome("kept", "The new settings are kept and saved.", self._clock(),
                             warnings=pending.warnings))
        log.info("network change confirmed and saved")
        return {"phase": "idle", "saved": pending.new.to_dict()}

    def _do_revert(self, kind: str, message: str) -> None:
        try:
            self._manager.revert()
        except Exception as err:  # reported on the page; the marker stays so the next start tries again
            log.exception("going back to the previous network settings failed")
            self._finish(Outcome("revert_failed", f"Going back to the previous settings failed: {err}. "
                                 "The saved settings are configured again at the next start.", self._clock()))
            return
        self._remove_marker()
        log.info("network change undone (%s)", kind)
        self._finish(Outcome(kind, message, self._clock()))

    def _recover(self) -> None:
        """A previous pbxd left a change unconfirmed: configure the settings from before it."""
        try:
            data = json.loads(self._marker_path.read_text())
            new, previous = NetworkSettings.from_dict(data["new"]), NetworkSettings.from_dict(data["previous"])
        except (OSError, ValueError, KeyError, TypeError) as err:
            log.error("unreadable %s (%s); removing it", self._marker_path, err)
            self._remove_marker()
            self._finish(None)
            return
        log.warning("a network change was left unconfirmed by a previous pbxd; restoring the previous settings")
        try:
            self._reconfigure(previous, new)
        except Exception as err:
            log.exception("restoring the previous network settings failed")
            self._finish(Outcome("revert_failed", f"Restoring the settings from before an unconfirmed change "
                                 f"failed: {err}.", self._clock()))
            return
        self._remove_marker()
        self._finish(Outcome("recovered", "pbxd restarted while a network change was not confirmed; "
                             "the previous settings were put back.", self._clock()))

    # -- helpers (callers hold the lock where noted) --------------------------------------------------------
    def _expire(self, generation: int) -> None:
        with self._lock:
            pending = self._pending
            if self._phase != "pending" or pending is None or generation != self._generation:
                return
            left = pending.deadline - self._clock()
            if left > 0:  # the timer ran early by our clock: wait for the rest
                self._arm(left, lambda: self._expire(generation))
                return
            message = self._begin_expiry()
        self._submit(self._do_revert, "expired", message)

    def _begin_expiry(self) -> str:
        """Lock held: the deadline passed; the caller submits the undo (outside the lock) with this message."""
        assert self._pending is not None
        seconds = self._pending.confirm_seconds
        self._phase = "reverting"
        self._cancel_timers()
        log.warning("network change not confirmed within %g s; rolling back", seconds)
        return f"Not confirmed within {seconds:g} s: the previous settings are back."

    def _finish(self, outcome: Outcome | None) -> None:
        with self._lock:
            self._phase, self._applying, self._pending = "idle", None, None
            self._cancel_timers()
            if outcome is not None:
                self._last = outcome

    def _refuse_if_busy(self) -> None:
        """Lock held."""
        if self._closing:
            raise NetworkBusy("pbxd is stopping")
        reasons = {"applying": "a network change is being applied", "confirming": "a change is being saved",
                   "pending": "a network change waits to be kept or undone; decide on it first",
                   "reverting": "the previous network settings are being restored"}
        if self._phase in reasons:
            raise NetworkBusy(reasons[self._phase])

    def _require_pending(self) -> _Pending:
        """Lock held."""
        if self._phase != "pending" or self._pending is None:
            detail = {"applying": ": it is still being applied", "reverting": ": it is being undone",
                      "confirming": ": it is being saved"}.get(self._phase, "")
            raise NothingPending(f"no network change waits for confirmation{detail}")
        return self._pending

    def _arm(self, delay: float, callback: Callable[[], None]) -> None:
        """Lock held."""
        self._timers.append(self._timer(delay, callback))

    def _cancel_timers(self) -> None:
        """Lock held."""
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()

    def _submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        try:
            return self._executor.submit(fn, *args)
        except RuntimeError as err:  # shut down: pbxd is stopping
            log.warning("network work dropped while stopping: %s", err)
            future: Future[Any] = Future()
            future.set_exception(NetworkBusy("pbxd is stopping"))
            return future

    @property
    def _marker_path(self) -> Path:
        return self._ctx.run_dir / MARKER

    def _write_marker(self, new: NetworkSettings, previous: NetworkSettings) -> None:
        try:
            atomic_write(self._marker_path, json.dumps({"new": new.to_dict(), "previous": previous.to_dict()}))
        except OSError as err:
            log.warning("cannot record the pending network change in %s: %s", self._marker_path, err)

    def _remove_marker(self) -> None:
        try:
            self._marker_path.unlink(missing_ok=True)
        except OSError as err:
            log.warning("cannot remove %s: %s", self._marker_path, err)


def parse_settings(data: Any) -> NetworkSettings:
    """network_apply's `settings` (NetworkSettings.to_dict() form); InvalidSettings says what is wrong."""
    if not isinstance(data, dict):
        raise InvalidSettings("network_apply needs 'settings': an object with 'wan' and optionally 'lan'")
    for role in ("wan", "lan"):
        part = data.get(role)
        if isinstance(part, dict):
            if not isinstance(part.get("dns", []), (list, type(None))):
                raise InvalidSettings(f"invalid network settings: {role}: 'dns' must be a list of addresses")
            vlan = part.get("vlan")
            if vlan is not None and (isinstance(vlan, bool) or not isinstance(vlan, int)):
                raise InvalidSettings(f"invalid network settings: {role}: 'vlan' must be a number or null")
    try:
        return NetworkSettings.from_dict(data)
    except (ValueError, TypeError) as err:
        raise InvalidSettings(f"invalid network settings: {err}") from err


def _link_dict(link: LinkStatus) -> dict[str, Any]:
    state = "missing" if not link.present else ("up" if link.up and link.carrier else
                                                 "no carrier" if link.up else "down")
    return {"name": link.name, "role": link.role, "state": state, "up": link.up, "carrier": link.carrier,
            "mac": link.mac, "addresses": [str(address) for address in link.addresses], "present": link.present,
            "routes": [str(route) for route in link.routes]}


def database_settings(database_path: str | os.PathLike[str]) -> SettingsFactory:
    """A factory opening the settings store of the database at `database_path` for each use."""

    @contextmanager
    def opened() -> Iterator[SettingsLike]:
        from appliance.store import SettingsStore, open_database

        db = open_database(database_path)
        try:
            yield SettingsStore(db)
        finally:
            db.conn.close()

    return opened


def for_database(database_path: str | os.PathLike[str], ctx: NetContext | None = None) -> NetworkService:
    """pbxd's service: settings from its database, the box's NetContext (or the one the environment names)."""
    return NetworkService(database_settings(database_path), ctx or context_from_env())
