"""Russian number, count, date and time phrases as prompt ids.

Russian agrees the number with the noun: один/одна/одно and два/две by gender (тысяча is
feminine: одна тысяча, две тысячи), and the noun takes one of three forms by the number's
last digits (CLDR plural categories): one (1, 21, 101), few (2-4, 22-24), many (0, 5-20, 11-14,
25-30). Dates use genitive ordinals after "получено" (третьего марта, двадцать первого мая)
and nominative ones alone (третье марта); years are genitive ordinals of their last part
(две тысячи двадцать четвёртого года). Clock times are read like the speaking clock
(четырнадцать часов сорок одна минута) so that no preposition has to be a prompt of its own.
"""

from __future__ import annotations

from datetime import date, datetime

from appliance.prompts.compose.common import NOUNS_WITH_NONE, day_of_month

DIGIT_ONE = "digit_1"

# Grammatical gender of each countable noun: m, f or n.
GENDER = {"message": "n", "new_message": "n", "old_message": "n", "hour": "m", "minute": "f", "second": "f"}
_ONE = {"m": "digit_1", "f": "ru_odin_f", "n": "ru_odin_n"}
_TWO = {"m": "digit_2", "f": "ru_dva_f", "n": "digit_2"}


def plural(n: int) -> str:
    """CLDR plural category for Russian cardinals."""
    if n % 10 == 1 and n % 100 != 11:
        return "one"
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return "few"
    return "many"


def _below_1000(n: int, gender: str) -> list[str]:
    hundreds, rest = divmod(n, 100)
    out = [f"num_{hundreds}00"] if hundreds else []
    if 10 <= rest < 20:
        return out + [f"num_{rest}"]
    tens, units = divmod(rest, 10)
    if tens:
        out.append(f"num_{tens}0")
    if units == 1:
        out.append(_ONE[gender])
    elif units == 2:
        out.append(_TWO[gender])
    elif units:
        out.append(f"digit_{units}")
    return out


def number(n: int, gender: str = "m") -> list[str]:
    """0..999 999 agreeing with a noun of `gender`: двадцать одна тысяча пятьсот два."""
    if n == 0:
        return ["digit_0"]
    thousands, rest = divmod(n, 1000)
    out: list[str] = []
    if thousands:
        out += _below_1000(thousands, "f") + [f"num_thousand_{plural(thousands)}"]
    if rest:
        out += _below_1000(rest, gender)
    return out


def count(n: int, noun: str, you_have: bool) -> list[str]:
    """у вас три новых сообщения / у вас одно новое сообщение / у вас нет новых сообщений."""
    head = ["you_have"] if you_have else []
    if n == 0 and noun in NOUNS_WITH_NONE:
        return head + [f"{noun}_none"]
    return head + number(n, GENDER[noun]) + [f"{noun}_{plural(n)}"]


def clock(hour: int, minute: int) -> list[str]:
    """24-hour, speaking-clock style: четырнадцать часов сорок одна минута; on the hour, hours only."""
    out = number(hour) + [f"hour_{plural(hour)}"]
    if minute:
        out += number(minute, "f") + [f"minute_{plural(minute)}"]
    return out


def year_genitive(y: int) -> list[str]:
    """1000..2999 as 'of the year': две тысячи двадцать четвёртого года, двухтысячного года."""
    if not 1000 <= y <= 2999:
        raise ValueError(f"Russian years are spoken for 1000..2999, not {y}")
    thousands, rest = divmod(y, 1000)
    if rest == 0:
        return [f"ru_ordg_{thousands}000", "ru_goda"]
    out = ["num_thousand_one"] if thousands == 1 else ["ru_dva_f", "num_thousand_few"]
    hundreds, rest = divmod(rest, 100)
    if rest == 0:
        return out + [f"ru_ordg_{hundreds}00", "ru_goda"]
    if hundreds:
        out.append(f"num_{hundreds}00")
    if rest < 20 or rest % 10 == 0:
        out.append(f"ru_ordg_{rest}")
    else:
        out += [f"num_{rest // 10 * 10}", f"ru_ordg_{rest % 10}"]
    return out + ["ru_goda"]


def date_phrase(day: date, with_year: bool, genitive: bool = False) -> list[str]:
    """третье марта (две тысячи двадцать четвёртого года); genitive: третьего марта."""
    out = day_of_month(day.day, "ru_ordg" if genitive else "ord") + [f"month_{day.month}"]
    return out + year_genitive(day.year) if with_year else out


def when(moment: datetime, days_ago: int, with_year: bool) -> list[str]:
    """сегодня четырнадцать часов сорок одна минута; в понедельник …; третьего марта …."""
    if days_ago == 0:
        head = ["time_today"]
    elif days_ago == 1:
        head = ["time_yesterday"]
    elif 1 < days_ago < 7:
        head = [f"on_weekday_{moment.weekday()}"]
    else:
        head = date_phrase(moment.date(), with_year, genitive=True)
    return head + clock(moment.hour, moment.minute)
