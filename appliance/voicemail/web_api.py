"""What the web UI does with voicemail: list, stream, delete, mark read/unread, upload greetings.

The web UI runs in another process (gunicorn) with its own database handle; after a change it tells
pbxd over the control socket (`voicemail_changed`) so that message lamps follow at once. Access
control (an extension sees only its own mailbox; admins manage shared ones) is the caller's job:
these functions trust the mailbox number they are given.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from appliance.media.wav import parse_wav, resample, write_wav_atomic

from .exceptions import InvalidMailboxValue, NoSuchMessage
from .storage import Message, VoicemailStore

log = logging.getLogger(__name__)

MAX_GREETING_BYTES = 10 * 1024 * 1024
MAX_GREETING_SECONDS = 120


class VoicemailWeb:
    def __init__(self, store: VoicemailStore, notify: Callable[[str], Any] | None = None):
        """`notify(mailbox)` tells pbxd about a change (best effort: pbxd may be down)."""
        self.store = store
        self._notify = notify or (lambda mailbox: None)

    def messages(self, mailbox: str) -> list[dict[str, Any]]:
        """Time, caller, duration, read/unread of every message, new first."""
        return [
            {"id": m.id, "caller": m.caller, "caller_name": m.caller_name, "received_at": m.received_at,
             "duration": m.duration, "read": not m.is_new, "forwarded_from": m.forwarded_from}
            for m in self.store.messages(mailbox)
        ]

    def counts(self, mailbox: str) -> dict[str, int]:
        return self.store.count(mailbox)

    def audio(self, mailbox: str, message_id: int) -> Path:
        """The WAV file to stream or download; NoSuchMessage unless it belongs to `mailbox`."""
        message = self._own(mailbox, message_id)
        return self.store.audio_path(message)

    def download_name(self, mailbox: str, message_id: int) -> str:
        import datetime as dt  # noqa: PLC0415

        message = self._own(mailbox, message_id)
        when = dt.datetime.fromtimestamp(message.received_at).strftime("%Y%m%d-%H%M")
        caller = "".join(c for c in message.caller if c.isalnum()) or "unknown"
        return f"voicemail-{caller}-{when}.wav"

    def delete(self, mailbox: str, message_id: int) -> None:
        self._own(mailbox, message_id)
        self.store.delete(message_id)
        self._changed(mailbox)

    def mark(self, mailbox: str, message_id: int, read: bool) -> None:
        self._own(mailbox, message_id)
        self.store.mark(message_id, read)
        self._changed(mailbox)

    def upload_greeting(self, mailbox: str, kind: str, data: bytes) -> float:
        """Store an uploaded WAV as a greeting (converted to 8 kHz mono); returns its length in seconds."""
        if len(data) > MAX_GREETING_BYTES:
            raise InvalidMailboxValue("greeting", f"the file is larger than {MAX_GREETING_BYTES // 1048576} MiB")
        try:
            info, samples = parse_wav(bytes(data), "upload")
        except ValueError as err:
            raise InvalidMailboxValue("greeting", f"not a WAV file this box can read: {err}") from err
        mono = samples.mean(axis=1) if info.channels > 1 else samples[:, 0]
        pcm = np.clip(np.rint(resample(mono, info.sample_rate, 8000)), -32768, 32767).astype(np.int16)
        seconds = len(pcm) / 8000.0
        if seconds < 0.5:
            raise InvalidMailboxValue("greeting", "the recording is shorter than half a second")
        if seconds > MAX_GREETING_SECONDS:
            raise InvalidMailboxValue("greeting", f"the recording is longer than {MAX_GREETING_SECONDS} s")
        path = self.store.greeting_path(mailbox, kind)
        write_wav_atomic(path, pcm)
        self.store.greeting_saved(mailbox, kind)
        return seconds

    def greetings(self, mailbox: str) -> dict[str, bool]:
        from .storage import GREETING_KINDS  # noqa: PLC0415

        return {kind: self.store.greeting(mailbox, kind) is not None for kind in GREETING_KINDS}

    def named_greetings(self, mailbox: str) -> list[str]:
        """Greetings recorded under a name of their own (what per-caller rules point to), sorted."""
        from .storage import GREETING_KINDS  # noqa: PLC0415

        rows = self.store.db.conn.execute(
            "SELECT kind FROM voicemail_greetings WHERE mailbox = ? ORDER BY kind", (mailbox,)).fetchall()
        names = []
        for (kind,) in rows:
            if kind in GREETING_KINDS:
                continue
            try:
                if self.store.greeting(mailbox, kind) is not None:
                    names.append(kind)
            except InvalidMailboxValue:  # a row no greeting file can belong to
                log.warning("mailbox %s lists an invalid greeting name %r", mailbox, kind)
        return names

    def delete_greeting(self, mailbox: str, kind: str) -> None:
        self.store.delete_greeting(mailbox, kind)

    def _own(self, mailbox: str, message_id: int) -> Message:
        message = self.store.message(message_id)
        if message.mailbox != mailbox:
            raise NoSuchMessage(message_id)  # never say that another mailbox's message exists
        return message

    def _changed(self, mailbox: str) -> None:
        try:
            self._notify(mailbox)
        except Exception as err:  # pbxd down: the lamps catch up at its next start
            log.info("could not tell pbxd that mailbox %s changed: %s", mailbox, err)
