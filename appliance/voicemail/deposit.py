"""Leaving a message: greeting, beep, recording, review, and the safe commit of the result.

The greeting is, in order of preference: a per-caller greeting chosen by the mailbox's rules; the
personal busy or unavailable greeting; the recorded name inside the system greeting; the system
greeting with the number spoken. Recordings shorter than a second or holding only silence are not
kept (callers who hang up at the beep leave no empty messages).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from appliance.calls.app import AppSession, CallerHungUp, Recording
from appliance.media.wav import read_wav

from .exceptions import MailboxFull
from .storage import Mailbox, Message, VoicemailStore

log = logging.getLogger(__name__)

IO = Callable[..., Awaitable[Any]]

MIN_SECONDS = 1.0
SILENCE_DBFS = -50.0  # quieter than this throughout counts as silence (line noise after G.711 is ~-70)


def beep(seconds: float = 0.35, freq: float = 1000.0) -> np.ndarray:
    t = np.arange(int(8000 * seconds)) / 8000.0
    return (np.sin(2 * np.pi * freq * t) * 10000).astype(np.int16)


@dataclass
class DepositResult:
    message: Message | None
    reason: str  # "saved", "too short", "silent", "full", "hangup before recording", "voicemail off"


class Depositor:
    def __init__(self, store: VoicemailStore, io: IO, say_digits: Callable[[str, str], list[str]]):
        """`io(fn, *args)` runs a store call off the event loop (files are fsynced, rows committed)."""
        self.store = store
        self.io = io
        self.say_digits = say_digits

    async def leave(self, session: AppSession, mailbox: Mailbox, reason: str, caller: str,
                    caller_name: str | None, now: float, greeting: str | None = None) -> DepositResult:
        """Run the whole deposit on an unanswered or answered caller leg; returns what was kept.

        `greeting` names a per-caller greeting chosen by the mailbox's rules (played when recorded)."""
        await session.answer(f"voicemail {mailbox.number}")
        try:
            uid, path = await self.io(self.store.begin_message, mailbox.number, caller, caller_name, now)
        except MailboxFull:
            await session.play(["vm_mailbox_full", "goodbye"])
            session.hangup()
            return DepositResult(None, "full")
        try:
            while True:
                key = await session.play(self._greeting(session, mailbox, reason, greeting), interrupt=True)
                if key is not None:
                    session.flush_digits()  # a key during the greeting skips to the beep
                await session.play(beep())
                recording = await session.record(path, mailbox.max_seconds)
                if recording.ended_by != "key" or session.gone:
                    break
                choice = await self._review(session)
                if choice != "rerecord":
                    break
            return await self._keep(session, mailbox, uid, path, recording)
        except CallerHungUp:
            # Hung up during the greeting: nothing was recorded, nothing is kept.
            await self.io(self.store.discard_message, uid, mailbox.number)
            return DepositResult(None, "hangup before recording")

    async def _review(self, session: AppSession) -> str:
        """After '#': 1 accept, 2 re-record (anything else, or silence, accepts)."""
        await session.play(["opt_accept", "press", "digit_1", "opt_rerecord", "press", "digit_2"], interrupt=True)
        return "rerecord" if await session.choose() == "2" else "accept"

    async def _keep(self, session: AppSession, mailbox: Mailbox, uid: str, path: Path,
                    recording: Recording) -> DepositResult:
        audio = await self.io(_read_if_exists, path)
        seconds = len(audio) / 8000.0
        if seconds < MIN_SECONDS:
            await self.io(self.store.discard_message, uid, mailbox.number)
            verdict = "too short"
        elif _dbfs(audio) < SILENCE_DBFS:
            await self.io(self.store.discard_message, uid, mailbox.number)
            verdict = "silent"
        else:
            message = await self.io(self.store.commit_message, uid, mailbox.number, seconds)
            log.info("voicemail for %s from %s: %.1f s saved (%s)", mailbox.number, message.caller, seconds,
                     recording.ended_by)
            if not session.gone:
                session.hangup("message saved")
            return DepositResult(message, "saved")
        log.info("voicemail for %s: %.1f s not kept (%s)", mailbox.number, seconds, verdict)
        if not session.gone:
            session.hangup(verdict)
        return DepositResult(None, verdict)

    def _greeting(self, session: AppSession, mailbox: Mailbox, reason: str, custom: str | None) -> list[Any]:
        if custom is not None:
            path = self.store.greeting(mailbox.number, custom)
            if path is not None:
                return [path, "vm_record_message_after_tone"]
        for kind in (["busy", "unavailable"] if reason == "busy" else ["unavailable"]):
            path = self.store.greeting(mailbox.number, kind)
            if path is not None:
                return [path]
        status = "vm_busy" if reason == "busy" else "vm_unavailable"
        name = self.store.greeting(mailbox.number, "name")
        who: list[Any] = [name] if name is not None else \
            ["vm_person_at_extension", *self.say_digits(mailbox.number, session.language)]
        return [*who, status, "vm_record_message_after_tone", "vm_press_pound_when_done"]


def _read_if_exists(path: Path) -> np.ndarray:
    return read_wav(path) if path.exists() else np.zeros(0, dtype=np.int16)


def _dbfs(audio: np.ndarray) -> float:
    if len(audio) == 0:
        return -120.0
    rms = float(np.sqrt(np.mean(audio.astype(np.float64) ** 2)))
    return 20 * np.log10(max(rms, 1e-3) / 32768.0)
