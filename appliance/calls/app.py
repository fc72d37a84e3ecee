"""Applications that answer a caller themselves: announcements, voicemail menus, IVRs.

An `AppSession` owns one caller leg and offers what such applications are written with: answer,
play prompts (optionally interrupted by a key), collect digits with timeouts, record, hang up. Every
wait ends with `CallerHungUp` as soon as the caller leaves, so application code is a plain
coroutine with no callbacks: `await s.play(["vm_enter_pin"]); pin = await s.collect(8)`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .legs import InboundLeg, Leg

log = logging.getLogger(__name__)

Audio = Sequence[str | Path | np.ndarray] | np.ndarray | str  # prompt ids/WAV files/samples, samples, a WAV path


class CallerHungUp(Exception):
    """The caller left while the application was waiting on them."""


@dataclass
class Recording:
    path: Path
    seconds: float
    ended_by: str  # "key" (terminator), "hangup", "max" (length limit), "silence"
    key: str | None = None


class AppSession:
    def __init__(self, leg: InboundLeg, call: Any, prompts: Any = None, language: str = "en"):
        self.leg = leg
        self.call = call
        self.prompts = prompts
        self.language = language
        self._digits: asyncio.Queue[str] = asyncio.Queue()
        self._digit_waiting = asyncio.Event()  # set while the queue holds a digit
        self._gone = asyncio.Event()
        leg.listener = self

    # --- the leg's listener -------------------------------------------------------------------------
    def on_leg_dtmf(self, leg: Leg, digit: str, via: str = "rfc4733") -> None:
        self._digits.put_nowait(digit)
        self._digit_waiting.set()

    def on_leg_ended(self, leg: Leg, reason: str) -> None:
        self._gone.set()
        self.call.on_leg_ended(leg, reason)

    def on_leg_progress(self, leg: Leg, status: int, early_media: bool) -> None:
        pass

    def on_leg_answered(self, leg: Leg) -> None:
        pass

    def on_leg_failed(self, leg: Leg, status: int, reason: str) -> None:
        pass

    def on_leg_hold(self, leg: Leg, held: bool) -> None:
        pass

    # --- what applications call -------------------------------------------------------------------------
    @property
    def gone(self) -> bool:
        return self._gone.is_set()

    async def answer(self, label: str) -> None:
        """Answer the caller; `label` is what the CDR shows as the final called party (e.g. "voicemail")."""
        self.leg.answer()
        if self.leg.te_pt is None and self.leg.endpoint is not None:
            self.leg.endpoint.detect_inband = True  # no RFC 4733: listen for tones instead
        self.call.answered_by_pbx(label)

    async def play(self, audio: Audio, interrupt: bool = False) -> str | None:
        """Play prompts or samples; with `interrupt`, a key press stops playback and is returned (and kept)."""
        self._check()
        source = self._source(audio)
        if source is None:
            return None
        player = self.leg.endpoint.play(source)
        waiters = [asyncio.ensure_future(asyncio.shield(player.done)), asyncio.ensure_future(self._gone.wait())]
        if interrupt:
            waiters.append(asyncio.ensure_future(self._peek_digit()))
        try:
            done, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()
            player.stop()
        self._check()
        if interrupt and not self._digits.empty():
            return self._digits._queue[0]  # type: ignore[attr-defined]  # left for collect() to read
        return None

    async def collect(self, max_digits: int, timeout: float = 5.0, first_timeout: float | None = None,
                      terminators: str = "#") -> str:
        """Digits typed by the caller: up to `max_digits`, ended by a terminator or an inter-digit timeout."""
        digits = ""
        wait = first_timeout if first_timeout is not None else timeout
        while len(digits) < max_digits:
            digit = await self._next_digit(wait)
            if digit is None:
                break
            if digit in terminators:
                break
            digits += digit
            wait = timeout
        return digits

    async def choose(self, timeout: float = 6.0) -> str:
        """One key for a menu choice, whatever it is (# and * included), or "" when none comes in time."""
        digit = await self._next_digit(timeout)
        return digit or ""

    def flush_digits(self) -> None:
        while not self._digits.empty():
            self._digits.get_nowait()
        self._digit_waiting.clear()

    async def record(self, path: Path, max_seconds: float, terminators: str = "#") -> Recording:
        """Record what the caller says until a terminator key, hang-up or `max_seconds`."""
        self._check()
        loop = asyncio.get_running_loop()
        started = loop.time()
        recorder = self.leg.endpoint.record(str(path))
        ended_by, key = "max", None
        deadline = started + max_seconds
        try:
            while True:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                digit = await self._next_digit(remaining, raise_on_hangup=False)
                if self.gone:
                    ended_by = "hangup"
                    break
                if digit is not None and digit in terminators:
                    ended_by, key = "key", digit
                    break
        finally:
            seconds = loop.time() - started
            await recorder.stop()
        return Recording(Path(path), seconds, ended_by, key)

    def hangup(self, reason: str = "application done") -> None:
        if not self.leg.ended:
            self.leg.hangup(reason)

    # --- internals ---------------------------------------------------------------------------------------
    def _check(self) -> None:
        if self.gone or self.leg.ended:
            raise CallerHungUp()

    def compose(self, parts: Sequence[str | Path | np.ndarray], gap_ms: int = 80) -> np.ndarray:
        """One stretch of audio from prompt ids, recorded WAV files (Path) and samples, in order."""
        from appliance.media.wav import read_wav  # noqa: PLC0415

        gap = np.zeros(8 * gap_ms, dtype=np.int16)
        pieces: list[np.ndarray] = []
        ids: list[str] = []

        def flush_ids() -> None:
            if ids:
                pieces.append(self._prompt_audio(list(ids)))
                ids.clear()

        for part in parts:
            if isinstance(part, str):
                ids.append(part)
                continue
            flush_ids()
            pieces.append(read_wav(part) if isinstance(part, Path) else np.asarray(part, dtype=np.int16))
        flush_ids()
        joined: list[np.ndarray] = []
        for piece in pieces:
            if joined:
                joined.append(gap)
            joined.append(piece)
        return np.concatenate(joined) if joined else np.zeros(0, dtype=np.int16)

    def _prompt_audio(self, ids: list[str]) -> np.ndarray:
        if self.prompts is None:
            raise RuntimeError("no prompt library: build the prompts (`make prompts`)")
        return self.prompts.sequence(ids, self.language)

    def _source(self, audio: Audio) -> Any:
        if isinstance(audio, np.ndarray) or isinstance(audio, str):
            return audio
        parts = list(audio)
        if not parts:
            return None
        if all(isinstance(p, str) for p in parts):
            return self._prompt_audio(parts)
        return self.compose(parts)

    async def _peek_digit(self) -> None:
        await self._digit_waiting.wait()

    async def _next_digit(self, timeout: float, raise_on_hangup: bool = True) -> str | None:
        if raise_on_hangup:
            self._check()
        getter = asyncio.ensure_future(self._digits.get())
        gone = asyncio.ensure_future(self._gone.wait())
        try:
            done, _ = await asyncio.wait([getter, gone], timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
            if not getter.done():
                getter.cancel()
        if getter in done:
            if self._digits.empty():
                self._digit_waiting.clear()
            return getter.result()
        if raise_on_hangup:
            self._check()
        return None
