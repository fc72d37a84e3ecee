"""The engine's 20 ms tick schedule, sans-I/O: which ticks are due at `now`, and when to wake next.

Deadlines are absolute (start + n × period) so that late wake-ups do not accumulate into drift: a tick that runs
3 ms late is followed by one that is due 17 ms later.  When the loop stalls for longer than `max_catch_up`
periods the clock gives up on the missed ticks and re-anchors, because sending a burst of stale frames would only
overflow the phones' jitter buffers.
"""

from __future__ import annotations

__all__ = ["TickClock"]


class TickClock:
    """Absolute-deadline tick scheduler driven by a monotonic `now` (seconds)."""

    def __init__(self, period: float = 0.020, max_catch_up: int = 5) -> None:
        if period <= 0:
            raise ValueError("tick period must be positive")
        self.period = period
        self.max_catch_up = max_catch_up
        self.anchor = 0.0
        self.ticks = 0        # ticks run since the last anchor
        self.total_ticks = 0  # ticks run since start, for anything counted in ticks
        self.skipped = 0      # ticks given up after a stall
        self.started = False

    def start(self, now: float) -> None:
        """Anchor the schedule: the first tick is due one period after `now`."""
        self.anchor = now
        self.ticks = 0
        self.started = True

    @property
    def next_deadline(self) -> float:
        return self.anchor + (self.ticks + 1) * self.period

    def due(self, now: float) -> int:
        """How many ticks to run now (0 when early); re-anchors after a stall longer than max_catch_up ticks."""
        if not self.started:
            self.start(now)
            return 0
        late = now - self.next_deadline
        if late < 0:
            return 0
        count = int(late / self.period) + 1
        if count > self.max_catch_up:
            self.skipped += count - 1
            self.anchor = now - self.period * (self.ticks + 1)  # the current tick is due exactly now
            count = 1
        return count

    def advance(self, count: int = 1) -> None:
        """Mark `count` due ticks as run."""
        self.ticks += count
        self.total_ticks += count

    def delay(self, now: float) -> float:
        """Seconds to sleep before the next tick is due (never negative)."""
        return max(0.0, self.next_deadline - now)
