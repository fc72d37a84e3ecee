"""A call's in-call codes and recording, with fake legs and a fake recording service (no engine, no SIP)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from appliance.calls import incall_features
from appliance.calls.incall_features import InCallFeatures
from appliance.recording.indications import PAUSED, STARTED


class FakeRecording:
    def __init__(self) -> None:
        self.events: list[Any] = []
        self.active = False
        self.finished = False
        self.outcome: str | None = None  # what toggle() answers instead of started/stopped

    def start(self, endpoints: list[Any], *, forced: bool = False) -> bool:
        self.events.append(("start", [e.name for e in endpoints], forced))
        self.active = True
        return True

    def toggle(self, endpoints: list[Any]) -> str:
        self.events.append(("toggle", [e.name for e in endpoints]))
        if self.outcome is not None:
            return self.outcome
        self.active = not self.active
        return "started" if self.active else "stopped"

    def finish(self) -> str:
        self.finished = True
        return "future"


class FakeRecordings:
    def __init__(self, recorded: set[str] = frozenset(), announce: bool = False) -> None:
        self.recorded = recorded
        self.announce = announce
        self.made: list[tuple[Any, ...]] = []
        self.recording = FakeRecording()

    def wanted_by(self, *numbers: str | None) -> bool:
        return any(n in self.recorded for n in numbers)

    def for_call(self, start: float, caller: str, callee: str, label: str) -> FakeRecording:
        self.made.append((start, caller, callee, label))
        return self.recording


class FakeEndpoint:
    """An engine endpoint as far as tones go: what was played to it, and whether something still plays."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.closed = False
        self.player: Any = None
        self.played: list[Any] = []

    def play(self, source: Any, loop: bool = False) -> Any:
        self.played.append(source)
        return source


class FakeLeg:
    """A leg as the Call holds it: hashable by identity, with its extension and media endpoint."""

    def __init__(self, user: str) -> None:
        self.user = user
        self.ended = False
        self.endpoint = FakeEndpoint(f"ep-{user}")


def leg(user: str) -> FakeLeg:
    return FakeLeg(user)


class FakeCall:
    def __init__(self) -> None:
        self.id = 7
        self.a, self.b = leg("2001"), leg("2002")


def call() -> FakeCall:
    return FakeCall()


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


# --- what the parties hear -------------------------------------------------------------------------------------


@pytest.fixture
def quick_tones(monkeypatch):
    monkeypatch.setattr(incall_features, "TONE_DELAY", 0.02)
    monkeypatch.setattr(incall_features, "ANNOUNCE_DELAY", 0.05)


def dial(features: InCallFeatures, leg: FakeLeg, digits: str, wait: float = 0.1) -> Any:
    """Answer, dial `digits` on `leg`, and return (what each endpoint heard right away, and after `wait`)."""
    async def main() -> Any:
        features.answered(1000.0, "2001", "2002")
        for digit in digits:
            features.digit(leg, digit)
        at_once = [list(features.call.a.endpoint.played), list(features.call.b.endpoint.played)]
        await asyncio.sleep(wait)
        return at_once, [features.call.a.endpoint.played, features.call.b.endpoint.played]
    return asyncio.run(main())


def test_both_parties_hear_the_start_tone_shortly_after_the_code(quick_tones):
    c = call()
    at_once, later = dial(InCallFeatures(c, {"record_toggle": "*1"}, FakeRecordings()), c.a, "*1")
    assert at_once == [[], []]  # not over the rest of the relayed DTMF event
    assert later == [[STARTED], [STARTED]]


def test_pausing_sounds_different_from_starting(quick_tones):
    c = call()
    _, heard = dial(InCallFeatures(c, {"record_toggle": "*1"}, FakeRecordings()), c.b, "*1*1")
    assert PAUSED != STARTED
    assert heard == [[PAUSED], [PAUSED]]  # the second code came before the first tone: only the state in force


def test_pausing_after_the_start_tone_plays_both_in_turn(quick_tones):
    c = call()
    features = InCallFeatures(c, {"record_toggle": "*1"}, FakeRecordings())

    async def main() -> Any:
        features.answered(1000.0, "2001", "2002")
        for digits in ("*1", "*1"):
            for digit in digits:
                features.digit(c.a, digit)
            await asyncio.sleep(0.1)
        return c.a.endpoint.played, c.b.endpoint.played
    assert asyncio.run(main()) == ([STARTED, PAUSED], [STARTED, PAUSED])


@pytest.mark.parametrize("outcome, tone", [("kept", STARTED), ("refused", PAUSED)])
def test_a_code_that_changes_nothing_tells_only_the_party_who_dialled_the_state_in_force(quick_tones, outcome, tone):
    c = call()
    recordings = FakeRecordings()
    recordings.recording.outcome = outcome
    _, heard = dial(InCallFeatures(c, {"record_toggle": "*1"}, recordings), c.b, "*1")
    assert heard == [[], [tone]]


def test_a_party_hearing_music_on_hold_keeps_it(quick_tones):
    c = call()
    c.b.endpoint.player = "music on hold"
    _, heard = dial(InCallFeatures(c, {"record_toggle": "*1"}, FakeRecordings()), c.a, "*1")
    assert heard == [[STARTED], []]


def test_no_tone_after_the_call_ended(quick_tones):
    c = call()
    features = InCallFeatures(c, {"record_toggle": "*1"}, FakeRecordings())

    async def main() -> Any:
        features.answered(1000.0, "2001", "2002")
        for digit in "*1":
            features.digit(c.a, digit)
        features.finish()
        await asyncio.sleep(0.1)
        return c.a.endpoint.played, c.b.endpoint.played
    assert asyncio.run(main()) == ([], [])


@pytest.mark.parametrize("announce", [False, True])
def test_a_call_recorded_from_its_answer_is_announced_to_both_only_when_the_box_says_so(quick_tones, announce):
    c = call()
    at_once, heard = dial(InCallFeatures(c, {"record_toggle": "*1"}, FakeRecordings({"2001"}, announce=announce)),
                          c.a, "")
    assert at_once == [[], []]  # shortly after the answer, once both phones play what they are sent
    expected = [STARTED] if announce else []
    assert heard == [expected, expected]


def test_a_recording_that_could_not_start_at_the_answer_is_not_announced(quick_tones):
    c = call()
    recordings = FakeRecordings({"2001"}, announce=True)
    recordings.recording.start = lambda endpoints, forced=False: False  # e.g. below the free-space cap
    _, heard = dial(InCallFeatures(c, {"record_toggle": "*1"}, recordings), c.a, "")
    assert heard == [[], []]
