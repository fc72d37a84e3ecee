"""One board-health summary for the console (and later `appliance status`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from appliance.health import ds3231, tmp102
from appliance.health.ds3231 import RtcReading
from appliance.health.readings import SensorState, SMBusLike
from appliance.health.tmp102 import TemperatureReading

log = logging.getLogger(__name__)

DEFAULT_BUS = 1  # /dev/i2c-1 on the board


@dataclass(frozen=True)
class BoardHealth:
    """Readings of every health chip; each carries its own state, so one absent chip hides nothing else."""

    temperature: TemperatureReading
    rtc: RtcReading
    notes: tuple[str, ...] = field(default=())

    def lines(self) -> list[str]:
        """Human-readable lines, plain ASCII."""
        return [self.temperature.describe(), self.rtc.describe(), *self.notes]

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form for `appliance status` and the control socket."""
        return {
            "temperature": {
                "state": self.temperature.state.value,
                "celsius": self.temperature.celsius,
                "detail": self.temperature.detail,
            },
            "rtc": {
                "state": self.rtc.state.value,
                "time": self.rtc.time.isoformat() if self.rtc.time else None,
                "oscillator_stopped": self.rtc.oscillator_stopped,
                "celsius": self.rtc.celsius,
                "detail": self.rtc.detail,
            },
        }


def board_health(
    bus: SMBusLike | None = None,
    *,
    bus_number: int = DEFAULT_BUS,
    temperature_address: int = tmp102.DEFAULT_ADDRESS,
    rtc_address: int = ds3231.DEFAULT_ADDRESS,
) -> BoardHealth:
    """Read all health chips; without `bus`, open /dev/i2c-<bus_number> (absent bus = absent chips)."""
    if bus is not None:
        return BoardHealth(tmp102.read_temperature(bus, temperature_address), ds3231.read_rtc(bus, rtc_address))
    try:
        from smbus2 import SMBus

        real_bus = SMBus(bus_number)
    except (OSError, ImportError) as err:
        log.info("no I2C bus %d: %s", bus_number, err)
        detail = f"no I2C bus /dev/i2c-{bus_number}"
        return BoardHealth(
            TemperatureReading(SensorState.ABSENT, detail=detail), RtcReading(SensorState.ABSENT, detail=detail)
        )
    with real_bus:
        return BoardHealth(
            tmp102.read_temperature(real_bus, temperature_address), ds3231.read_rtc(real_bus, rtc_address)
        )
