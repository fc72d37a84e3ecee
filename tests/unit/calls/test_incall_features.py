"""A call's in-call codes and recording, with fake legs and a fake recording service (no engine, no SIP)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from appliance.calls.incall_features import InCallFeatures


class FakeRecording:
    def __init__(self) -> None:
        self.events: list[Any] = []
        self.active = False
        self.finished = False

    def start(self, endpoints: list[Any], *, forced: bool = False) -> bool:
        self.events.append(("start", [e.name for e in endpoints], forced))
        self.active = True
        return True

    def toggle(self, endpoints: list[Any]) -> str:
        self.events.append(("toggle", [e.name for e in endpoints]))
        self.active = not self.active
        return "started" if self.active else "stopped"

    def finish(self) -> str:
        self.finished = True
        return "future"


class FakeRecordings:
    def __init__(self, recorded: set[str] = frozenset()) -> None:
        self.recorded = recorded
        self.made: list[tuple[Any, ...]] = []
        self.recording = FakeRecording()

    def wanted_by(self, *numbers: str | None) -> bool:
        return any(n in self.recorded for n in numbers)

    def for_call(self, start: float, caller: str, callee: str, label: str) -> FakeRecording:
        self.made.append((start, caller, callee, label))
        return self.recording


class FakeLeg:
    """A leg as the Call holds it: hashable by identity, with its extension and media endpoint."""

    def __init__(self, user: str) -> None:
        self.user = user
        self.ended = False
        self.endpoint = SimpleNamespace(name=f"ep-{user}")


def leg(user: str) -> FakeLeg:
    return FakeLeg(user)


def call() -> SimpleNamespace:
    return SimpleNamespace(id=7, a=leg("2001"), b=leg("2002"))


def run(body) -> Any:
    async def main() -> Any:
        return body()
    return asyncio.run(main())


def test_an_answered_call_of_an_extension_with_record_calls_is_recorded_at_once():
    recordings = FakeRecordings({"2002"})
    c = call()
    features = InCallFeatures(c, {"record_toggle": "*1"}, recordings)
    run(lambda: features.answered(1000.0, "2001", "2002"))
    assert recordings.made == [(1000.0, "2001", "2002", "call 7 (2001 → 2002)")]
    assert recordings.recording.events == [("start", ["ep-2001", "ep-2002"], True)]


def test_without_record_calls_nothing_is_recorded_until_a_party_dials_the_code():
    recordings = FakeRecordings()
    c = call()
    features = InCallFeatures(c, {"record_toggle": "*1"}, recordings)

    def body() -> None:
        features.answered(1000.0, "2001", "2002")
        assert recordings.recording.events == []
        for digit in "*1":
            features.digit(c.b, digit)
    run(body)
    assert recordings.recording.events == [("toggle", ["ep-2001", "ep-2002"])]


def test_each_partys_digits_are_matched_on_their_own():
    recordings = FakeRecordings()
    c = call()
    features = InCallFeatures(c, {"record_toggle": "*1"}, recordings)

    def body() -> None:
        features.answered(1000.0, "2001", "2002")
        features.digit(c.a, "*")
        features.digit(c.b, "1")  # the other phone's 1 does not complete the caller's *
        features.digit(c.a, "5")
    run(body)
    assert recordings.recording.events == []


def test_dialling_the_code_again_toggles_again_and_the_end_of_the_call_finishes_the_file():
    recordings = FakeRecordings()
    c = call()
    features = InCallFeatures(c, {"record_toggle": "*1"}, recordings)

    def body() -> Any:
        features.answered(1000.0, "2001", "2002")
        for digit in "*1*1":
            features.digit(c.a, digit)
        return features.finish()
    assert run(body) == "future"
    assert [e[0] for e in recordings.recording.events] == ["toggle", "toggle"]


def test_without_a_recording_service_the_code_is_ignored_and_finish_has_nothing_to_wait_for():
    c = call()
    features = InCallFeatures(c, {"record_toggle": "*1"}, None)

    def body() -> Any:
        features.answered(1000.0, "2001", "2002")
        for digit in "*1":
            features.digit(c.a, digit)
        return features.finish()
    assert run(body) is None


def test_a_code_waiting_for_the_pause_fires_from_the_timer():
    recordings = FakeRecordings()
    c = call()
    # With a longer code starting with *1, *1 alone is only known after the inter-digit pause.
    features = InCallFeatures(c, {"record_toggle": "*1", "conference_from_call": "*12"}, recordings)

    async def main() -> list[Any]:
        features.answered(1000.0, "2001", "2002")
        for matcher_digit in "*1":
            features.digit(c.a, matcher_digit)
        for matcher in features._matchers.values():
            matcher.timeout = 0.05
        features._arm()
        await asyncio.sleep(0.2)
        return recordings.recording.events

    assert asyncio.run(main()) == [("toggle", ["ep-2001", "ep-2002"])]
