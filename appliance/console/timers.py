"""The console's two timers as settings: how long an idle session stays open, and how long a network
change waits to be kept (the same `network.confirm_seconds` the web admin's change waits for)."""

from __future__ import annotations

from appliance.limits import SecondsSetting
from appliance.network.service import CONFIRM

#: an unlocked menu nobody types into goes back to the locked prompt after this long
IDLE = SecondsSetting("console.idle_seconds", 300.0, 30.0, 3600.0, "the idle timeout")

__all__ = ["CONFIRM", "IDLE", "describe_seconds"]


def describe_seconds(seconds: float) -> str:
    """'5 minutes', '90 seconds': how the console words a timer."""
    if seconds >= 60 and seconds % 60 == 0:
        minutes = int(seconds // 60)
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{seconds:g} seconds"
