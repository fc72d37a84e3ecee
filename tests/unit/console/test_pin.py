"""Rate limiting of wrong console PINs, and what a PIN may be."""

from __future__ import annotations

import pytest

from appliance.console.pin import PinLimiter, parse_pin


def test_two_wrong_pins_are_free_then_lockouts_double_up_to_a_cap() -> None:
    pins = PinLimiter(free_attempts=3, first_lockout=30, max_lockout=100)
    assert pins.failure(0) == 0 and pins.failure(1) == 0
    assert pins.wait(1) == 0
    assert pins.failure(2) == 30
    assert pins.wait(10) == 22
    assert pins.wait(32) == 0
    assert pins.failure(40) == 60
    assert pins.failure(100) == 100
    assert pins.failure(200) == 100


def test_a_right_pin_forgets_the_failures() -> None:
    pins = PinLimiter()
    for now in range(3):
        pins.failure(now)
    pins.success()
    assert pins.wait(3) == 0
    assert pins.failure(4) == 0


@pytest.mark.parametrize("pin", ["0000", "12345678", " 4321 "])
def test_a_pin_is_four_to_eight_digits(pin: str) -> None:
    assert parse_pin(pin) == pin.strip()


@pytest.mark.parametrize(("pin", "message"), [("123", "not 3"), ("123456789", "not 9"), ("12 34", "nothing else"),
                                              ("١٢٣٤", "nothing else"), ("", "nothing else")])
def test_anything_else_is_refused(pin: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_pin(pin)
