"""Seconds settings: typed values are refused with the bounds, stored ones fall back to the default."""

from __future__ import annotations

import pytest

from appliance.limits import SecondsSetting

IDLE = SecondsSetting("console.idle_seconds", 300.0, 30.0, 3600.0, "the idle timeout")


@pytest.mark.parametrize(("typed", "seconds"), [("30", 30.0), (" 3600 ", 3600.0), ("90s", 90.0)])
def test_typed_whole_seconds_within_bounds_are_taken(typed: str, seconds: float) -> None:
    assert IDLE.parse(typed) == seconds


@pytest.mark.parametrize(
    ("typed", "message"),
    [("29", "from 30 to 3600 seconds, not 29"), ("3601", "not 3601"), ("1.5", "whole number"), ("", "whole number"),
     ("-40", "whole number")],
)
def test_typed_values_out_of_bounds_say_the_bounds(typed: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        IDLE.parse(typed)


@pytest.mark.parametrize(("stored", "seconds"), [(None, 300.0), (45, 45.0), ("600", 600.0), (5, 300.0),
                                                 (True, 300.0), ("soon", 300.0), (float("nan"), 300.0)])
def test_stored_values_fall_back_to_the_default_when_unusable(stored: object, seconds: float) -> None:
    assert IDLE.read(stored) == seconds
