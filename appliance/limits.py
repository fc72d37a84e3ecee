"""Settings that are a number of seconds within bounds: parsed from what an installer types, read back safely.

The same key can be written by one front end (the console) and read by another (pbxd's network service),
so the bounds and the fallback live in one object per key: a value typed out of range is refused with a
message, and one stored out of range (an older firmware, a hand edit) falls back to the default with a
log line rather than stopping the reader.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SecondsSetting:
    """One settings key holding whole seconds from `low` to `high`."""

    key: str
    default: float
    low: float
    high: float
    #: how the installer calls it, for messages ("the idle timeout")
    what: str

    def check(self, seconds: float) -> float:
        """`seconds` if within bounds; ValueError saying the bounds otherwise."""
        if not self.low <= seconds <= self.high:
            raise ValueError(f"{self.what} must be from {self.low:g} to {self.high:g} seconds, not {seconds:g}")
        return seconds

    def parse(self, text: str) -> float:
        """Typed input: a whole number of seconds within bounds."""
        value = text.strip().lower().removesuffix("s").strip()
        if not value.isdigit():
            bounds = f"{self.low:g}-{self.high:g}"
            raise ValueError(f"{self.what} is a whole number of seconds ({bounds}), not '{text.strip()}'")
        return self.check(float(int(value)))

    def read(self, value: Any) -> float:
        """A stored value; missing means the default, and so (logged) does anything out of bounds."""
        if value is None:
            return self.default
        try:
            if isinstance(value, bool):
                raise TypeError("a boolean is not a number of seconds")
            return self.check(float(value))
        except (TypeError, ValueError) as err:
            log.warning("setting %s=%r is unusable (%s); using %g s", self.key, value, err, self.default)
            return self.default
