"""Mandarin number, count, date and time phrases as prompt ids.

Rules (现代汉语数字读法): one 零 for any run of zeros between non-zero places (一百零一,
一千零一, 两千零二十四) and none at the end; 两 instead of 二 before 千/万 and before a measure
word (两千, 两万, 两条), while 百 uses the catalogue's 两百; 十 alone at the start of a number
(十, 十五, 十万) but 一十 inside one (一百一十); 万 groups four places (一万二千三百四十五).
"""

from __future__ import annotations

from datetime import date, datetime

from appliance.prompts.compose.common import NOUNS_WITH_NONE, day_of_month, digit_ids

DIGIT_ONE = "zh_yao"  # 幺 when digits are read one by one


def plural(n: int) -> str:
    """Chinese nouns do not inflect: every count uses the 'many' prompt."""
    return "many"


def _below_10k(n: int, leading: bool) -> list[str]:
    """1..9999; `leading` when nothing precedes it (十五 rather than 一十五)."""
    thousands, rest = divmod(n, 1000)
    hundreds, rest = divmod(rest, 100)
    tens, units = divmod(rest, 10)
    out: list[str] = []
    gap = False  # a zero place seen after a non-zero one: say 零 before the next non-zero
    if thousands:
        out += ["zh_liang" if thousands == 2 else f"digit_{thousands}", "num_thousand_many"]
    if hundreds:
        out.append(f"num_{hundreds}00")
    elif out:
        gap = True
    if tens:
        if gap:
            out.append("digit_0")
            gap = False
        if tens == 1 and leading and not out:
            return [f"num_{10 + units}"]  # 十, 十一 … 十九
        out += ["digit_1", "num_10"] if tens == 1 else [f"num_{tens}0"]
    elif out:
        gap = True
    if units:
        if gap:
            out.append("digit_0")
        out.append(f"digit_{units}")
    return out


def number(n: int) -> list[str]:
    """0..999 999: 一万二千三百四十五, 九十九万九千九百九十九."""
    if n == 0:
        return ["digit_0"]
    high, low = divmod(n, 10_000)
    if not high:
        return _below_10k(low, leading=True)
    out = ["zh_liang"] if high == 2 else _below_10k(high, leading=True)
    out.append("zh_wan")
    if low:
        if low < 1000:
            out.append("digit_0")  # 一万零一, 十万零五百
        out += _below_10k(low, leading=False)
    return out


def _counted(n: int) -> list[str]:
    """A number before a measure word: 两条, 十二条."""
    return ["zh_liang"] if n == 2 else number(n)


def count(n: int, noun: str, you_have: bool) -> list[str]:
    """您有三条新留言 / 您没有新留言 (the measure word is part of the noun prompt)."""
    if n == 0 and noun in NOUNS_WITH_NONE:
        return (["zh_nin"] if you_have else []) + [f"{noun}_none"]
    return (["you_have"] if you_have else []) + _counted(n) + [f"{noun}_many"]


def clock(hour: int, minute: int) -> list[str]:
    """下午两点四十一分, 上午九点零五分, 中午十二点: a period of the day, then a 12-hour clock."""
    if hour < 6:
        period = "zh_lingchen"
    elif hour < 12:
        period = "time_am"
    elif hour == 12:
        period = "zh_zhongwu"
    elif hour < 18:
        period = "time_pm"
    else:
        period = "zh_wanshang"
    out = [period] + _counted(hour % 12 or 12) + ["zh_dian"]
    if 0 < minute < 10:
        out += ["time_oh", f"digit_{minute}", "zh_fen"]
    elif minute:
        out += number(minute) + ["zh_fen"]
    return out


def year(y: int) -> list[str]:
    """Years digit by digit: 二零二四年."""
    return digit_ids(str(y)) + ["zh_nian"]


def date_phrase(day: date, with_year: bool) -> list[str]:
    """(二零二四年) 三月 三日."""
    out = year(day.year) if with_year else []
    return out + [f"month_{day.month}"] + day_of_month(day.day)


def when(moment: datetime, days_ago: int, with_year: bool) -> list[str]:
    """今天下午两点四十一分, 星期一上午九点, 三月三日下午两点."""
    if days_ago == 0:
        head = ["time_today"]
    elif days_ago == 1:
        head = ["time_yesterday"]
    elif 1 < days_ago < 7:
        head = [f"on_weekday_{moment.weekday()}"]
    else:
        head = date_phrase(moment.date(), with_year)
    return head + clock(moment.hour, moment.minute)
