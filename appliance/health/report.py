"""Board health as an installer reads it: the `health` object of pbxd's status reply turned into lines.

pbxd sends `BoardHealth.as_dict()`; `appliance status` renders it here with the wall-clock time it read
(`now`, aware UTC), so the RTC's drift against the system clock can be shown. Pure: no clock, no bus.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

#: |RTC - system clock| below this is reported as in step (the RTC counts whole seconds)
IN_STEP_SECONDS = 2


def _duration(seconds: float) -> str:
    """3 s, 4 min 5 s, 2 h 3 min, 3 days 4 h: precise enough to judge a clock."""
    seconds = int(round(abs(seconds)))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} day{'s' if days != 1 else ''} {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"


def _problem(reading: Mapping[str, Any]) -> str:
    state = reading.get("state") or "unknown"
    detail = reading.get("detail")
    return f"{state} ({detail})" if detail else str(state)


def temperature_line(reading: Mapping[str, Any]) -> str:
    """'41.5 °C', or why there is no reading."""
    celsius = reading.get("celsius")
    if reading.get("state") == "ok" and isinstance(celsius, (int, float)):
        return f"{celsius:.1f} °C"
    return _problem(reading)


def drift_text(rtc_time: dt.datetime, now: dt.datetime) -> str:
    """How far the RTC (naive UTC) is from the system clock (`now`, aware)."""
    drift = (rtc_time.replace(tzinfo=dt.UTC) - now).total_seconds()
    if abs(drift) < IN_STEP_SECONDS:
        return "in step with the system clock"
    return f"{_duration(drift)} {'ahead of' if drift > 0 else 'behind'} the system clock"


def rtc_line(reading: Mapping[str, Any], now: dt.datetime | None) -> str:
    """Time, drift and what the oscillator-stop flag says about the backup battery."""
    try:
        time = dt.datetime.fromisoformat(reading["time"]) if reading.get("time") else None
    except (TypeError, ValueError):
        time = None
    state = reading.get("state")
    if state == "stopped" or reading.get("oscillator_stopped"):
        shown = f" (reads {time:%Y-%m-%d %H:%M:%S})" if time else ""
        return f"oscillator stopped, time lost{shown}: backup battery flat or missing? Set the clock"
    if state != "ok" or time is None:
        return _problem(reading)
    parts = [f"{time:%Y-%m-%d %H:%M:%S} UTC"]
    if now is not None:
        parts.append(drift_text(time, now))
    parts.append("battery ok (the clock kept running)")
    return ", ".join(parts)


def health_lines(health: Mapping[str, Any], now: dt.datetime | None = None) -> list[str]:
    """The block `appliance status` prints for pbxd's `health` object."""
    if health.get("error"):
        return [f"  unreadable: {health['error']}"]
    lines = []
    if isinstance(health.get("temperature"), Mapping):
        lines.append(f"  temperature  {temperature_line(health['temperature'])}")
    if isinstance(health.get("rtc"), Mapping):
        lines.append(f"  RTC          {rtc_line(health['rtc'], now)}")
    return lines or ["  no readings"]
