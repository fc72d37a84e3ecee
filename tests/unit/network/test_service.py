"""NetworkService: a web change is applied on the worker, kept pending with a deadline, then kept or undone.

The NetworkManager is a fake that records calls, the clock and timers are ours, and work runs inline,
so every test decides exactly when time passes.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future
from contextlib import contextmanager
from ipaddress import IPv4Interface
from pathlib import Path
from typing import Any

import pytest

from appliance.network import ApplyResult, InterfaceConfig, LinkStatus, NetContext, NetworkSettings
from appliance.network.exceptions import NetworkError
from appliance.network.service import (
    CONFIRM_KEY,
    MARKER,
    InvalidSettings,
    NetworkBusy,
    NetworkService,
    NothingPending,
    context_from_env,
    parse_settings,
)

OLD = NetworkSettings(wan=InterfaceConfig("wan", "wan0", "static", address=IPv4Interface("10.0.0.2/24")))
NEW = NetworkSettings(wan=InterfaceConfig("wan", "wan0", "static", address=IPv4Interface("10.0.0.9/24")))


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeTimers:
    """threading.Timer's role: callbacks due at clock times; `advance` moves the clock and runs them."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.armed: list[FakeTimers.Handle] = []

    class Handle:
        def __init__(self, due: float, callback: Callable[[], None]) -> None:
            self.due, self.callback, self.cancelled = due, callback, False

        def cancel(self) -> None:
            self.cancelled = True

    def __call__(self, delay: float, callback: Callable[[], None]) -> FakeTimers.Handle:
        handle = self.Handle(self.clock.now + delay, callback)
        self.armed.append(handle)
        return handle

    def advance(self, seconds: float) -> None:
        target = self.clock.now + seconds
        while True:
            due = [h for h in self.armed if not h.cancelled and h.due <= target]
            if not due:
                break
            handle = min(due, key=lambda h: h.due)
            self.armed.remove(handle)
            self.clock.now = max(self.clock.now, handle.due)
            handle.callback()
        self.clock.now = target

    def live(self) -> list[FakeTimers.Handle]:
        return [h for h in self.armed if not h.cancelled]


class InlineExecutor(Executor):
    """Runs work at once on the caller's thread, as the single worker thread would, in order."""

    def __init__(self) -> None:
        self.shut = False

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        if self.shut:
            raise RuntimeError("cannot schedule new futures after shutdown")
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as err:  # noqa: BLE001 - handed to the caller through the future
            future.set_exception(err)
        return future

    def shutdown(self, wait: bool = True, **kwargs: Any) -> None:
        self.shut = True


class FakeManager:
    """NetworkManager's contract: apply keeps a working change pending; confirm saves; revert goes back."""

    def __init__(self, store: dict[str, Any]) -> None:
        self.store = store
        self.calls: list[tuple[str, Any]] = []
        self.result = ApplyResult(ok=True)
        self.fail_confirm: Exception | None = None
        self.pending: NetworkSettings | None = None

    def saved(self) -> NetworkSettings:
        data = self.store.get("network.settings")
        return NetworkSettings.from_dict(data) if data else OLD

    def apply(self, new: NetworkSettings) -> ApplyResult:
        self.calls.append(("apply", new))
        if self.result.ok:
            self.pending = new
        return self.result

    def confirm(self) -> None:
        self.calls.append(("confirm", None))
        if self.fail_confirm:
            raise self.fail_confirm
        assert self.pending is not None
        self.store["network.settings"] = self.pending.to_dict()
        self.pending = None

    def revert(self) -> None:
        self.calls.append(("revert", None))
        self.pending = None


class DictStore(dict):
    def set(self, key: str, value: Any) -> None:
        self[key] = value


@pytest.fixture
def store() -> DictStore:
    return DictStore()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def timers(clock: FakeClock) -> FakeTimers:
    return FakeTimers(clock)


@pytest.fixture
def manager(store: DictStore) -> FakeManager:
    return FakeManager(store)


@pytest.fixture
def make(tmp_path: Path, store: DictStore, clock: FakeClock, timers: FakeTimers, manager: FakeManager):
    reconfigured: list[tuple[NetworkSettings, NetworkSettings]] = []

    @contextmanager
    def factory() -> Iterator[DictStore]:
        yield store

    def links(settings: NetworkSettings) -> list[LinkStatus]:
        return [LinkStatus(c.ifname, c.role, True, True, "02:00:00:00:00:01", (c.address,) if c.address else ())
                for c in settings.interfaces()]

    def build(**kw: Any) -> NetworkService:
        options: dict[str, Any] = {"start_delay": 2.0, "links": links, **kw}
        service = NetworkService(
            factory, NetContext(run_dir=tmp_path / "run", grace=5.0), manager=manager, clock=clock, timer=timers,
            executor=InlineExecutor(), reconfigure=lambda prev, new: reconfigured.append((prev, new)), **options,
        )
        service.reconfigured = reconfigured  # type: ignore[attr-defined]
        return service

    return build


def test_a_change_starts_after_the_start_delay_and_then_waits_for_confirmation(make, manager, timers):
    service = make()
    reply = service.apply(NEW)
    assert reply["phase"] == "applying" and reply["starts_in"] == 2.0 and reply["verify_seconds"] == 5.0
    assert manager.calls == [] and service.status()["phase"] == "applying"
    timers.advance(2.0)
    assert manager.calls == [("apply", NEW)]
    status = service.status()
    assert status["phase"] == "pending"
    assert status["pending"]["settings"] == NEW.to_dict() and status["pending"]["previous"] == OLD.to_dict()
    assert status["pending"]["seconds_left"] == 120.0 and status["saved"] == OLD.to_dict()
    timers.advance(30)
    assert service.status()["pending"]["seconds_left"] == 90.0


def test_an_unconfirmed_change_is_rolled_back_when_the_grace_ends(make, manager, timers, store):
    service = make(start_delay=0)
    service.apply(NEW)
    timers.advance(119.9)
    assert ("revert", None) not in manager.calls
    timers.advance(0.1)
    assert manager.calls[-1] == ("revert", None)
    status = service.status()
    assert status["phase"] == "idle" and status["pending"] is None
    assert status["last"]["outcome"] == "expired" and "Not confirmed within 120 s" in status["last"]["message"]
    assert "network.settings" not in store


def test_confirming_keeps_and_saves_the_change_and_disarms_the_rollback(make, manager, timers, store):
    service = make(start_delay=0)
    service.apply(NEW)
    timers.advance(60)
    assert service.confirm() == {"phase": "idle", "saved": NEW.to_dict()}
    assert NetworkSettings.from_dict(store["network.settings"]) == NEW
    timers.advance(3600)
    assert ("revert", None) not in manager.calls and timers.live() == []
    assert service.status()["last"]["outcome"] == "kept"


def test_going_back_now_reverts_at_once(make, manager, timers):
    service = make(start_delay=0)
    service.apply(NEW)
    assert service.revert() == {"phase": "reverting"}
    assert manager.calls == [("apply", NEW), ("revert", None)]
    assert service.status()["last"]["outcome"] == "reverted" and timers.live() == []


def test_a_second_change_is_refused_while_one_is_applied_or_pending(make, timers):
    service = make()
    service.apply(NEW)
    with pytest.raises(NetworkBusy, match="being applied"):
        service.apply(OLD)
    timers.advance(2)
    with pytest.raises(NetworkBusy, match="waits to be kept or undone"):
        service.apply(OLD)


def test_the_confirmation_grace_comes_from_the_setting(make, store, timers, manager):
    store[CONFIRM_KEY] = 3
    service = make(start_delay=0)
    service.apply(NEW)
    assert service.status()["pending"]["seconds_left"] == 3.0
    timers.advance(3)
    assert manager.calls[-1] == ("revert", None)


@pytest.mark.parametrize("value", ["soon", 0, -5, 86400, True, [1]])
def test_an_unusable_grace_setting_falls_back_to_two_minutes(make, store, value):
    store[CONFIRM_KEY] = value
    assert make().confirm_seconds() == 120.0


def test_a_change_that_did_not_work_is_reported_and_nothing_is_pending(make, manager):
    manager.result = ApplyResult(ok=False, rolled_back=True, problems=("WAN (wan0): gateway 10.0.0.1 does not answer",),
                                 warnings=("LAN (lan0): no carrier",))
    service = make(start_delay=0)
    service.apply(NEW)
    status = service.status()
    assert status["phase"] == "idle" and status["pending"] is None
    assert status["last"]["outcome"] == "rolled_back"
    assert status["last"]["problems"] == ["WAN (wan0): gateway 10.0.0.1 does not answer"]
    assert status["last"]["warnings"] == ["LAN (lan0): no carrier"]
    with pytest.raises(NothingPending):
        service.confirm()


def test_an_unexpected_error_while_applying_is_reported_instead_of_sticking(make, manager):
    def boom(new: NetworkSettings) -> ApplyResult:
        raise RuntimeError("netlink socket closed")

    manager.apply = boom
    service = make(start_delay=0)
    service.apply(NEW)
    status = service.status()
    assert status["phase"] == "idle" and status["last"]["outcome"] == "failed"
    assert status["last"]["problems"] == ["internal error: netlink socket closed"]
    service.apply(NEW)  # not stuck


def test_confirm_and_revert_without_a_pending_change_are_refused(make, timers):
    service = make()
    for action in (service.confirm, service.revert):
        with pytest.raises(NothingPending, match="no network change waits"):
            action()
    service.apply(NEW)
    with pytest.raises(NothingPending, match="still being applied"):
        service.confirm()


def test_a_confirmation_after_the_deadline_is_refused_and_rolls_back(make, manager, clock, timers):
    service = make(start_delay=0)
    service.apply(NEW)
    clock.now += 121  # the timer thread has not run yet
    with pytest.raises(NetworkError, match="too late"):
        service.confirm()
    assert manager.calls[-1] == ("revert", None)
    assert service.status()["last"]["outcome"] == "expired"


def test_a_failed_save_leaves_the_change_pending_with_its_rollback_armed(make, manager, timers):
    manager.fail_confirm = OSError("database is locked")
    service = make(start_delay=0)
    service.apply(NEW)
    timers.advance(100)
    with pytest.raises(NetworkError, match="could not be saved: database is locked"):
        service.confirm()
    assert service.status()["phase"] == "pending"
    timers.advance(20)
    assert manager.calls[-1] == ("revert", None)


def test_status_shows_the_live_links_of_the_change_under_way(make, timers):
    service = make(start_delay=0)
    assert service.status()["links"][0]["addresses"] == ["10.0.0.2/24"]
    service.apply(NEW)
    (link,) = service.status()["links"]
    assert link == {"name": "wan0", "role": "wan", "state": "up", "up": True, "carrier": True,
                    "mac": "02:00:00:00:00:01", "addresses": ["10.0.0.9/24"], "present": True, "routes": []}


def test_a_netlink_failure_leaves_the_rest_of_the_status(make):
    def broken(settings: NetworkSettings) -> list[LinkStatus]:
        raise OSError("Operation not permitted")

    status = make(links=broken).status()
    assert status["links"] == [] and status["links_error"] == "Operation not permitted"
    assert status["saved"] == OLD.to_dict()


def test_stopping_pbxd_undoes_a_pending_change(make, manager, timers):
    service = make(start_delay=0)
    service.apply(NEW)
    service.close()
    assert manager.calls[-1] == ("revert", None) and timers.live() == []


def test_stopping_before_the_start_delay_applies_nothing(make, manager, timers):
    service = make()
    service.apply(NEW)
    service.close()
    timers.advance(10)
    assert manager.calls == []


def test_the_pending_change_is_recorded_until_kept(make, tmp_path, timers):
    service = make(start_delay=0)
    service.apply(NEW)
    marker = json.loads((tmp_path / "run" / MARKER).read_text())
    assert marker == {"new": NEW.to_dict(), "previous": OLD.to_dict()}
    service.confirm()
    assert not (tmp_path / "run" / MARKER).exists()


def test_a_change_left_pending_by_a_previous_pbxd_is_undone_at_start(make, tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / MARKER).write_text(json.dumps({"new": NEW.to_dict(), "previous": OLD.to_dict()}))
    service = make()
    assert service.reconfigured == [(OLD, NEW)]
    assert not (tmp_path / "run" / MARKER).exists()
    status = service.status()
    assert status["phase"] == "idle" and status["last"]["outcome"] == "recovered"


def test_an_unreadable_marker_is_removed(make, tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / MARKER).write_text("{garbled")
    service = make()
    assert service.reconfigured == [] and not (tmp_path / "run" / MARKER).exists()
    assert service.status()["phase"] == "idle"


@pytest.mark.parametrize("data, message", [
    (None, "needs 'settings'"),
    ({"lan": None}, "need a 'wan' object"),
    ({"wan": {"device": "wan0", "mode": "static", "address": "10.0.0.0/24"}}, "network address of 10.0.0.0/24"),
    ({"wan": {"device": "wan0", "mode": "static", "address": "10.0.0.2/24", "gateway": "10.9.0.1"}},
     "outside the subnet"),
    ({"wan": {"device": "wan0", "mode": "static", "address": "abc"}}, "not an IPv4 address"),
    ({"wan": {"device": "wan0", "dns": "1.1.1.1"}}, "'dns' must be a list"),
    ({"wan": {"device": "wan0", "vlan": "7"}}, "'vlan' must be a number"),
    ({"wan": {"device": "wan0", "mode": "static", "address": "10.0.0.2/24"},
      "lan": {"device": "lan0", "mode": "static", "address": "10.0.0.3/16"}}, "overlaps"),
])
def test_settings_sent_to_network_apply_are_validated_with_clear_messages(data, message):
    with pytest.raises(InvalidSettings, match=message):
        parse_settings(data)


def test_the_control_commands(make, store, timers):
    service = make(start_delay=0)

    def run(cmd: str, **params: Any) -> dict[str, Any]:
        return asyncio.run(service.handle(cmd, params))

    assert run("network_status")["phase"] == "idle"
    assert run("network_apply", settings=NEW.to_dict())["phase"] == "applying"
    assert run("network_status")["phase"] == "pending"
    assert run("network_confirm")["saved"] == NEW.to_dict()
    with pytest.raises(InvalidSettings):
        run("network_apply", settings={"wan": {"device": "wan 0"}})


def test_the_environment_can_move_the_network_files(tmp_path):
    ctx = context_from_env({"APPLIANCE_NET_RUN_DIR": str(tmp_path / "run"),
                            "APPLIANCE_RESOLV_CONF": str(tmp_path / "resolv.conf")})
    assert ctx.run_dir == tmp_path / "run" and ctx.resolv_conf == tmp_path / "resolv.conf"
    assert context_from_env({}).run_dir == NetContext().run_dir
