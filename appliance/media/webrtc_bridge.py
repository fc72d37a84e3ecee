"""The PCM side of a browser call: audio between aiortc and one media-engine endpoint over a loopback RTP pair.

The engine speaks RTP on its endpoints and nothing else, so a browser's decoded audio enters it the way a
phone's does: `RtpBridge` owns a UDP socket on the engine's own address, the engine endpoint is pointed at
it with PCMU (payload 0) and telephone-event 101, and from then on every engine feature — relay to a
desk phone without decoding, music on hold, recording, conferences, RFC 4733 relay — works for browsers
unchanged. The cost is one loopback datagram each way per 20 ms; D-webrtc-4 has the figures and the
alternative (feeding PCM into the engine directly) that was not taken.

`EngineTrack` is what the browser hears: an aiortc audio track paced at 20 ms that plays what the engine
sent (plus in-band DTMF tones), silence when nothing came. Audio from the browser arrives as aiortc
frames (48 kHz stereo for Opus) and is resampled to the engine's 8 kHz by PyAV's libswresample, which
keeps filter state across frames (a per-frame windowed sinc would click at every frame edge).
"""

from __future__ import annotations

import asyncio
import fractions
import logging
import random
import struct
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame, AudioResampler

from appliance.media import g711
from appliance.media.dtmf import DtmfReceiver, digit_frequencies
from appliance.media.rtp import RtpPacket
from appliance.media.webrtc_config import EVENT_PT, PCMU_PT

log = logging.getLogger(__name__)

RATE = 8000
FRAME = 160  # samples in 20 ms at 8 kHz: the engine's frame
# The engine's clock and the track's pacing are independent 20 ms clocks: what waits between them is latency.
# More than 60 ms waiting (clock drift, a stalled loop, ringback queued before the call was answered) is cut
# back to 20 ms by dropping the oldest audio.
MAX_BUFFERED = 3 * FRAME
KEEP_AFTER_OVERFLOW = FRAME
_HEADER = struct.Struct("!BBHII")
_TIME_BASE = fractions.Fraction(1, RATE)


def dtmf_tone(digit: str, ms: int = 120, level: float = 0.25) -> np.ndarray:
    """An in-band DTMF digit at 8 kHz (the browser cannot play RFC 4733 events)."""
    low, high = digit_frequencies(digit)
    t = np.arange(RATE * ms // 1000) / RATE
    wave = np.sin(2 * np.pi * low * t) + np.sin(2 * np.pi * high * t)
    return (wave * (level * 32767 / 2)).astype(np.int16)


class EngineTrack(MediaStreamTrack):
    """Audio for the browser: 20 ms frames of whatever the engine sent, paced by the loop's clock."""

    kind = "audio"

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._clock = clock
        self._buffer = np.zeros(0, dtype=np.int16)
        self._overlay = np.zeros(0, dtype=np.int16)  # in-band DTMF mixed over the next frames
        self._start: float | None = None
        self._pts = 0
        self.first_audio_at: float | None = None  # when the first non-silent frame left for the browser

    def push(self, pcm: np.ndarray) -> None:
        """Audio from the engine (8 kHz int16), queued for the next frames."""
        buffered = np.concatenate((self._buffer, pcm)) if len(self._buffer) else pcm
        if len(buffered) > MAX_BUFFERED:
            buffered = buffered[-KEEP_AFTER_OVERFLOW:]
        self._buffer = buffered

    def overlay(self, pcm: np.ndarray) -> None:
        """Mix `pcm` over what the browser hears next (in-band DTMF)."""
        self._overlay = np.concatenate((self._overlay, pcm))

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = self._clock()
        else:
            self._pts += FRAME
            wait = self._start + self._pts / RATE - self._clock()
            if wait > 0:
                await asyncio.sleep(wait)
            elif wait < -0.2:  # the loop stalled: resynchronise rather than send a burst
                self._start = self._clock() - self._pts / RATE
        samples, self._buffer = self._buffer[:FRAME], self._buffer[FRAME:]
        if len(samples) < FRAME:
            samples = np.concatenate((samples, np.zeros(FRAME - len(samples), dtype=np.int16)))
        if len(self._overlay):
            tone, self._overlay = self._overlay[:FRAME], self._overlay[FRAME:]
            mixed = samples.astype(np.int32)
            mixed[: len(tone)] += tone
            samples = np.clip(mixed, -32768, 32767).astype(np.int16)
        if self.first_audio_at is None and np.abs(samples).max(initial=0) > 64:
            self.first_audio_at = self._clock()
        frame = AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = RATE
        frame.pts = self._pts
        frame.time_base = _TIME_BASE
        return frame


class RtpBridge(asyncio.DatagramProtocol):
    """The loopback socket facing the engine endpoint: PCMU out (browser's audio), PCMU and events in."""

    def __init__(self, on_audio: Callable[[np.ndarray], None], on_digit: Callable[[str], None]) -> None:
        self._on_audio = on_audio
        self._on_digit = on_digit
        self._transport: asyncio.DatagramTransport | None = None
        self.local: tuple[str, int] = ("", 0)
        self.engine: tuple[str, int] | None = None  # the endpoint's RTP address
        self._ssrc = random.getrandbits(32)
        self._seq = random.getrandbits(16)
        self._ts = random.getrandbits(32)
        self._pending = np.zeros(0, dtype=np.int16)
        self._started = False
        self._events = DtmfReceiver()
        self.packets_in = 0
        self.packets_out = 0

    async def open(self, host: str) -> None:
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: self, local_addr=(host, 0))

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        sockname = transport.get_extra_info("sockname")
        self.local = (sockname[0], sockname[1])

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        if self.engine is None or addr[:2] != self.engine or len(data) < 12:
            return
        if 191 < data[1] < 224:  # RTCP muxed on the port (RFC 5761 §4): the bridge needs no reports
            return
        pt = data[1] & 0x7F
        self.packets_in += 1
        try:
            if pt == PCMU_PT:
                packet = RtpPacket.parse(data)
                self._on_audio(g711.ulaw_decode(packet.payload))
            elif pt == EVENT_PT:
                digit = self._events.feed(RtpPacket.parse(data))
                if digit:
                    self._on_digit(digit)
        except ValueError as err:
            log.debug("bridge %s: bad packet from the engine: %s", self.local[1], err)

    def error_received(self, exc: Exception) -> None:
        log.debug("bridge %s: %s", self.local[1], exc)

    def send_pcm(self, pcm: np.ndarray) -> None:
        """The browser's audio (8 kHz int16, any length) to the engine, as 20 ms PCMU packets."""
        pending = np.concatenate((self._pending, pcm)) if len(self._pending) else pcm
        while len(pending) >= FRAME:
            self._send(g711.ulaw_encode(pending[:FRAME]))
            pending = pending[FRAME:]
        self._pending = pending

    def _send(self, payload: bytes) -> None:
        if self._transport is None or self.engine is None:
            return
        marker = 0x80 if not self._started else 0
        self._started = True
        self._seq = (self._seq + 1) & 0xFFFF
        header = _HEADER.pack(0x80, marker | PCMU_PT, self._seq, self._ts, self._ssrc)
        self._ts = (self._ts + FRAME) & 0xFFFFFFFF
        self._transport.sendto(header + payload, self.engine)
        self.packets_out += 1

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


async def pump_browser_audio(track: MediaStreamTrack, bridge: RtpBridge,
                             first_audio: Callable[[], None] | None = None) -> None:
    """Read the browser's decoded audio until its track ends, resample to 8 kHz mono, send to the engine."""
    resampler = AudioResampler(format="s16", layout="mono", rate=RATE)
    while True:
        try:
            frame = await track.recv()
        except MediaStreamError:
            return
        for out in resampler.resample(frame):
            pcm = out.to_ndarray().reshape(-1).astype(np.int16, copy=False)
            if first_audio is not None and np.abs(pcm).max(initial=0) > 64:
                first_audio()
                first_audio = None
            bridge.send_pcm(pcm)
