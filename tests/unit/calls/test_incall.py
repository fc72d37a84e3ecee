"""The in-call code matcher: digits one party dials during a call, an inter-digit pause, injected time."""

from __future__ import annotations

import pytest

from appliance.calls.features import FEATURES, FeatureCodes
from appliance.calls.incall import InCallMatch, InCallMatcher, in_call_codes

RECORD = {"record_toggle": "*1"}


def dial(matcher: InCallMatcher, digits: str, start: float = 100.0, gap: float = 0.3) -> list[InCallMatch]:
    found = []
    for i, digit in enumerate(digits):
        found += matcher.feed(digit, start + i * gap)
    return found


def test_star_one_toggles_recording_on_its_last_digit():
    matcher = InCallMatcher(RECORD)
    assert matcher.feed("*", 10.0) == []
    assert matcher.feed("1", 10.4) == [InCallMatch("record_toggle", "*1")]
    assert matcher.buffer == "" and matcher.deadline is None


def test_the_code_is_found_after_other_digits():
    assert dial(InCallMatcher(RECORD), "45*1") == [InCallMatch("record_toggle", "*1")]
    assert dial(InCallMatcher(RECORD), "**1") == [InCallMatch("record_toggle", "*1")]


def test_digits_further_apart_than_the_timeout_do_not_make_a_code():
    matcher = InCallMatcher(RECORD, timeout=2.0)
    assert matcher.feed("*", 10.0) == []
    assert matcher.feed("1", 12.5) == []
    assert matcher.buffer == ""


def test_a_pause_just_under_the_timeout_still_counts():
    matcher = InCallMatcher(RECORD, timeout=2.0)
    matcher.feed("*", 10.0)
    assert matcher.feed("1", 11.9) == [InCallMatch("record_toggle", "*1")]


def test_dialling_the_code_twice_matches_twice():
    assert dial(InCallMatcher(RECORD), "*1*1") == [InCallMatch("record_toggle", "*1")] * 2


def test_ordinary_digits_match_nothing_and_keep_nothing():
    matcher = InCallMatcher(RECORD)
    assert dial(matcher, "1234567890#") == []
    assert matcher.buffer == ""


def test_a_code_that_starts_a_longer_one_waits_for_the_pause():
    matcher = InCallMatcher({"record_toggle": "*1", "conference_from_call": "*12"})
    assert matcher.feed("*", 10.0) == [] and matcher.feed("1", 10.2) == []
    assert matcher.deadline == pytest.approx(12.2)
    assert matcher.poll(11.0) == []
    assert matcher.poll(12.2) == [InCallMatch("record_toggle", "*1")]
    assert dial(matcher, "*12", start=20.0) == [InCallMatch("conference_from_call", "*12")]


def test_a_digit_after_the_pause_first_completes_the_pending_code():
    matcher = InCallMatcher({"record_toggle": "*1", "conference_from_call": "*12"})
    dial(matcher, "*1", start=10.0)
    assert matcher.feed("5", 13.0) == [InCallMatch("record_toggle", "*1")]


def test_argument_codes_collect_digits_until_the_pause_or_hash():
    matcher = InCallMatcher({"transfer_blind": "#", "record_toggle": "*1"}, takes_argument={"transfer_blind"})
    assert dial(matcher, "#2002", start=10.0) == []
    assert matcher.deadline == pytest.approx(11.2 + 2.0)
    assert matcher.poll(13.2) == [InCallMatch("transfer_blind", "#", "2002")]
    assert dial(matcher, "#2003#", start=20.0) == [InCallMatch("transfer_blind", "#", "2003")]


def test_an_argument_code_without_digits_is_dropped_at_the_pause():
    matcher = InCallMatcher({"transfer_blind": "#"}, takes_argument={"transfer_blind"})
    matcher.feed("#", 10.0)
    assert matcher.deadline is None
    assert matcher.poll(13.0) == [] and matcher.buffer == ""


def test_only_dtmf_digits_are_accepted():
    with pytest.raises(ValueError, match="not a DTMF digit"):
        InCallMatcher(RECORD).feed("x", 1.0)
    with pytest.raises(ValueError, match="timeout"):
        InCallMatcher(RECORD, timeout=0)


def test_in_call_codes_come_from_the_profile_in_force_and_only_the_wanted_features():
    coovox = FeatureCodes("coovox").codes
    assert in_call_codes(coovox, FEATURES, {"record_toggle"}) == {"record_toggle": "*1"}
    overridden = FeatureCodes("coovox", {"record_toggle": "*9"}).codes
    assert in_call_codes(overridden, FEATURES, {"record_toggle"}) == {"record_toggle": "*9"}
    switched_off = FeatureCodes("coovox", {"record_toggle": ""}).codes
    assert in_call_codes(switched_off, FEATURES, {"record_toggle"}) == {}
    # A feature that is not dialled during a call is never taken, even when asked for.
    assert in_call_codes(coovox, FEATURES, {"dnd_on"}) == {}
