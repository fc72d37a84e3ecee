"""English (US) number, count, date and time phrases as prompt ids."""

from __future__ import annotations

from datetime import date, datetime

from appliance.prompts.compose.common import NOUNS_WITH_NONE, day_of_month

DIGIT_ONE = "digit_1"


def plural(n: int) -> str:
    """CLDR plural category: one or many (English has no 'few')."""
    return "one" if n == 1 else "many"


def _below_1000(n: int) -> list[str]:
    out: list[str] = []
    hundreds, rest = divmod(n, 100)
    if hundreds:
        out.append(f"num_{hundreds}00")  # "one hundred", "two hundred": American, no "and"
    if 0 < rest < 10:
        out.append(f"digit_{rest}")
    elif 10 <= rest < 20:
        out.append(f"num_{rest}")
    elif rest:
        tens, unit = divmod(rest, 10)
        out.append(f"num_{tens}0")
        if unit:
            out.append(f"digit_{unit}")
    return out


def number(n: int) -> list[str]:
    """0..999 999: 'twelve thousand three hundred forty five'."""
    if n == 0:
        return ["digit_0"]
    thousands, rest = divmod(n, 1000)
    out: list[str] = []
    if thousands:
        out += _below_1000(thousands) + [f"num_thousand_{plural(thousands)}"]
    return out + _below_1000(rest)


def count(n: int, noun: str, you_have: bool) -> list[str]:
    """'you have three new messages', 'you have no new messages'."""
    head = ["you_have"] if you_have else []
    if n == 0 and noun in NOUNS_WITH_NONE:
        return head + [f"{noun}_none"]
    return head + number(n) + [f"{noun}_{plural(n)}"]


def clock(hour: int, minute: int) -> list[str]:
    """12-hour clock: 'two forty one P M', 'two oh five A M', 'twelve P M'."""
    out = number(hour % 12 or 12)
    if 0 < minute < 10:
        out += ["time_oh", f"digit_{minute}"]
    elif minute:
        out += number(minute)
    return out + ["time_am" if hour < 12 else "time_pm"]


def year(y: int) -> list[str]:
    """Years as people say them: 'twenty twenty four', 'nineteen oh five', 'two thousand five'."""
    high, low = divmod(y, 100)
    if not 1100 <= y <= 9999 or low == 0 or y % 1000 < 10:
        return number(y)
    return number(high) + (["time_oh", f"digit_{low}"] if low < 10 else number(low))


def date_phrase(day: date, with_year: bool) -> list[str]:
    """'March third', 'March third twenty twenty four'."""
    out = [f"month_{day.month}"] + day_of_month(day.day)
    return out + year(day.year) if with_year else out


def when(moment: datetime, days_ago: int, with_year: bool) -> list[str]:
    """'today at two forty one P M', 'on Monday at ...', 'March third at ...'."""
    if days_ago == 0:
        head = ["time_today"]
    elif days_ago == 1:
        head = ["time_yesterday"]
    elif 1 < days_ago < 7:
        head = [f"on_weekday_{moment.weekday()}"]
    else:
        head = date_phrase(moment.date(), with_year)
    return head + ["time_at"] + clock(moment.hour, moment.minute)
