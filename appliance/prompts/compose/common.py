"""What every language's composer shares: nouns, digits, keys, menu options, dates."""

from __future__ import annotations

from collections.abc import Iterable

MAX_NUMBER = 999_999

# Counted nouns: the catalogue has <noun>_one/_few/_many, and <noun>_none for those in NOUNS_WITH_NONE.
NOUNS = ("message", "new_message", "old_message", "hour", "minute", "second")
NOUNS_WITH_NONE = frozenset({"message", "new_message", "old_message"})

_SYMBOLS = {".": "sym_dot", "*": "sym_star", "#": "sym_pound", "+": "sym_plus", ":": "sym_colon"}
_SKIPPED = frozenset(" -()\t")  # formatting inside phone numbers: not spoken


def check_number(n: int) -> None:
    """Numbers are spoken from 0 to 999 999."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"say_number wants an int, not {type(n).__name__}")
    if not 0 <= n <= MAX_NUMBER:
        raise ValueError(f"can only say numbers from 0 to {MAX_NUMBER}, not {n}")


def check_noun(noun: str) -> None:
    """Only nouns that every catalogue declines can be counted."""
    if noun not in NOUNS:
        raise ValueError(f"unknown noun {noun!r}; countable nouns: {', '.join(NOUNS)}")


def digit_ids(text: str, one: str = "digit_1") -> list[str]:
    """Characters read one by one: digits, '.', '*', '#', '+', ':', hex letters (IPv6)."""
    out: list[str] = []
    for ch in text:
        if ch in _SKIPPED:
            continue
        if "0" <= ch <= "9":
            out.append(one if ch == "1" else f"digit_{ch}")
        elif ch in _SYMBOLS:
            out.append(_SYMBOLS[ch])
        elif ch.lower() in "abcdef":
            out.append(f"letter_{ch.lower()}")
        else:
            raise ValueError(f"cannot read {ch!r} in {text!r} aloud (digits, . * # + : and a-f only)")
    return out


def key_id(key: str) -> str:
    """The prompt naming a phone key as the object of "press"."""
    if len(key) == 1 and "0" <= key <= "9":
        return f"digit_{key}"
    if key == "*":
        return "key_star"
    if key == "#":
        return "key_pound"
    raise ValueError(f"{key!r} is not a phone key (0-9, * or #)")


def option_ids(action: str, key: str) -> list[str]:
    """'To delete this message, press 7': the action prompt, "press", the key."""
    if not action.startswith("opt_"):
        raise ValueError(f"{action!r} is not a menu option prompt (opt_...)")
    return [action, "press", key_id(key)]


def menu_ids(options: Iterable[tuple[str, str]]) -> list[str]:
    """A whole menu: (action prompt, key) pairs in the order they are offered."""
    out: list[str] = []
    for action, key in options:
        out += option_ids(action, key)
    return out


def day_of_month(day: int, ordinal: str = "ord") -> list[str]:
    """1..31 as an ordinal, tens from the cardinal prompts: num_20 + ord_1 is the 21st."""
    if not 1 <= day <= 31:
        raise ValueError(f"day of month out of range: {day}")
    if day < 20 or day % 10 == 0:
        return [f"{ordinal}_{day}"]
    return [f"num_{day // 10 * 10}", f"{ordinal}_{day % 10}"]
