"""TI TMP102 digital temperature sensor (I2C address 0x48-0x4B), read as its datasheet (SBOS397) says.

Register map (pointer register selects): 0x00 temperature (read-only), 0x01 configuration,
0x02 T_LOW, 0x03 T_HIGH; each is 16 bits sent MSB first. The temperature is a left-aligned two's
complement number of 0.0625 degC per LSB: 12 bits in normal mode, 13 bits in extended mode (EM, bit 4
of the configuration's second byte), where bit 0 of the second byte reads 1 to flag the 13-bit format.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from appliance.health.readings import SensorState, SMBusLike

log = logging.getLogger(__name__)

DEFAULT_ADDRESS = 0x48
REG_TEMPERATURE = 0x00
REG_CONFIG = 0x01
REG_T_LOW = 0x02
REG_T_HIGH = 0x03
LSB_CELSIUS = 0.0625
# The sensor's specified range; a reading outside it means a bus fault or a different chip at 0x48.
MIN_CELSIUS = -55.0
MAX_CELSIUS = 150.0


@dataclass(frozen=True)
class TemperatureReading:
    """A board temperature, or why there is none."""

    state: SensorState
    celsius: float | None = None
    detail: str = ""

    def describe(self) -> str:
        """One line for the console and `appliance status`."""
        if self.state is SensorState.OK and self.celsius is not None:
            return f"Board temperature: {self.celsius:.1f} C"
        return f"Board temperature: {self.state.value} ({self.detail})"


def decode_temperature(msb: int, lsb: int) -> float:
    """Convert the two temperature-register bytes to degC (12-bit or, if flagged, 13-bit format)."""
    raw = (msb << 8) | lsb
    if lsb & 0x01:  # extended mode: 13-bit value in bits 15..3
        value, bits = raw >> 3, 13
    else:
        value, bits = raw >> 4, 12
    if value & (1 << (bits - 1)):
        value -= 1 << bits
    return value * LSB_CELSIUS


def encode_temperature(celsius: float, *, extended: bool = False) -> tuple[int, int]:
    """The two register bytes the chip would send for `celsius` (used by the fake and by tests)."""
    bits = 13 if extended else 12
    value = round(celsius / LSB_CELSIUS)
    lowest, highest = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    value = max(lowest, min(highest, value)) & ((1 << bits) - 1)
    raw = (value << 3) | 0x01 if extended else value << 4
    return (raw >> 8) & 0xFF, raw & 0xFF


def read_temperature(bus: SMBusLike, address: int = DEFAULT_ADDRESS) -> TemperatureReading:
    """Read the TMP102 at `address`; a NACK (OSError) reports the sensor as absent."""
    try:
        msb, lsb = bus.read_i2c_block_data(address, REG_TEMPERATURE, 2)
    except OSError as err:
        log.debug("TMP102 at 0x%02x did not answer: %s", address, err)
        return TemperatureReading(SensorState.ABSENT, detail=f"no answer at I2C 0x{address:02x}: {err.strerror or err}")
    celsius = decode_temperature(msb, lsb)
    if not MIN_CELSIUS <= celsius <= MAX_CELSIUS:
        return TemperatureReading(SensorState.INVALID, detail=f"{celsius:.1f} C is outside the sensor's range")
    return TemperatureReading(SensorState.OK, celsius=celsius)
