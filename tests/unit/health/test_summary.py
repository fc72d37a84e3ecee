"""The board-health summary the console and `appliance status` show."""

from __future__ import annotations

import datetime as dt

from appliance.health import SensorState, board_health
from tests.fakes.fake_smbus import FakeDS3231, FakeSMBus, FakeTMP102


def test_summary_lists_both_chips() -> None:
    bus = FakeSMBus(
        {0x48: FakeTMP102(41.0), 0x68: FakeDS3231(dt.datetime(2025, 1, 2, 3, 4, 5), oscillator_stopped=False)}
    )
    health = board_health(bus)
    assert health.lines() == ["Board temperature: 41.0 C", "RTC: 2025-01-02 03:04:05 UTC"]
    assert health.as_dict()["rtc"]["time"] == "2025-01-02T03:04:05"


def test_one_absent_chip_does_not_hide_the_other() -> None:
    health = board_health(FakeSMBus({0x48: FakeTMP102(20.0)}))
    assert health.temperature.state is SensorState.OK
    assert health.rtc.state is SensorState.ABSENT
    assert health.as_dict()["rtc"]["state"] == "absent"


def test_missing_bus_reports_both_absent() -> None:
    health = board_health(bus_number=250)  # no /dev/i2c-250 on any host
    assert health.temperature.state is SensorState.ABSENT
    assert "i2c-250" in health.rtc.detail
