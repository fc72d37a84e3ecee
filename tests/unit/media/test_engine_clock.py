"""The engine's tick schedule: absolute deadlines, catch-up after short stalls, re-anchoring after long ones."""

from __future__ import annotations

import pytest

from appliance.media.clock import TickClock


def run(clock: TickClock, now: float) -> int:
    count = clock.due(now)
    clock.advance(count)
    return count


def test_first_tick_is_due_one_period_after_start() -> None:
    clock = TickClock(0.02)
    clock.start(100.0)
    assert clock.due(100.019) == 0
    assert clock.due(100.020) == 1
    assert clock.delay(100.005) == pytest.approx(0.015)


def test_late_wakeups_do_not_accumulate_drift() -> None:
    clock = TickClock(0.02)
    clock.start(0.0)
    now = 0.0
    for _ in range(1000):
        now = clock.next_deadline + 0.003  # every wake-up 3 ms late
        assert run(clock, now) == 1
    # After 1000 ticks the schedule is still exactly 20 s from the anchor, not 23 s.
    assert clock.next_deadline == pytest.approx(1001 * 0.02)


def test_a_short_stall_is_caught_up_with_the_missed_ticks() -> None:
    clock = TickClock(0.02, max_catch_up=5)
    clock.start(0.0)
    assert run(clock, 0.065) == 3
    assert clock.next_deadline == pytest.approx(0.08)


def test_a_long_stall_re_anchors_instead_of_bursting() -> None:
    clock = TickClock(0.02, max_catch_up=5)
    clock.start(0.0)
    assert run(clock, 1.0) == 1
    assert clock.skipped == 49
    assert clock.next_deadline == pytest.approx(1.02)
    assert run(clock, 1.02) == 1


def test_due_before_start_anchors_the_clock() -> None:
    clock = TickClock(0.02)
    assert clock.due(5.0) == 0
    assert clock.next_deadline == pytest.approx(5.02)


def test_period_must_be_positive() -> None:
    with pytest.raises(ValueError):
        TickClock(0)
