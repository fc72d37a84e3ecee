"""A fake I2C bus with smbus2.SMBus's method names, emulating chips at the register level.

Every SMBus call is reduced to the two I2C transactions a real adapter performs: a write (first
byte sets the chip's register pointer, the rest are data) and a read (bytes from the pointer on).
A chip answers as its datasheet says; an address nobody answers raises OSError(EREMOTEIO), which is
what i2c-dev reports for a NACK.
"""

from __future__ import annotations

import datetime as dt
import errno
from typing import Protocol

from appliance.health import ds3231, tmp102


class FakeDevice(Protocol):
    def i2c_write(self, data: bytes) -> None: ...

    def i2c_read(self, length: int) -> bytes: ...


class FakeSMBus:
    """Drop-in for smbus2.SMBus in the health readers' tests."""

    def __init__(self, devices: dict[int, FakeDevice] | None = None, *, nack_errno: int = errno.EREMOTEIO) -> None:
        self.devices: dict[int, FakeDevice] = dict(devices or {})
        self.nack_errno = nack_errno
        self.transactions: list[tuple[str, int, bytes]] = []
        self.closed = False

    def _device(self, addr: int) -> FakeDevice:
        if self.closed:
            raise OSError(errno.EBADF, "bus closed")
        device = self.devices.get(addr)
        if device is None:
            raise OSError(self.nack_errno, f"{errno.errorcode.get(self.nack_errno, '?')}: no ACK from 0x{addr:02x}")
        return device

    def _write(self, addr: int, data: bytes) -> None:
        device = self._device(addr)
        self.transactions.append(("w", addr, data))
        device.i2c_write(data)

    def _read(self, addr: int, length: int) -> bytes:
        device = self._device(addr)
        data = device.i2c_read(length)
        self.transactions.append(("r", addr, data))
        return data

    # smbus2.SMBus API -------------------------------------------------------------------------
    def write_byte(self, i2c_addr: int, value: int, force: bool | None = None) -> None:
        self._write(i2c_addr, bytes([value]))

    def read_byte(self, i2c_addr: int, force: bool | None = None) -> int:
        return self._read(i2c_addr, 1)[0]

    def read_byte_data(self, i2c_addr: int, register: int, force: bool | None = None) -> int:
        self._write(i2c_addr, bytes([register]))
        return self._read(i2c_addr, 1)[0]

    def write_byte_data(self, i2c_addr: int, register: int, value: int, force: bool | None = None) -> None:
        self._write(i2c_addr, bytes([register, value]))

    def read_word_data(self, i2c_addr: int, register: int, force: bool | None = None) -> int:
        """SMBus words are little-endian: the first byte on the wire is the low byte."""
        self._write(i2c_addr, bytes([register]))
        low, high = self._read(i2c_addr, 2)
        return low | high << 8

    def write_word_data(self, i2c_addr: int, register: int, value: int, force: bool | None = None) -> None:
        self._write(i2c_addr, bytes([register, value & 0xFF, value >> 8 & 0xFF]))

    def read_i2c_block_data(self, i2c_addr: int, register: int, length: int, force: bool | None = None) -> list[int]:
        self._write(i2c_addr, bytes([register]))
        return list(self._read(i2c_addr, length))

    def write_i2c_block_data(self, i2c_addr: int, register: int, data: list[int], force: bool | None = None) -> None:
        self._write(i2c_addr, bytes([register, *data]))

    def close(self) -> None:
        self.closed = True

    def __enter__(self) -> FakeSMBus:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FakeTMP102:
    """TMP102: four 16-bit registers behind a 2-bit pointer, MSB first; temperature is read-only."""

    CONFIG_POWER_ON = 0x60A0  # R1/R0 = 11 (12-bit), CR = 10 (4 Hz), AL = 1
    CONFIG_EM = 0x0010
    CONFIG_READ_ONLY = 0x6000 | 0x0080  # resolution bits R1/R0 and the AL alert bit

    def __init__(self, celsius: float = 25.0) -> None:
        self.registers = {
            tmp102.REG_TEMPERATURE: 0,
            tmp102.REG_CONFIG: self.CONFIG_POWER_ON,
            tmp102.REG_T_LOW: 0x4B00,  # 75 degC, power-on default
            tmp102.REG_T_HIGH: 0x5000,  # 80 degC
        }
        self.pointer = 0
        self.celsius = celsius

    @property
    def extended(self) -> bool:
        return bool(self.registers[tmp102.REG_CONFIG] & self.CONFIG_EM)

    @property
    def celsius(self) -> float:
        msb, lsb = self.registers[tmp102.REG_TEMPERATURE] >> 8, self.registers[tmp102.REG_TEMPERATURE] & 0xFF
        return tmp102.decode_temperature(msb, lsb)

    @celsius.setter
    def celsius(self, value: float) -> None:
        """Simulate a conversion result, clamped to what the current mode can represent."""
        msb, lsb = tmp102.encode_temperature(value, extended=self.extended)
        self.registers[tmp102.REG_TEMPERATURE] = msb << 8 | lsb

    def i2c_write(self, data: bytes) -> None:
        if not data:
            return
        self.pointer = data[0] & 0x03
        if len(data) >= 3 and self.pointer != tmp102.REG_TEMPERATURE:
            value = data[1] << 8 | data[2]
            if self.pointer == tmp102.REG_CONFIG:
                keep = self.registers[tmp102.REG_CONFIG] & self.CONFIG_READ_ONLY
                was_extended = self.extended
                value = (value & ~self.CONFIG_READ_ONLY) | keep
                self.registers[tmp102.REG_CONFIG] = value & 0xFFFF
                if was_extended != self.extended:
                    # the next conversion comes out in the new format
                    msb, lsb = (
                        self.registers[tmp102.REG_TEMPERATURE] >> 8,
                        self.registers[tmp102.REG_TEMPERATURE] & 0xFF,
                    )
                    self.celsius = tmp102.decode_temperature(msb, lsb)
            else:
                self.registers[self.pointer] = value & 0xFFF0

    def i2c_read(self, length: int) -> bytes:
        value = self.registers[self.pointer]
        pair = bytes([value >> 8, value & 0xFF])
        return (pair * (length // 2 + 1))[:length]


class FakeDS3231:
    """DS3231: 19 byte registers, BCD time, auto-incrementing pointer that wraps after 0x12."""

    REGISTER_COUNT = 0x13
    READ_ONLY = {0x11, 0x12}  # temperature

    def __init__(
        self, time: dt.datetime | None = None, *, oscillator_stopped: bool = True, celsius: float = 25.0
    ) -> None:
        self.registers = [0] * self.REGISTER_COUNT
        self.registers[ds3231.REG_CONTROL] = 0x1C  # power-on: INTCN, RS2, RS1
        self.registers[ds3231.REG_STATUS] = 0x88 if oscillator_stopped else 0x08  # OSF at first power-up, EN32kHz
        self.pointer = 0
        self.set_time(time or dt.datetime(2000, 1, 1, 0, 0, 0))
        self.set_temperature(celsius)

    def set_time(self, when: dt.datetime, *, twelve_hour: bool = False) -> None:
        """Load the time registers as the chip would hold them (optionally in 12-hour mode)."""
        self.registers[0:7] = ds3231.encode_time(when)
        if twelve_hour:
            hour12 = when.hour % 12 or 12
            self.registers[2] = (
                ds3231.HOURS_12H | (ds3231.HOURS_PM if when.hour >= 12 else 0) | ds3231.int_to_bcd(hour12)
            )

    def set_temperature(self, celsius: float) -> None:
        quarters = round(celsius * 4)
        whole, frac = quarters // 4, quarters % 4
        self.registers[0x11] = whole & 0xFF
        self.registers[0x12] = frac << 6

    @property
    def oscillator_stopped(self) -> bool:
        return bool(self.registers[ds3231.REG_STATUS] & ds3231.STATUS_OSF)

    def i2c_write(self, data: bytes) -> None:
        if not data:
            return
        self.pointer = data[0] % self.REGISTER_COUNT
        for value in data[1:]:
            if self.pointer == ds3231.REG_STATUS:
                # OSF can only be cleared (written 0), never set, by the host; bits 2:0 are read-only
                osf = self.registers[self.pointer] & ds3231.STATUS_OSF & value
                self.registers[self.pointer] = osf | (value & 0x78) | (self.registers[self.pointer] & 0x07)
            elif self.pointer not in self.READ_ONLY:
                self.registers[self.pointer] = value
            self.pointer = (self.pointer + 1) % self.REGISTER_COUNT

    def i2c_read(self, length: int) -> bytes:
        out = bytearray()
        for _ in range(length):
            out.append(self.registers[self.pointer])
            self.pointer = (self.pointer + 1) % self.REGISTER_COUNT
        return bytes(out)
