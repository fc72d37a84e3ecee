"""`appliance status`'s board-health lines: temperature in °C, RTC time, its drift and the battery's word."""

from __future__ import annotations

import datetime as dt

import pytest

from appliance.health.report import health_lines, rtc_line, temperature_line

NOW = dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


def rtc(time: str | None, state: str = "ok", stopped: bool = False, detail: str = "") -> dict:
    return {"state": state, "time": time, "oscillator_stopped": stopped, "celsius": 30.25, "detail": detail}


def test_a_healthy_board_reads_as_degrees_time_and_a_running_clock() -> None:
    health = {"temperature": {"state": "ok", "celsius": 41.5, "detail": ""}, "rtc": rtc("2025-01-02T03:04:05")}
    assert health_lines(health, NOW) == [
        "  temperature  41.5 °C",
        "  RTC          2025-01-02 03:04:05 UTC, in step with the system clock, battery ok (the clock kept running)",
    ]


@pytest.mark.parametrize(
    ("rtc_time", "drift"),
    [
        ("2025-01-02T03:04:06", "in step with the system clock"),
        ("2025-01-02T03:04:12", "7 s ahead of the system clock"),
        ("2025-01-02T03:01:00", "3 min 5 s behind the system clock"),
        ("2025-01-02T05:10:05", "2 h 6 min ahead of the system clock"),
        ("2024-12-29T01:04:05", "4 days 2 h behind the system clock"),
    ],
)
def test_the_rtc_drift_is_said_in_words(rtc_time: str, drift: str) -> None:
    assert drift in rtc_line(rtc(rtc_time), NOW)


def test_without_a_system_time_no_drift_is_claimed() -> None:
    assert rtc_line(rtc("2025-01-02T03:04:05"), None) == "2025-01-02 03:04:05 UTC, battery ok (the clock kept running)"


def test_a_stopped_oscillator_points_at_the_battery() -> None:
    line = rtc_line(rtc("2000-01-01T00:00:07", state="stopped", stopped=True), NOW)
    assert line.startswith("oscillator stopped, time lost (reads 2000-01-01 00:00:07)")
    assert "battery flat or missing" in line and "ahead" not in line


def test_absent_chips_say_why() -> None:
    assert temperature_line({"state": "absent", "celsius": None, "detail": "no I2C bus /dev/i2c-1"}) == (
        "absent (no I2C bus /dev/i2c-1)"
    )
    assert rtc_line(rtc(None, state="absent", detail="no ACK at 0x68"), NOW) == "absent (no ACK at 0x68)"


def test_an_unreadable_bus_is_one_line() -> None:
    assert health_lines({"error": "I/O error"}, NOW) == ["  unreadable: I/O error"]
