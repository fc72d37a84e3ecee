"""Template filters and parsing of dates typed into forms (the box's local time zone)."""

from __future__ import annotations

import datetime
from typing import Any

from flask import Flask

DATE_FORMAT = "%Y-%m-%d"


def parse_date(text: str) -> datetime.date:
    """YYYY-MM-DD (what <input type=date> sends); ValueError with a readable message otherwise."""
    try:
        return datetime.datetime.strptime(text.strip(), DATE_FORMAT).date()
    except ValueError:
        raise ValueError(f"'{text.strip()}' is not a date like 2024-03-14") from None


def day_start(day: datetime.date) -> float:
    """Epoch seconds of local midnight at the start of `day`."""
    return datetime.datetime.combine(day, datetime.time.min).timestamp()


def format_time(epoch: float | None) -> str:
    if epoch is None:
        return ""
    return datetime.datetime.fromtimestamp(epoch).strftime("%Y-%m-%d %H:%M:%S")


def format_duration(seconds: Any) -> str:
    """HH:MM:SS as in the CooVox call log."""
    total = max(0, int(seconds or 0))
    return f"{total // 3600:02d}:{total % 3600 // 60:02d}:{total % 60:02d}"


def init_app(app: Flask) -> None:
    app.jinja_env.filters["datetime"] = format_time
    app.jinja_env.filters["duration"] = format_duration
