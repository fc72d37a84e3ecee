"""DS3231 real-time clock read and set through the register-level fake bus."""

from __future__ import annotations

import datetime as dt

import pytest

from appliance.health import SensorState, read_rtc, write_rtc
from appliance.health.ds3231 import bcd_to_int, decode_hours, decode_time, encode_time, int_to_bcd
from tests.fakes.fake_smbus import FakeDS3231, FakeSMBus

WHEN = dt.datetime(2024, 2, 29, 23, 59, 58)


@pytest.mark.parametrize(("value", "bcd"), [(0, 0x00), (9, 0x09), (10, 0x10), (59, 0x59), (99, 0x99)])
def test_bcd_round_trips(value: int, bcd: int) -> None:
    assert int_to_bcd(value) == bcd
    assert bcd_to_int(bcd) == value


@pytest.mark.parametrize("bad", [0x0A, 0xA0, 0x5F, 0xFF])
def test_non_decimal_nibbles_are_rejected(bad: int) -> None:
    with pytest.raises(ValueError, match="not a BCD"):
        bcd_to_int(bad)


@pytest.mark.parametrize(
    ("register", "hour"),
    [(0x23, 23), (0x00, 0), (0x40 | 0x12, 0), (0x40 | 0x01, 1), (0x40 | 0x20 | 0x12, 12), (0x40 | 0x20 | 0x11, 23)],
)
def test_hours_decode_in_12_and_24_hour_modes(register: int, hour: int) -> None:
    assert decode_hours(register) == hour


def test_time_registers_are_bcd_as_in_the_datasheet() -> None:
    assert encode_time(WHEN) == [0x58, 0x59, 0x23, 4, 0x29, 0x02, 0x24]
    assert decode_time([0x58, 0x59, 0x23, 4, 0x29, 0x02, 0x24]) == WHEN


def test_century_bit_carries_years_past_2099() -> None:
    regs = encode_time(dt.datetime(2101, 3, 1))
    assert regs[5] & 0x80
    assert decode_time(regs).year == 2101


def test_reads_a_set_clock() -> None:
    bus = FakeSMBus({0x68: FakeDS3231(WHEN, oscillator_stopped=False, celsius=31.75)})
    reading = read_rtc(bus)
    assert reading.state is SensorState.OK
    assert reading.time == WHEN
    assert reading.celsius == 31.75
    assert reading.describe() == "RTC: 2024-02-29 23:59:58 UTC"


def test_reads_a_clock_kept_in_12_hour_mode() -> None:
    chip = FakeDS3231(oscillator_stopped=False)
    chip.set_time(dt.datetime(2024, 5, 1, 15, 4, 5), twelve_hour=True)
    assert read_rtc(FakeSMBus({0x68: chip})).time == dt.datetime(2024, 5, 1, 15, 4, 5)


def test_negative_die_temperature() -> None:
    chip = FakeDS3231(oscillator_stopped=False, celsius=-10.25)
    assert chip.registers[0x11] == 0xF5 and chip.registers[0x12] == 0xC0  # -11 + 0.75
    assert read_rtc(FakeSMBus({0x68: chip})).celsius == -10.25


def test_stopped_oscillator_means_the_time_is_not_trusted() -> None:
    reading = read_rtc(FakeSMBus({0x68: FakeDS3231(WHEN)}))  # first power-up: OSF set
    assert reading.state is SensorState.STOPPED
    assert reading.oscillator_stopped
    assert "set the clock" in reading.describe()


def test_setting_the_clock_clears_the_oscillator_stop_flag() -> None:
    chip = FakeDS3231()
    bus = FakeSMBus({0x68: chip})
    write_rtc(bus, WHEN)
    assert not chip.oscillator_stopped
    assert read_rtc(bus).time == WHEN
    assert read_rtc(bus).state is SensorState.OK


def test_host_cannot_set_the_oscillator_stop_flag() -> None:
    chip = FakeDS3231(oscillator_stopped=False)
    FakeSMBus({0x68: chip}).write_byte_data(0x68, 0x0F, 0x80)
    assert not chip.oscillator_stopped


def test_impossible_date_is_invalid() -> None:
    chip = FakeDS3231(WHEN, oscillator_stopped=False)
    chip.registers[4] = 0x31  # 31 February
    reading = read_rtc(FakeSMBus({0x68: chip}))
    assert reading.state is SensorState.INVALID
    assert "day is out of range" in reading.detail


def test_garbage_bcd_is_invalid() -> None:
    chip = FakeDS3231(WHEN, oscillator_stopped=False)
    chip.registers[0] = 0x7A
    assert read_rtc(FakeSMBus({0x68: chip})).state is SensorState.INVALID


def test_pointer_auto_increments_and_wraps() -> None:
    chip = FakeDS3231(WHEN, oscillator_stopped=False)
    bus = FakeSMBus({0x68: chip})
    data = bus.read_i2c_block_data(0x68, 0x11, 4)
    assert data[2:] == chip.registers[0:2]


def test_absent_rtc_is_reported_not_raised() -> None:
    reading = read_rtc(FakeSMBus({}))
    assert reading.state is SensorState.ABSENT
    assert reading.time is None
