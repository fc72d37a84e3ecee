"""Players, recorders and DTMF senders: the things that produce or consume audio on the engine's tick.

They hold no timers of their own: the engine calls `read_frame()` / `write()` / `tick()` once per 20 ms, so a
thousand players cost one task.  Completion is signalled through an asyncio future (`done`) that the caller may
await.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from appliance.media.mixer import FRAME_SAMPLES, silence

if TYPE_CHECKING:
    from appliance.media.endpoint import Endpoint

log = logging.getLogger(__name__)

__all__ = ["ArraySource", "DtmfOut", "Player", "Recorder", "ToneSource", "dtmf_tone"]



class ArraySource:
    """20 ms frames cut from an int16 array, optionally looping; the last frame is padded with silence."""

    def __init__(self, pcm: np.ndarray, loop: bool = False) -> None:
        pcm = np.asarray(pcm)
        if pcm.ndim != 1:
            raise ValueError("audio to play must be a mono 1-D array of 8 kHz samples")
        if pcm.dtype != np.int16:
            pcm = np.clip(pcm, -32768, 32767).astype(np.int16)
        self.pcm = pcm
        self.loop = loop and len(pcm) > 0
        self.pos = 0

    def read_frame(self) -> np.ndarray | None:
        """The next frame, or None at the end."""
        if self.pos >= len(self.pcm):
            if not self.loop:
                return None
            self.pos = 0
        frame = self.pcm[self.pos:self.pos + FRAME_SAMPLES]
        self.pos += FRAME_SAMPLES
        if len(frame) < FRAME_SAMPLES:
            if self.loop:
                self.pos = FRAME_SAMPLES - len(frame)
                frame = np.concatenate((frame, self.pcm[:self.pos]))
            else:
                frame = np.concatenate((frame, np.zeros(FRAME_SAMPLES - len(frame), dtype=np.int16)))
        return frame


class ToneSource:
    """Frames from a tones.ToneGenerator; a generator that runs dry ends the player (or restarts with `loop`)."""

    def __init__(self, spec: Any, loop: bool = False) -> None:
        from appliance.media.tones import ToneGenerator
        self._factory = lambda: ToneGenerator(spec)
        self.generator = self._factory()
        self.loop = loop

    def read_frame(self) -> np.ndarray | None:
        frame = np.asarray(self.generator.read(FRAME_SAMPLES), dtype=np.int16)
        if len(frame) < FRAME_SAMPLES:
            if self.loop:
                self.generator = self._factory()
                rest = np.asarray(self.generator.read(FRAME_SAMPLES - len(frame)), dtype=np.int16)
                frame = np.concatenate((frame, rest))
            elif len(frame) == 0:
                return None
            if len(frame) < FRAME_SAMPLES:
                frame = np.concatenate((frame, np.zeros(FRAME_SAMPLES - len(frame), dtype=np.int16)))
        return frame


class Player:
    """Audio being played to one endpoint; `await player.done` resolves when it ends or is stopped."""

    def __init__(self, endpoint: Endpoint, source: ArraySource | ToneSource,
                 on_finish: Callable[[Player], None]) -> None:
        self.endpoint = endpoint
        self.source = source
        self.done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.frames_played = 0
        self._on_finish = on_finish

    def read_frame(self) -> np.ndarray | None:
        """The next frame to send, finishing the player (done = True) at the end of the source."""
        if self.done.done():
            return None
        frame = self.source.read_frame()
        if frame is None:
            self._finish(True)
            return None
        self.frames_played += 1
        return frame

    def stop(self) -> None:
        """Stop now; `done` resolves to False (stopped) rather than True (played to the end)."""
        self._finish(False)

    def _finish(self, completed: bool) -> None:
        if not self.done.done():
            self.done.set_result(completed)
            self._on_finish(self)


class Recorder:
    """Writes what one endpoint receives to a WAV file; `stop()` closes it off the event loop (fsync, rename)."""

    def __init__(self, endpoint: Endpoint, path: str, on_stop: Callable[[Recorder], None]) -> None:
        from appliance.media.wav import WavWriter
        self.endpoint = endpoint
        self.path = path
        self._writer = WavWriter(path)
        self._on_stop = on_stop
        self.frames = 0
        self.done: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._stopping = False

    def write(self, frame: np.ndarray | None) -> None:
        """Append one tick's frame; a missing frame is recorded as silence so the timeline stays true."""
        if self._stopping:
            return
        self._writer.write(silence() if frame is None else frame)
        self.frames += 1

    def stop(self) -> asyncio.Future[str]:
        """Finish the file; the returned future (also `done`) resolves to its path once it is safely on disk."""
        if not self._stopping:
            self._stopping = True
            self._on_stop(self)
            loop = asyncio.get_running_loop()
            closing = loop.run_in_executor(None, self._writer.close)
            closing.add_done_callback(self._closed)
        return self.done

    def abort(self) -> None:
        """Drop the recording (the endpoint went away before anything worth keeping)."""
        if not self._stopping:
            self._stopping = True
            self._on_stop(self)
            self._writer.abort()
            if not self.done.done():
                self.done.cancel()

    def _closed(self, future: asyncio.Future[None]) -> None:
        if self.done.done():
            return
        error = future.exception()
        if error is not None:
            log.error("recording %s could not be finished: %s", self.path, error)
            self.done.set_exception(error)
        else:
            self.done.set_result(self.path)


def dtmf_tone(digit: str, duration_ms: int, level_dbm0: float = -8.0) -> np.ndarray:
    """In-band DTMF (ITU-T Q.23/Q.24): the digit's two frequencies for `duration_ms`, then 60 ms of silence."""
    from appliance.media.dtmf import digit_frequencies
    from appliance.media.tones import dbm0_to_peak
    low, high = digit_frequencies(digit)
    t = np.arange(duration_ms * 8) / 8000.0
    peak = dbm0_to_peak(level_dbm0)
    tone = (peak * (np.sin(2 * np.pi * low * t) + np.sin(2 * np.pi * high * t))).astype(np.int16)
    return np.concatenate((tone, np.zeros(480, dtype=np.int16)))


class DtmfOut:
    """Digits queued for sending on one endpoint: RFC 4733 events (§2.5), or in-band tones as a fallback.

    An RFC 4733 digit is one event (dtmf.DtmfSender): a first packet with the marker bit, an update each tick,
    the end packet three times, all with the event's start timestamp; our audio timestamp then moves on by the
    event's duration.  Audio towards the endpoint is suppressed meanwhile (the route is overridden).
    """

    def __init__(self, endpoint: Endpoint, on_idle: Callable[[DtmfOut], None]) -> None:
        self.endpoint = endpoint
        self.queue: list[tuple[str, int]] = []
        self._on_idle = on_idle
        self._packets: Iterator[Any] | None = None
        self._advance_by = 0
        self._tone: ArraySource | None = None

    def add(self, digit: str, duration_ms: int) -> None:
        from appliance.media.dtmf import event_code
        event_code(digit)  # ValueError for anything but 0-9 * # A-D
        self.queue.append((digit.upper(), max(40, duration_ms)))

    def tick(self, now: float) -> None:
        """Send this tick's packet; calls on_idle once the queue is empty."""
        ep = self.endpoint
        if self._packets is None and self._tone is None:
            if not self.queue:
                self._on_idle(self)
                return
            digit, duration = self.queue.pop(0)
            if ep.telephone_event_pt is not None:
                from appliance.media.dtmf import DtmfSender
                sender = DtmfSender(clock_rate=int(ep._rate), packet_ms=20)
                self._packets = sender.packets(digit, 0, duration)
                self._advance_by = sender.duration_samples(duration)
                ep._end_talkspurt()  # RFC 4733 §2.5.1.1: the event starts with the marker bit
            else:
                self._tone = ArraySource(dtmf_tone(digit, duration))
        if self._tone is not None:
            frame = self._tone.read_frame()
            if frame is None:
                self._tone = None
                self.tick(now)
            else:
                ep._send_frame(frame, now)
            return
        assert self._packets is not None and ep.telephone_event_pt is not None
        packet = next(self._packets, None)
        if packet is None:
            self._packets = None
            ep._ts = (ep._ts + self._advance_by) & 0xFFFFFFFF
            ep._end_talkspurt()  # the next digit (or idle) is handled on the next tick: a short gap
            return
        ep._send_payload(packet.payload, 0, now, ep.telephone_event_pt, advance=False)
