"""DTMF: an in-band Goertzel detector (ITU-T Q.23/Q.24) and RFC 4733 telephone events.

Detector. Audio is analysed in blocks of 102 samples (12.75 ms at 8 kHz: long enough
to separate 697/770 Hz) taken every 51 samples (half-overlapping, for time resolution).
The eight Goertzel powers of all blocks in a frame come from one numpy matrix product
(a DFT at the eight exact frequencies, which is what Goertzel computes). A block is a
hit for a digit when:
  * the strongest row and column tones are each above `min_level_dbm0`;
  * twist is within limits: the column (high group) tone at most `normal_twist_db`
    below the row tone, or at most `reverse_twist_db` above it (Q.24's 8 and 4 dB,
    plus 2 dB for the error of a 102-point estimate);
  * each winner is `relative_peak_db` above the other tones of its group;
  * the two tones carry at least `min_tone_fraction` of the block's energy: speech
    and noise spread their energy, a DTMF pair concentrates it (talk-off protection).
A digit is reported once, on its fourth hit in a run (a run survives one odd block): a
40 ms tone always yields at least five, a burst under 20 ms at most three. It ends after three consecutive misses
(a 40 ms pause gives at least four, a 10 ms dropout at most two), so a long digit or a
brief dropout never reports twice.

RFC 4733 (§2.3 payload, §2.5 sender rules): `TelephoneEvent` is the 4-byte payload,
`DtmfSender` yields the packets of one digit, `DtmfReceiver` turns a packet stream
into digits, one per event, de-duplicated by (SSRC, timestamp).
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from appliance.media.rtp import RtpPacket
from appliance.media.tones import DBM0_PEAK

ROWS = (697.0, 770.0, 852.0, 941.0)
COLS = (1209.0, 1336.0, 1477.0, 1633.0)
KEYPAD = ("123A", "456B", "789C", "*0#D")
EVENTS = "0123456789*#ABCD"  # RFC 4733 §3.2: event codes 0-15
FLASH_EVENT = 16


def digit_frequencies(digit: str) -> tuple[float, float]:
    """The (row, column) frequencies of a DTMF digit (Q.23)."""
    for r, keys in enumerate(KEYPAD):
        c = keys.find(digit.upper())
        if c >= 0 and digit:
            return ROWS[r], COLS[c]
    raise ValueError(f"not a DTMF digit: {digit!r}")


def _db(x: float) -> float:
    return 10 ** (x / 10)


class DtmfDetector:
    """Streaming DTMF detector; `feed` any number of samples, get the digits that started."""

    MIN_HITS = 4
    END_MISSES = 3

    def __init__(self, sample_rate: int = 8000, min_level_dbm0: float = -36.0, normal_twist_db: float = 10.0,
                 reverse_twist_db: float = 6.0, relative_peak_db: float = 6.0,
                 min_tone_fraction: float = 0.6) -> None:
        self.sample_rate = sample_rate
        self.hop = round(0.01275 * sample_rate / 2)
        self.block = 2 * self.hop
        # Blocks overlap by half, so each block's DFT is the sum of its two halves' DFTs
        # against the first and second half of the basis: every half-block is projected once.
        n = np.arange(self.block)[:, None]
        freqs = np.array(ROWS + COLS)[None, :]
        w = 2 * np.pi * freqs * n / sample_rate
        basis = np.hstack([np.cos(w), np.sin(w)])  # (block, 16)
        self._halves_basis = np.ascontiguousarray(np.hstack([basis[:self.hop], basis[self.hop:]]))
        # Power of a sine of peak amplitude A at one of the frequencies: (A * block / 2) ** 2.
        min_amp = DBM0_PEAK * 10 ** (min_level_dbm0 / 20)
        self._min_power = (min_amp * self.block / 2) ** 2
        # Two such tones put at least 4 * min_power / block into a block's energy; half of
        # that is a safe floor under which a block cannot be a hit (the quick path for silence).
        self._min_energy = 2 * self._min_power / self.block
        self._normal_twist = _db(normal_twist_db)
        self._reverse_twist = _db(reverse_twist_db)
        self._relative_peak = _db(relative_peak_db)
        # Tone power as a fraction of block energy: a sine's DFT power is energy * block / 2.
        self._fraction_scale = 2.0 / (self.block * min_tone_fraction)
        self.reset()

    def reset(self) -> None:
        """Forget buffered samples and the digit in progress."""
        self._pending = np.zeros(0, dtype=np.float64)
        self._run_digit: str | None = None
        self._run = 0
        self._misses = 0
        self.current: str | None = None  # the digit being held, once reported

    def _classify(self, halves: np.ndarray) -> list[str | None]:
        """Hits for the blocks formed by consecutive pairs of half-blocks."""
        count = halves.shape[0] - 1
        half_energy = np.einsum("ij,ij->i", halves, halves)
        energy = half_energy[:-1] + half_energy[1:]
        if energy.max() < self._min_energy:
            return [None] * count
        proj = halves @ self._halves_basis
        proj = proj[:-1, :16] + proj[1:, 16:]
        sq = proj * proj
        power = sq[:, :8] + sq[:, 8:]
        rows = np.sort(power[:, :4], axis=1)
        cols = np.sort(power[:, 4:], axis=1)
        row_p, col_p = rows[:, 3], cols[:, 3]
        ok = ((row_p >= self._min_power) & (col_p >= self._min_power)
              & (col_p * self._normal_twist >= row_p) & (col_p <= row_p * self._reverse_twist)
              & (rows[:, 2] * self._relative_peak <= row_p) & (cols[:, 2] * self._relative_peak <= col_p)
              & ((row_p + col_p) * self._fraction_scale >= energy))
        if not ok.any():
            return [None] * count
        r = power[:, :4].argmax(axis=1).tolist()
        c = power[:, 4:].argmax(axis=1).tolist()
        return [KEYPAD[r[i]][c[i]] if good else None for i, good in enumerate(ok.tolist())]

    def feed(self, pcm: np.ndarray) -> list[str]:
        """Feed int16 samples; returns the digits whose start was confirmed in them."""
        if self._pending.size:
            samples = np.concatenate((self._pending, pcm))
        else:
            samples = np.asarray(pcm, dtype=np.float64)
        halves = samples.size // self.hop
        if halves < 2:
            self._pending = samples.astype(np.float64)
            return []
        # Keep the last whole half-block: it is the first half of the next block.
        self._pending = samples[(halves - 1) * self.hop:].astype(np.float64)
        hits = self._classify(samples[:halves * self.hop].reshape(halves, self.hop).astype(np.float64, copy=False))
        digits = []
        for hit in hits:
            if hit is None:
                self._misses += 1
                if self._misses >= 2:  # one odd block inside a tone does not break its run
                    self._run_digit, self._run = None, 0
                if self._misses >= self.END_MISSES:
                    self.current = None
                continue
            self._misses = 0
            if hit == self._run_digit:
                self._run += 1
            else:
                self._run_digit, self._run = hit, 1
            if self._run == self.MIN_HITS and hit != self.current:
                self.current = hit
                digits.append(hit)
        return digits


# --------------------------------------------------------------------------- RFC 4733

_EVENT = struct.Struct("!BBH")


@dataclass(frozen=True)
class TelephoneEvent:
    """The RFC 4733 §2.3 payload: event code, end bit, volume (-dBm0, 0..63), duration (timestamp units)."""

    event: int
    end: bool = False
    volume: int = 10
    duration: int = 0

    @classmethod
    def parse(cls, data: bytes) -> TelephoneEvent:
        """Parse the first 4 bytes of a payload; ValueError if shorter."""
        if len(data) < 4:
            raise ValueError(f"telephone-event payload too short: {len(data)} bytes")
        event, flags, duration = _EVENT.unpack_from(data)
        return cls(event, bool(flags & 0x80), flags & 0x3F, duration)

    def serialize(self) -> bytes:
        """The 4-byte payload (R bit zero)."""
        if not 0 <= self.volume <= 63 or not 0 <= self.duration <= 0xFFFF or not 0 <= self.event <= 255:
            raise ValueError(f"telephone-event field out of range: {self}")
        return _EVENT.pack(self.event, (0x80 if self.end else 0) | self.volume, self.duration)

    @property
    def digit(self) -> str | None:
        """The DTMF digit of events 0-15, else None."""
        return EVENTS[self.event] if self.event < len(EVENTS) else None


def event_code(digit: str) -> int:
    """RFC 4733 event code of a DTMF digit."""
    code = EVENTS.find(digit.upper())
    if code < 0 or not digit:
        raise ValueError(f"not a DTMF digit: {digit!r}")
    return code


@dataclass(frozen=True)
class EventPacket:
    """One packet of an event: send `payload` with this marker bit and RTP timestamp, one per interval."""

    payload: bytes
    marker: bool
    timestamp: int
    end: bool


class DtmfSender:
    """Builds the packets of one digit per RFC 4733 §2.5.1: marker on the first, end bit thrice."""

    def __init__(self, clock_rate: int = 8000, packet_ms: int = 20, volume: int = 10,
                 end_repeats: int = 3) -> None:
        self.clock_rate = clock_rate
        self.packet_samples = clock_rate * packet_ms // 1000
        self.volume = volume
        self.end_repeats = end_repeats

    def packets(self, digit: str, timestamp: int, duration_ms: int = 100) -> Iterator[EventPacket]:
        """All packets of `digit`, starting at RTP `timestamp`; the caller sends one per packet interval."""
        code = event_code(digit)
        total = duration_ms * self.clock_rate // 1000
        if not 0 < total <= 0xFFFF:
            raise ValueError(f"digit duration {duration_ms} ms does not fit one event")
        elapsed = 0
        first = True
        while elapsed < total:
            elapsed = min(total, elapsed + self.packet_samples)
            end = elapsed == total
            payload = TelephoneEvent(code, end, self.volume, elapsed).serialize()
            for _ in range(self.end_repeats if end else 1):
                yield EventPacket(payload, first, timestamp & 0xFFFFFFFF, end)
                first = False

    def duration_samples(self, duration_ms: int) -> int:
        """How far the audio timestamp moves on after a digit of `duration_ms`."""
        return duration_ms * self.clock_rate // 1000


class DtmfReceiver:
    """Turns received telephone-event packets into digits, each event reported exactly once."""

    def __init__(self, memory: int = 32) -> None:
        self._seen: deque[tuple[int, int]] = deque(maxlen=memory)
        self._last: tuple[int, int, int, int, bool] | None = None  # ssrc, ts, event, duration, ended

    def feed(self, packet: RtpPacket) -> str | None:
        """The digit if this packet starts a new event, else None; ValueError for a bad payload."""
        event = TelephoneEvent.parse(packet.payload)
        key = (packet.ssrc, packet.timestamp)
        last = self._last
        if key in self._seen:
            if last is not None and last[:2] == key:
                self._last = (*key, event.event, max(last[3], event.duration), last[4] or event.end)
            return None
        self._seen.append(key)
        # §2.5.1.3: an event longer than 0xFFFF units continues under a new timestamp.
        if (last is not None and last[0] == packet.ssrc and last[2] == event.event and not last[4]
                and 0 < (packet.timestamp - last[1]) & 0xFFFFFFFF <= last[3] + 1):
            self._last = (*key, event.event, event.duration, event.end)
            return None
        self._last = (*key, event.event, event.duration, event.end)
        return event.digit
