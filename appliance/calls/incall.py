"""In-call feature codes: the digits one party dials during an answered call, matched for that party.

Digits arrive one at a time (RFC 4733 events or SIP INFO) and still reach the other party — the matcher only
watches, as Asterisk's feature digits do when they are passed through. A code counts when its digits come
less than `timeout` apart (2 s, Asterisk's `featuredigittimeout`); a longer pause starts over, so digits typed
into a far IVR minutes apart never add up to a code. An exact code fires on its last digit, unless a longer
code begins with it (then it fires when the pause runs out); a code that takes an argument (blind transfer +
number) collects digits until the pause or `#`. Sans-I/O: `now` is passed in, and the owner arms one timer
at `deadline` when it is not None and calls `poll()` then.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

__all__ = ["DIGIT_TIMEOUT", "InCallMatch", "InCallMatcher", "in_call_codes"]

DIGIT_TIMEOUT = 2.0  # seconds allowed between the digits of one code
_DIGITS = frozenset("0123456789*#ABCD")


@dataclass(frozen=True)
class InCallMatch:
    """A recognised code: the feature's name, the code dialled and, for argument codes, the digits after it."""

    feature: str
    code: str
    argument: str = ""


class InCallMatcher:
    """Matches one party's digits against in-call codes (feature name → code)."""

    def __init__(self, codes: Mapping[str, str], takes_argument: Collection[str] = (),
                 timeout: float = DIGIT_TIMEOUT) -> None:
        if timeout <= 0:
            raise ValueError(f"the inter-digit timeout must be positive, not {timeout}")
        self.timeout = timeout
        self._exact = {code: name for name, code in codes.items() if code and name not in takes_argument}
        self._argument = {code: name for name, code in codes.items() if code and name in takes_argument}
        self._all = [*self._exact, *self._argument]
        self._buffer = ""
        self._last = 0.0

    @property
    def buffer(self) -> str:
        """The digits kept so far (for diagnostics and tests)."""
        return self._buffer

    @property
    def deadline(self) -> float | None:
        """When `poll()` would complete a match (an ambiguous exact code or an argument code); else None."""
        if self._buffer and self._complete() is not None:
            return self._last + self.timeout
        return None

    def reset(self) -> None:
        self._buffer = ""

    def feed(self, digit: str, now: float) -> list[InCallMatch]:
        """One digit dialled at `now`; returns the codes it completes (usually none, at most two)."""
        digit = digit.upper()
        if len(digit) != 1 or digit not in _DIGITS:
            raise ValueError(f"not a DTMF digit: {digit!r}")
        matches = self.poll(now)
        if self._buffer and now - self._last > self.timeout:
            self._buffer = ""  # a pause: whatever was typed before cannot be part of a code any more
        self._last = now
        argument_code = self._argument_code()
        if argument_code is not None and digit == "#" and len(self._buffer) > len(argument_code):
            matches.append(self._fire(self._argument[argument_code], argument_code))  # '#' ends the number
            return matches
        self._buffer += digit
        self._settle()
        if self._buffer in self._exact and not self._longer_codes_start_with(self._buffer):
            matches.append(self._fire(self._exact[self._buffer], self._buffer))
        return matches

    def poll(self, now: float) -> list[InCallMatch]:
        """Complete a pending match whose pause has run out (call at `deadline`; harmless at any time)."""
        if not self._buffer or now - self._last < self.timeout:
            return []
        complete = self._complete()
        self._buffer = ""
        return [complete] if complete is not None else []

    # --- internals -----------------------------------------------------------------------------------
    def _settle(self) -> None:
        """Drop leading digits until the buffer can still become a code ("5*1" → "*1", "**1" → "*1")."""
        while self._buffer and not self._could_match(self._buffer):
            self._buffer = self._buffer[1:]

    def _could_match(self, text: str) -> bool:
        for code in self._all:
            if code.startswith(text):
                return True
        for code in self._argument:
            if text.startswith(code) and text[len(code):].isdigit():
                return True
        return False

    def _longer_codes_start_with(self, text: str) -> bool:
        return any(code != text and code.startswith(text) for code in self._all)

    def _argument_code(self) -> str | None:
        """The argument code the buffer begins with, when it is collecting that code's argument."""
        for code in sorted(self._argument, key=len, reverse=True):
            rest = self._buffer[len(code):]
            if self._buffer.startswith(code) and (rest == "" or rest.isdigit()):
                return code
        return None

    def _complete(self) -> InCallMatch | None:
        """What the buffer means if nothing more is dialled."""
        if self._buffer in self._exact:
            return InCallMatch(self._exact[self._buffer], self._buffer)
        code = self._argument_code()
        if code is not None and len(self._buffer) > len(code):
            return InCallMatch(self._argument[code], code, self._buffer[len(code):])
        return None

    def _fire(self, feature: str, code: str) -> InCallMatch:
        match = InCallMatch(feature, code, self._buffer[len(code):])
        self._buffer = ""
        return match


def in_call_codes(codes: Mapping[str, str], features: Mapping[str, object], wanted: Collection[str]) -> dict[str, str]:
    """The codes of the in-call features in `wanted` that the code set in force (`FeatureCodes.codes`) defines.

    `features` is `features.FEATURES`; only features marked `in_call` are taken, whatever `wanted` says.
    """
    return {name: code for name, code in codes.items()
            if name in wanted and code and getattr(features.get(name), "in_call", False)}
