"""Board health over I2C: the TMP102 temperature sensor and the DS3231 real-time clock."""

from __future__ import annotations

from appliance.health.ds3231 import RtcReading, read_rtc, write_rtc
from appliance.health.readings import SensorState
from appliance.health.summary import BoardHealth, board_health
from appliance.health.tmp102 import TemperatureReading, read_temperature

__all__ = [
    "BoardHealth",
    "RtcReading",
    "SensorState",
    "TemperatureReading",
    "board_health",
    "read_rtc",
    "read_temperature",
    "write_rtc",
]
