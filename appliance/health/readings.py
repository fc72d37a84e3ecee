"""What a sensor read can end in; shared by the chip readers."""

from __future__ import annotations

import enum
from typing import Protocol


class SensorState(enum.Enum):
    """The outcome of reading one chip, so callers can tell 'absent' from 'broken' from 'fine'."""

    OK = "ok"
    ABSENT = "absent"  # no ACK on the bus (or no bus): the chip is not fitted or not powered
    INVALID = "invalid"  # the chip answered with values its datasheet does not allow
    STOPPED = "stopped"  # RTC only: the oscillator stopped, the time it holds is not to be trusted


class SMBusLike(Protocol):
    """The subset of smbus2.SMBus the readers use; tests pass tests/fakes/fake_smbus.FakeSMBus."""

    def read_i2c_block_data(
        self, i2c_addr: int, register: int, length: int, force: bool | None = None
    ) -> list[int]: ...

    def read_byte_data(self, i2c_addr: int, register: int, force: bool | None = None) -> int: ...

    def write_byte_data(self, i2c_addr: int, register: int, value: int, force: bool | None = None) -> None: ...

    def write_i2c_block_data(
        self, i2c_addr: int, register: int, data: list[int], force: bool | None = None
    ) -> None: ...
