"""Call-progress tones: Asterisk indications.conf syntax, country tone sets, a cadence-exact generator.

Syntax (as indications.conf): comma-separated parts `[!]FREQ[+FREQ|*FREQ][/MS]`.
`f1+f2` sums two tones, `f1*f2` is f1 amplitude-modulated by f2 (90 % depth), `0` is
silence, `Mnn` is a MIDI note number instead of Hz. A part without `/MS` lasts forever.
Parts marked `!` play once; at the end of the list playback loops back to the first
part without `!`, or stops when every part has one.

The generator is cadence-exact: it keeps its position in the cadence across reads, so
reads of any size concatenate to the same samples as one big read. Each part is
rendered from a table holding one exact period of its waveform (for whole-Hz
frequencies at 8 kHz that is at most 8000 samples), so a read costs an index and a
copy, never a `sin` over the frame.

The tone sets follow ITU-T E.180 Supplement 2 ("Various tones used in national
networks"), in the form Asterisk's indications.conf uses for the same countries.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

DBM0_PEAK = 22657.0  # peak of a 0 dBm0 sine on the 16-bit scale (µ-law overload is +3.17 dBm0)
DEFAULT_LEVEL_DBM0 = -13.0  # per frequency component, as North American precise tones
_MAX_TABLE = 16000  # longest period table; other parts are computed with sin per read

_PART = re.compile(r"^(?P<once>!)?\s*(?P<f1>M?\d+(?:\.\d+)?)\s*(?:(?P<op>[+*])\s*(?P<f2>M?\d+(?:\.\d+)?))?"
                   r"\s*(?:/\s*(?P<ms>\d+))?$")


def dbm0_to_peak(level_dbm0: float) -> float:
    """Peak amplitude on the 16-bit scale of a sine at `level_dbm0`."""
    return DBM0_PEAK * 10 ** (level_dbm0 / 20)


def _frequency(text: str) -> float:
    if text.startswith("M"):
        return 440.0 * 2 ** ((float(text[1:]) - 69) / 12)  # MIDI note number
    return float(text)


@dataclass(frozen=True)
class TonePart:
    """One segment of a cadence: up to two frequencies for `duration_ms` (0 = forever)."""

    freq1: float
    freq2: float = 0.0
    modulate: bool = False
    duration_ms: int = 0
    once: bool = False

    @property
    def silent(self) -> bool:
        """True for a pause (frequency 0)."""
        return self.freq1 == 0 and self.freq2 == 0

    def __str__(self) -> str:
        def fmt(f: float) -> str:
            return str(int(f)) if f == int(f) else repr(f)
        text = ("!" if self.once else "") + fmt(self.freq1)
        if self.freq2:
            text += ("*" if self.modulate else "+") + fmt(self.freq2)
        if self.duration_ms:
            text += f"/{self.duration_ms}"
        return text


@dataclass(frozen=True)
class ToneSpec:
    """A parsed tone description; immutable so generators can share its tables."""

    parts: tuple[TonePart, ...]

    @classmethod
    def parse(cls, text: str) -> ToneSpec:
        """Parse Asterisk indications syntax; ValueError with the offending part."""
        parts = []
        for raw in text.split(","):
            raw = raw.strip()
            match = _PART.match(raw)
            if match is None:
                raise ValueError(f"bad tone part {raw!r} in {text!r}")
            f2 = match["f2"]
            parts.append(TonePart(_frequency(match["f1"]), _frequency(f2) if f2 else 0.0,
                                  match["op"] == "*", int(match["ms"] or 0), bool(match["once"])))
        return cls(tuple(parts))

    def __str__(self) -> str:
        return ",".join(str(p) for p in self.parts)

    @property
    def repeat_from(self) -> int | None:
        """Index the cadence loops back to, or None when it plays once and stops."""
        return next((i for i, p in enumerate(self.parts) if not p.once), None)

    @property
    def cycle_ms(self) -> int | None:
        """Length of the repeating cycle in ms; None if it stops or holds a part forever."""
        start = self.repeat_from
        if start is None or any(p.duration_ms == 0 for p in self.parts):
            return None
        return sum(p.duration_ms for p in self.parts[start:])


@lru_cache(maxsize=256)
def _period_table(part: TonePart, rate: int, peak: float) -> np.ndarray | None:
    """One exact period of the part's waveform as int16, or None if the period is too long."""
    freqs = [f for f in (part.freq1, part.freq2) if f]
    if any(f != int(f) for f in freqs):
        return None
    g = rate
    for f in freqs:
        g = math.gcd(g, int(f))
    period = rate // g
    if period > _MAX_TABLE:
        return None
    table = _render(part, np.arange(period, dtype=np.float64), rate, peak)
    table.flags.writeable = False
    return table


def _render(part: TonePart, n: np.ndarray, rate: int, peak: float) -> np.ndarray:
    """Samples of the part at sample indices `n` (counted from the start of the part)."""
    w = 2 * np.pi / rate
    x = np.sin(w * part.freq1 * n)
    if part.freq2:
        if part.modulate:
            x *= (1.0 + 0.9 * np.sin(w * part.freq2 * n)) / 1.9
        else:
            x += np.sin(w * part.freq2 * n)
    return np.rint(peak * x).astype(np.int16)


class ToneGenerator:
    """Streams a ToneSpec as int16 samples; `read(n)` returns fewer than n only when a one-shot spec ends."""

    def __init__(self, spec: ToneSpec | str, sample_rate: int = 8000,
                 level_dbm0: float = DEFAULT_LEVEL_DBM0) -> None:
        self.spec = ToneSpec.parse(spec) if isinstance(spec, str) else spec
        self.sample_rate = sample_rate
        self._peak = dbm0_to_peak(level_dbm0)
        self._lengths = [p.duration_ms * sample_rate // 1000 for p in self.spec.parts]
        self._tables = [None if p.silent else _period_table(p, sample_rate, self._peak)
                        for p in self.spec.parts]
        self.reset()

    def reset(self) -> None:
        """Start again from the first part."""
        self._index = 0
        self._pos = 0
        self.finished = not self.spec.parts

    def read(self, n: int) -> np.ndarray:
        """The next `n` samples of the cadence."""
        out = np.zeros(n, dtype=np.int16)
        filled = 0
        while filled < n and not self.finished:
            part = self.spec.parts[self._index]
            length = self._lengths[self._index]
            take = n - filled if length == 0 else min(n - filled, length - self._pos)
            if not part.silent:
                table = self._tables[self._index]
                if table is not None:
                    start = self._pos % table.size
                    if start + take <= table.size:
                        out[filled:filled + take] = table[start:start + take]
                    else:
                        out[filled:filled + take] = table[np.arange(start, start + take) % table.size]
                else:
                    positions = np.arange(self._pos, self._pos + take, dtype=np.float64)
                    out[filled:filled + take] = _render(part, positions, self.sample_rate, self._peak)
            filled += take
            self._pos += take
            if length and self._pos >= length:
                self._advance()
        return out[:filled]

    def _advance(self) -> None:
        self._pos = 0
        self._index += 1
        if self._index == len(self.spec.parts):
            start = self.spec.repeat_from
            if start is None:
                self.finished = True
            else:
                self._index = start


@dataclass(frozen=True)
class ToneSet:
    """The call-progress tones of one country, plus the analog ring cadence (on, off, … in ms)."""

    country: str
    description: str
    dial: ToneSpec
    ringback: ToneSpec
    busy: ToneSpec
    congestion: ToneSpec
    call_waiting: ToneSpec
    stutter: ToneSpec  # dial tone with message waiting / recall
    ring_cadence: tuple[int, ...]


# country: description, ring cadence, dial, ringback, busy, congestion, call waiting, stutter
_US_STUTTER = "!350+440/100,!0/100,!350+440/100,!0/100,!350+440/100,!0/100,350+440"
_TONE_TABLE: dict[str, tuple[str, str, str, str, str, str, str, str]] = {
    "us": ("United States / North America", "2000,4000", "350+440", "440+480/2000,0/4000",
           "480+620/500,0/500", "480+620/250,0/250", "440/300,0/10000", _US_STUTTER),
    "uk": ("United Kingdom", "400,200,400,2000", "350+440", "400+450/400,0/200,400+450/400,0/2000",
           "400/375,0/375", "400/400,0/350,400/225,0/525", "400/100,0/4000", "350+440/750,440/750"),
    "de": ("Germany", "1000,4000", "425", "425/1000,0/4000", "425/480,0/480", "425/240,0/240",
           "425/200,0/200,425/200,0/5000", "!425/100,!0/100,!425/100,!0/100,!425/100,!0/100,425"),
    "fr": ("France", "1500,3500", "440", "440/1500,0/3500", "440/500,0/500", "440/250,0/250",
           "440/300,0/10000", "!440/100,!0/100,!440/100,!0/100,!440/100,!0/100,440"),
    "cn": ("China", "1000,4000", "450", "450/1000,0/4000", "450/350,0/350", "450/700,0/700",
           "450/400,0/4000", "450+425"),
    "ru": ("Russian Federation", "1000,4000", "425", "425/800,0/3200", "425/350,0/350", "425/175,0/175",
           "425/200,0/5000", "!425/100,!0/100,!425/100,!0/100,!425/100,!0/100,425"),
    "jp": ("Japan", "1000,2000", "400", "400*16/1000,0/2000", "400/500,0/500", "400/500,0/500",
           "400*16/500,0/8000", "!400/200,!0/200,!400/200,!0/200,!400/200,!0/200,400"),
    "au": ("Australia", "400,200,400,2000", "413+438", "413+438/400,0/200,413+438/400,0/2000",
           "425/375,0/375", "425/375,0/375,420/375,0/375", "425/200,0/200,425/200,0/4400",
           "413+438/100,0/40"),
    "it": ("Italy", "1000,4000", "425/200,0/200,425/600,0/1000", "425/1000,0/4000", "425/500,0/500",
           "425/200,0/200", "425/400,0/100,425/250,0/100,425/150,0/14000", "470/400,425/400"),
    "nl": ("Netherlands", "1000,4000", "425", "425/1000,0/4000", "425/500,0/500", "425/250,0/250",
           "425/500,0/9500", "425/500,0/50"),
    "in": ("India", "400,200,400,2000", "400*25", "400*25/400,0/200,400*25/400,0/2000", "400/750,0/750",
           "400/250,0/250", "400/200,0/100,400/200,0/7500", _US_STUTTER),
    "es": ("Spain", "1500,3000", "425", "425/1500,0/3000", "425/200,0/200",
           "425/200,0/200,425/200,0/200,425/200,0/600", "425/175,0/175,425/175,0/3500",
           "!425/200,!0/200,!425/200,!0/200,!425/200,!0/200,425"),
    "br": ("Brazil", "1000,4000", "425", "425/1000,0/4000", "425/250,0/250",
           "425/250,0/250,425/750,0/250", "425/50,0/1000", "350+440"),
    "ch": ("Switzerland", "1000,4000", "425", "425/1000,0/4000", "425/500,0/500", "425/200,0/200",
           "425/200,0/200,425/200,0/4000", "!425/100,!0/100,!425/100,!0/100,!425/100,!0/100,425"),
}
_ALIASES = {"gb": "uk", "ca": "us"}


def tone_set(country: str) -> ToneSet:
    """The tone set of a country by ISO-3166 alpha-2 code (case-insensitive); KeyError if unknown."""
    code = country.strip().lower()
    code = _ALIASES.get(code, code)
    if code not in _TONE_TABLE:
        raise KeyError(f"no tone set for country {country!r}; known: {', '.join(countries())}")
    return _build_tone_set(code)


@lru_cache(maxsize=None)
def _build_tone_set(code: str) -> ToneSet:
    desc, cadence, *specs = _TONE_TABLE[code]
    dial, ringback, busy, congestion, call_waiting, stutter = (ToneSpec.parse(s) for s in specs)
    return ToneSet(code, desc, dial, ringback, busy, congestion, call_waiting, stutter,
                   tuple(int(ms) for ms in cadence.split(",")))


def countries() -> list[str]:
    """Country codes with a tone set."""
    return sorted(_TONE_TABLE)
