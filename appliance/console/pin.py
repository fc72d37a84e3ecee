"""Rate limiting of wrong console PINs, with time passed in.

Two wrong PINs cost nothing (typos happen); the third locks the prompt for 30 s and each further
one for twice as long as the last, up to 15 minutes. A four-digit PIN then takes months to guess over the
UART, while an installer who mistyped twice loses nothing.
"""

from __future__ import annotations


class PinLimiter:
    """Counts wrong PINs and says how long the prompt stays locked."""

    def __init__(self, free_attempts: int = 3, first_lockout: float = 30.0, max_lockout: float = 900.0) -> None:
        self.free_attempts = free_attempts
        self.first_lockout = first_lockout
        self.max_lockout = max_lockout
        self.failures = 0
        self._locked_until = 0.0

    def wait(self, now: float) -> float:
        """Seconds until the next PIN may be tried (0 when it may be tried now)."""
        return max(0.0, self._locked_until - now)

    def failure(self, now: float) -> float:
        """Record a wrong PIN; returns the lockout it caused (0 while attempts are free)."""
        self.failures += 1
        excess = self.failures - self.free_attempts
        if excess < 0:
            return 0.0
        lockout = min(self.max_lockout, self.first_lockout * 2**excess)
        self._locked_until = now + lockout
        return lockout

    def success(self) -> None:
        self.failures = 0
        self._locked_until = 0.0


PIN_DIGITS = (4, 8)


def parse_pin(text: str) -> str:
    """A console PIN as typed: 4 to 8 digits (what a keypad-style prompt on a UART can take)."""
    value = text.strip()
    low, high = PIN_DIGITS
    if not value.isdigit() or not value.isascii():
        raise ValueError(f"the PIN must be {low} to {high} digits, nothing else")
    if not low <= len(value) <= high:
        raise ValueError(f"the PIN must be {low} to {high} digits, not {len(value)}")
    return value
