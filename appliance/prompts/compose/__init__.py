"""Speech composition: numbers, counts, dates and times as lists of prompt ids, per language.

Pure functions (no audio, no clock): the caller passes `now` and plays the ids with
`PromptLibrary.sequence(ids, lang)`. A language without a composer of its own is spoken
with the English rules (and, for ids its catalogue lacks, English audio).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import date, datetime
from types import ModuleType

from appliance.prompts.compose import common, en, ru, zh
from appliance.prompts.compose.common import MAX_NUMBER, NOUNS, check_noun, check_number

log = logging.getLogger(__name__)

COMPOSERS: dict[str, ModuleType] = {"en": en, "zh": zh, "ru": ru}
_warned: set[str] = set()

__all__ = [
    "COMPOSERS", "MAX_NUMBER", "NOUNS", "say_clock", "say_count", "say_date", "say_digits",
    "say_duration", "say_menu", "say_number", "say_option", "say_time",
]


def _composer(lang: str) -> ModuleType:
    composer = COMPOSERS.get(lang)
    if composer is None:
        if lang not in _warned:
            _warned.add(lang)
            log.warning("no speech composer for language %r: numbers and dates use English rules", lang)
        return en
    return composer


def say_number(n: int, lang: str) -> list[str]:
    """A cardinal number 0..999 999 (masculine in Russian): [num_20, digit_1] for 21."""
    check_number(n)
    return _composer(lang).number(n)


def say_digits(text: str, lang: str) -> list[str]:
    """Digits and . * # + : (and a-f for IPv6) one by one: '192.168.1.1' -> one nine two dot …."""
    return common.digit_ids(text, _composer(lang).DIGIT_ONE)


def say_count(n: int, noun: str, lang: str, *, you_have: bool = True) -> list[str]:
    """'you have three new messages' / 'one new message' / 'no new messages'; noun from NOUNS."""
    check_number(n)
    check_noun(noun)
    return _composer(lang).count(n, noun, you_have)


def say_duration(seconds: int, lang: str) -> list[str]:
    """'one minute twenty seconds', 'два часа'; zero parts are left out (0 s is 'zero seconds')."""
    if seconds < 0:
        raise ValueError(f"negative duration: {seconds}")
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    composer = _composer(lang)
    out: list[str] = []
    for value, noun in ((hours, "hour"), (minutes, "minute"), (secs, "second")):
        if value:
            check_number(value)
            out += composer.count(value, noun, False)
    return out or composer.count(0, "second", False)


def say_clock(hour: int, minute: int, lang: str) -> list[str]:
    """A time of day in the language's usual clock: 'two forty one P M', 下午两点四十一分."""
    if not (0 <= hour < 24 and 0 <= minute < 60):
        raise ValueError(f"not a time of day: {hour}:{minute}")
    return _composer(lang).clock(hour, minute)


def say_date(day: date, lang: str, *, year: bool = False) -> list[str]:
    """'March third' (with `year`: 'March third twenty twenty four'), 三月三日, третье марта."""
    return _composer(lang).date_phrase(day, year)


def say_time(when: datetime, lang: str, *, now: datetime) -> list[str]:
    """When something happened, relative to `now`: today / yesterday / a weekday within the last
    week / a date (with the year if not this year), then the time of day."""
    days_ago = (now.date() - when.date()).days
    if days_ago < 0:  # a clock set back: name the date rather than "today"
        days_ago = 7
    return _composer(lang).when(when, days_ago, when.year != now.year)


def say_option(action: str, key: str, lang: str) -> list[str]:
    """One menu option: [opt_delete, press, digit_7] — 'To delete this message, press seven'."""
    return common.option_ids(action, key)


def say_menu(options: Iterable[tuple[str, str]], lang: str) -> list[str]:
    """Several options in the order given: say_menu([("opt_rerecord", "1"), ("opt_accept", "2")], lang)."""
    return common.menu_ids(options)
