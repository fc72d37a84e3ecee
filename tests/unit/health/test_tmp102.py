"""TMP102 temperature sensor read through the register-level fake bus."""

from __future__ import annotations

import errno

import pytest

from appliance.health import SensorState, read_temperature
from appliance.health.tmp102 import decode_temperature, encode_temperature
from tests.fakes.fake_smbus import FakeSMBus, FakeTMP102


@pytest.mark.parametrize(
    ("msb", "lsb", "celsius"),
    [
        # datasheet table 5 (12-bit format)
        (0x7F, 0xF0, 127.9375),
        (0x64, 0x00, 100.0),
        (0x19, 0x00, 25.0),
        (0x03, 0x00, 3.0),  # 0x030 * 0.0625
        (0x00, 0x40, 0.25),
        (0x00, 0x00, 0.0),
        (0xFF, 0xC0, -0.25),
        (0xE7, 0x00, -25.0),
        (0xC9, 0x00, -55.0),
        # extended (13-bit) format, flagged by bit 0 of the second byte
        (0x4B, 0x01, 150.0),
        (0x0C, 0x81, 25.0),
        (0xE4, 0x81, -55.0),
    ],
)
def test_temperature_register_decodes_as_in_the_datasheet(msb: int, lsb: int, celsius: float) -> None:
    assert decode_temperature(msb, lsb) == celsius


@pytest.mark.parametrize("celsius", [-55.0, -0.0625, 0.0, 21.5, 127.9375])
def test_encoding_round_trips_in_both_formats(celsius: float) -> None:
    assert decode_temperature(*encode_temperature(celsius)) == celsius
    assert decode_temperature(*encode_temperature(celsius, extended=True)) == celsius


def test_reads_a_negative_temperature_from_the_chip() -> None:
    bus = FakeSMBus({0x48: FakeTMP102(celsius=-12.5)})
    reading = read_temperature(bus)
    assert reading.state is SensorState.OK
    assert reading.celsius == -12.5
    assert reading.describe() == "Board temperature: -12.5 C"


def test_reads_the_temperature_register_through_the_pointer() -> None:
    bus = FakeSMBus({0x48: FakeTMP102(celsius=30.0)})
    read_temperature(bus)
    assert bus.transactions == [("w", 0x48, b"\x00"), ("r", 0x48, bytes(encode_temperature(30.0)))]


def test_extended_mode_reports_above_128_degrees() -> None:
    chip = FakeTMP102()
    bus = FakeSMBus({0x48: chip})
    config = bus.read_i2c_block_data(0x48, 0x01, 2)
    assert config == [0x60, 0xA0]  # power-on default
    bus.write_i2c_block_data(0x48, 0x01, [config[0], config[1] | 0x10])  # EM = 1
    chip.celsius = 140.0
    assert read_temperature(bus).celsius == 140.0


def test_normal_mode_clamps_at_the_12_bit_limit() -> None:
    chip = FakeTMP102(celsius=140.0)
    assert chip.celsius == 127.9375


def test_word_read_comes_back_byte_swapped_as_on_a_real_smbus() -> None:
    bus = FakeSMBus({0x48: FakeTMP102(celsius=25.0)})
    assert bus.read_word_data(0x48, 0x00) == 0x0019  # wire order 0x19 0x00, low byte first


def test_absent_sensor_is_reported_not_raised() -> None:
    reading = read_temperature(FakeSMBus({}))
    assert reading.state is SensorState.ABSENT
    assert reading.celsius is None
    assert "0x48" in reading.detail
    assert "absent" in reading.describe()


def test_nack_raises_oserror_like_i2c_dev() -> None:
    with pytest.raises(OSError) as info:
        FakeSMBus({}).read_byte_data(0x48, 0)
    assert info.value.errno == errno.EREMOTEIO


def test_reading_out_of_the_sensor_range_is_invalid() -> None:
    chip = FakeTMP102()
    chip.registers[0x00] = 0x8000  # -2048 * 0.0625 = -128 C: nothing a TMP102 reports
    reading = read_temperature(FakeSMBus({0x48: chip}))
    assert reading.state is SensorState.INVALID
