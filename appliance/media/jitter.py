"""Adaptive jitter buffer for one incoming audio stream, sans-I/O.

Model: every packet's *transit* (arrival time minus its RTP timestamp in seconds) is
tracked over a sliding window. The smallest transit is the path's base delay; the spread
between smallest and largest is the jitter to absorb. The target delay is that spread
plus one frame (packets and the 20 ms tick are not in phase), clamped to
[min_delay, max_delay]. On each tick the ideal playout timestamp is
`(now - base - target) * clock_rate`; the buffer advances its playout pointer one frame
per tick and, when the pointer drifts more than a frame from the ideal, drops a frame
(delay shrinks) or holds one tick (delay grows). A marker packet arriving into an empty
buffer (start of a talkspurt) re-anchors the pointer, which applies a new target with no
audible cost. Sequence numbers and timestamps are unwrapped to extended integers, so
wrap-around is invisible; a new SSRC, a timestamp running backwards while the sequence
runs forwards, or a packet far earlier or later than the mapping allows resynchronises.

Feed it audio packets only: RFC 4733 events share timestamps and go to DtmfReceiver.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass

from appliance.media.rtp import RtpPacket

log = logging.getLogger(__name__)

_RECENT_SEQS = 256  # how many sequence numbers are remembered to spot duplicates
_LATE_RESYNC_S = 1.0  # a packet later than base + max_delay + this means the sender's clock jumped


@dataclass
class JitterStats:
    """Counters for RTCP-XR-like reporting and for tests."""

    received: int = 0  # packets accepted into the buffer
    played: int = 0  # packets returned by get()
    lost: int = 0  # ticks with no packet although a later one was buffered
    empty: int = 0  # ticks with nothing buffered (silence or underrun)
    late: int = 0  # packets that arrived after their playout time
    duplicates: int = 0
    overflow: int = 0  # packets dropped because more than max_delay was buffered
    skipped: int = 0  # frames dropped to shrink the delay
    held: int = 0  # ticks held back to grow the delay
    resyncs: int = 0  # restarts after a new SSRC or a timestamp jump
    target_delay_ms: float = 0.0


def _extend(value: int, reference: int, bits: int) -> int:
    """Unwrap a `bits`-wide counter to the extended value closest to `reference`."""
    half = 1 << (bits - 1)
    return reference + ((value - reference + half) & ((1 << bits) - 1)) - half


class JitterBuffer:
    """Reorders, de-duplicates and paces one stream; `get` is called once per frame tick."""

    def __init__(self, frame_ms: int = 20, clock_rate: int = 8000, min_delay_ms: int = 40,
                 max_delay_ms: int = 200, window_s: float = 3.0) -> None:
        if not 0 < min_delay_ms <= max_delay_ms:
            raise ValueError(f"need 0 < min_delay_ms <= max_delay_ms, got {min_delay_ms}, {max_delay_ms}")
        self.frame_ms = frame_ms
        self.clock_rate = clock_rate
        self._frame = clock_rate * frame_ms // 1000
        self._frame_s = frame_ms / 1000
        self._min = min_delay_ms / 1000
        self._max = max_delay_ms / 1000
        self._max_ts = max_delay_ms * clock_rate // 1000
        self._window = window_s
        self.stats = JitterStats(target_delay_ms=float(min_delay_ms))
        self._ssrc: int | None = None
        self.reset()

    def reset(self) -> None:
        """Forget the stream (keeps the counters): the next packet starts afresh."""
        self._ssrc = None
        self._draining: deque[RtpPacket] = deque()
        self._restart()

    def _restart(self) -> None:
        self._packets: dict[int, RtpPacket] = {}  # extended timestamp -> packet
        self._recent: set[int] = set()
        self._recent_order: deque[int] = deque()
        self._top_seq: int | None = None
        self._top_ts = 0
        self._play_ts: int | None = None
        self._last_seq: int | None = None  # sequence number of the last packet played
        self._mins: deque[tuple[float, float]] = deque()  # (arrival, transit), transit increasing
        self._maxs: deque[tuple[float, float]] = deque()  # (arrival, transit), transit decreasing
        self._target = self._min

    @property
    def target_delay_ms(self) -> float:
        """The delay the buffer currently aims for."""
        return self._target * 1000

    @property
    def buffered_ms(self) -> float:
        """Audio held in the buffer, from the playout point to the newest packet's end."""
        drained = len(self._draining) * self.frame_ms
        if not self._packets:
            return float(drained)
        start = self._play_ts if self._play_ts is not None else min(self._packets)
        return drained + (max(self._packets) + self._frame - start) * 1000 / self.clock_rate

    def _resync(self, reason: str) -> None:
        log.debug("jitter buffer resync: %s", reason)
        self.stats.resyncs += 1
        # Packets already buffered from before the jump are still played, ahead of the new ones.
        self._draining.extend(self._packets[ts] for ts in sorted(self._packets))
        ssrc = self._ssrc
        self._restart()
        self._ssrc = ssrc

    def _track_transit(self, now: float, transit: float) -> None:
        mins, maxs = self._mins, self._maxs
        while mins and mins[-1][1] >= transit:
            mins.pop()
        mins.append((now, transit))
        while maxs and maxs[-1][1] <= transit:
            maxs.pop()
        maxs.append((now, transit))
        spread = maxs[0][1] - mins[0][1]
        self._target = min(self._max, max(self._min, spread + self._frame_s))
        self.stats.target_delay_ms = self._target * 1000

    def _expire(self, now: float) -> None:
        horizon = now - self._window
        while self._mins and self._mins[0][0] < horizon:
            self._mins.popleft()
        while self._maxs and self._maxs[0][0] < horizon:
            self._maxs.popleft()

    def put(self, packet: RtpPacket, now: float) -> None:
        """Accept one received packet at monotonic time `now` (seconds)."""
        if packet.ssrc != self._ssrc:
            if self._ssrc is not None:
                self._resync(f"new SSRC {packet.ssrc:#x}")
            self._ssrc = packet.ssrc
        if self._top_seq is None:
            seq, ts = packet.sequence_number, packet.timestamp
        else:
            seq = _extend(packet.sequence_number, self._top_seq, 16)
            ts = _extend(packet.timestamp, self._top_ts, 32)
            if seq in self._recent:
                self.stats.duplicates += 1
                return
            self._expire(now)
            jumped = seq > self._top_seq and ts < self._top_ts  # timestamp ran backwards
            if self._mins and not jumped:
                deviation = now - ts / self.clock_rate - self._mins[0][1]
                jumped = deviation < -(self._max + self._frame_s) or deviation > self._max + _LATE_RESYNC_S
            if jumped:
                self._resync("timestamp jump")
                seq, ts = packet.sequence_number, packet.timestamp
        if self._top_seq is None or seq > self._top_seq:
            self._top_seq = seq
        if ts > self._top_ts or len(self._recent) == 0:
            self._top_ts = ts
        self._recent.add(seq)
        self._recent_order.append(seq)
        if len(self._recent_order) > _RECENT_SEQS:
            self._recent.discard(self._recent_order.popleft())
        self._track_transit(now, now - ts / self.clock_rate)

        if self._play_ts is not None and ts < self._play_ts:
            self.stats.late += 1
            return
        if packet.marker and not self._packets:
            self._play_ts = None  # start of a talkspurt: re-anchor with the current target
        self._packets[ts] = packet
        self.stats.received += 1
        self._limit()

    def _limit(self) -> None:
        """Drop the oldest packets while more than max_delay (plus the frame playing) is buffered."""
        newest = max(self._packets)
        if self._play_ts is None:
            while newest - min(self._packets) > self._max_ts:
                del self._packets[min(self._packets)]
                self.stats.overflow += 1
            return
        excess = newest - self._max_ts - self._play_ts
        if excess > 0:
            self._play_ts += -(-excess // self._frame) * self._frame
            for ts in [ts for ts in self._packets if ts < self._play_ts]:
                del self._packets[ts]
                self.stats.overflow += 1

    def get(self, now: float) -> RtpPacket | None:
        """The packet to play for this tick, or None (missing frame: conceal, or silence)."""
        if self._draining:
            self.stats.played += 1
            return self._draining.popleft()
        packets = self._packets
        ideal = (now - self._mins[0][1] - self._target) * self.clock_rate if self._mins else None
        if self._play_ts is None:
            if not packets or ideal is None:
                return None
            first = min(packets)
            if ideal < first:
                return None  # still filling up to the target delay
            self._play_ts = first
        elif ideal is not None:
            error = ideal - self._play_ts
            if error < -self._frame:
                self.stats.held += 1  # playing ahead of the target: grow the delay by a tick
                return None
            if error >= 2 * self._frame:
                frames = 1 if error < self._max_ts else int(error // self._frame)
                self._drop_frames(frames)
        frame_end = self._play_ts + self._frame
        self._play_ts = frame_end
        if packets:
            oldest = min(packets)
            if oldest < frame_end:
                self.stats.played += 1
                packet = packets.pop(oldest)
                self._last_seq = packet.sequence_number
                return packet
            if self._last_seq is None or (packets[oldest].sequence_number - self._last_seq) & 0xFFFF != 1:
                self.stats.lost += 1
                return None
        # Nothing buffered, or the next packet follows the last one: a silence gap, not a loss.
        self.stats.empty += 1
        return None

    def _drop_frames(self, frames: int) -> None:
        assert self._play_ts is not None
        self._play_ts += frames * self._frame
        self.stats.skipped += frames
        for ts in [ts for ts in self._packets if ts < self._play_ts]:
            del self._packets[ts]
