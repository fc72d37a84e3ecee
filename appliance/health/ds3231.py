"""Maxim DS3231 real-time clock (I2C address 0x68), read and set as its datasheet says.

Registers 0x00-0x06 hold seconds, minutes, hours, day of week, date, month (bit 7: century) and
year in BCD; the hours register is 24-hour unless bit 6 is set (then bit 5 is PM and the hour is
1-12). The pointer auto-increments, so one block read returns the whole time. Status register 0x0F
bit 7 (OSF) is set whenever the oscillator stopped (first power-up, flat battery): the time is then
not to be trusted until it is set again. 0x11/0x12 hold the die temperature in 0.25 degC steps.
The same time layout is used by the DS1307 (where seconds bit 7 is the clock-halt flag).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from appliance.health.readings import SensorState, SMBusLike

log = logging.getLogger(__name__)

DEFAULT_ADDRESS = 0x68
REG_SECONDS = 0x00
REG_CONTROL = 0x0E
REG_STATUS = 0x0F
REG_TEMP_MSB = 0x11
STATUS_OSF = 0x80
HOURS_12H = 0x40
HOURS_PM = 0x20
MONTH_CENTURY = 0x80


@dataclass(frozen=True)
class RtcReading:
    """The RTC's time (naive, as the box keeps UTC in the RTC), or why it cannot be trusted."""

    state: SensorState
    time: dt.datetime | None = None
    oscillator_stopped: bool = False
    celsius: float | None = None
    detail: str = ""

    def describe(self) -> str:
        """One line for the console and `appliance status`."""
        if self.state is SensorState.OK and self.time is not None:
            return f"RTC: {self.time:%Y-%m-%d %H:%M:%S} UTC"
        if self.state is SensorState.STOPPED:
            shown = f"{self.time:%Y-%m-%d %H:%M:%S}" if self.time else "no valid time"
            return f"RTC: oscillator stopped, time lost ({shown}); set the clock"
        return f"RTC: {self.state.value} ({self.detail})"


def bcd_to_int(value: int) -> int:
    """Decode one packed-BCD byte; raise ValueError if a nibble is not a decimal digit."""
    high, low = value >> 4, value & 0x0F
    if high > 9 or low > 9:
        raise ValueError(f"0x{value:02x} is not a BCD number")
    return high * 10 + low


def int_to_bcd(value: int) -> int:
    """Encode 0-99 as packed BCD."""
    if not 0 <= value <= 99:
        raise ValueError(f"{value} does not fit in two BCD digits")
    return (value // 10) << 4 | value % 10


def decode_hours(value: int) -> int:
    """Hours register to 0-23, in either 12-hour or 24-hour mode."""
    if value & HOURS_12H:
        hour = bcd_to_int(value & 0x1F)
        if not 1 <= hour <= 12:
            raise ValueError(f"12-hour register holds hour {hour}")
        return hour % 12 + (12 if value & HOURS_PM else 0)
    return bcd_to_int(value & 0x3F)


def decode_time(regs: list[int]) -> dt.datetime:
    """Registers 0x00-0x06 to a datetime; ValueError when they hold an impossible time."""
    if len(regs) < 7:
        raise ValueError(f"need 7 time registers, got {len(regs)}")
    second = bcd_to_int(regs[0] & 0x7F)
    minute = bcd_to_int(regs[1] & 0x7F)
    hour = decode_hours(regs[2])
    day = bcd_to_int(regs[4] & 0x3F)
    month = bcd_to_int(regs[5] & 0x1F)
    year = 2000 + bcd_to_int(regs[6]) + (100 if regs[5] & MONTH_CENTURY else 0)
    return dt.datetime(year, month, day, hour, minute, second)  # raises ValueError for 31 Feb, second 60


def encode_time(when: dt.datetime) -> list[int]:
    """A datetime to registers 0x00-0x06 in 24-hour mode (years 2000-2199)."""
    if not 2000 <= when.year <= 2199:
        raise ValueError(f"the RTC holds years 2000-2199, not {when.year}")
    century = MONTH_CENTURY if when.year >= 2100 else 0
    return [
        int_to_bcd(when.second),
        int_to_bcd(when.minute),
        int_to_bcd(when.hour),
        when.isoweekday(),  # 1-7; the chip only counts it, the meaning is ours (Monday = 1)
        int_to_bcd(when.day),
        int_to_bcd(when.month) | century,
        int_to_bcd(when.year % 100),
    ]


def decode_temperature(msb: int, lsb: int) -> float:
    """The DS3231's die temperature: signed integer degrees plus a 0.25 degC fraction in bits 7:6."""
    whole = msb - 256 if msb & 0x80 else msb
    return whole + (lsb >> 6) * 0.25


def read_rtc(bus: SMBusLike, address: int = DEFAULT_ADDRESS) -> RtcReading:
    """Read time, oscillator-stop flag and temperature; absent on NACK, invalid on impossible values."""
    try:
        regs = bus.read_i2c_block_data(address, REG_SECONDS, 7)
        status = bus.read_byte_data(address, REG_STATUS)
        temp = bus.read_i2c_block_data(address, REG_TEMP_MSB, 2)
    except OSError as err:
        log.debug("RTC at 0x%02x did not answer: %s", address, err)
        return RtcReading(SensorState.ABSENT, detail=f"no answer at I2C 0x{address:02x}: {err.strerror or err}")
    stopped = bool(status & STATUS_OSF)
    celsius = decode_temperature(temp[0], temp[1])
    try:
        when = decode_time(regs)
    except ValueError as err:
        state = SensorState.STOPPED if stopped else SensorState.INVALID
        return RtcReading(state, oscillator_stopped=stopped, celsius=celsius, detail=str(err))
    if stopped:
        return RtcReading(SensorState.STOPPED, when, True, celsius, "oscillator stop flag set")
    return RtcReading(SensorState.OK, when, False, celsius)


def write_rtc(bus: SMBusLike, when: dt.datetime, address: int = DEFAULT_ADDRESS) -> None:
    """Set the clock and then clear the oscillator-stop flag (only a write of 0 clears it)."""
    bus.write_i2c_block_data(address, REG_SECONDS, encode_time(when))
    status = bus.read_byte_data(address, REG_STATUS)
    bus.write_byte_data(address, REG_STATUS, status & ~STATUS_OSF & 0xFF)
