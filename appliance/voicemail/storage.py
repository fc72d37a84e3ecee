"""Mailboxes and messages: rows in SQLite, audio as files, kept consistent through crashes.

A message is committed in this order: the audio is recorded to a temporary file; a metadata file
`<uid>.json` is written atomically; the audio is renamed to `<uid>.wav` (the commit point); then the
database row is inserted. `recover()` (run at start-up) finishes whatever a crash interrupted: a
`.wav` with its `.json` but no row is indexed, a row whose audio is gone is removed, and a recording
cut short by a crash is salvaged when its metadata was written and it holds at least a second of
audio. So a power cut never leaves a row without audio nor audio nobody can find.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import shutil
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from appliance.datadir import atomic_write
from appliance.passwords import hash_password, verify_password
from appliance.store.db import transaction

from .exceptions import InvalidMailboxValue, MailboxFull, NoSuchMailbox, NoSuchMessage

log = logging.getLogger(__name__)

Clock = Callable[[], float]
GREETING_KINDS = ("unavailable", "busy", "name", "temporary")
_GREETING_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
RATE = 8000
#: Longest retention that can be set (ten years); 0 means "keep until deleted".
MAX_RETENTION_DAYS = 3650


@dataclass(frozen=True, kw_only=True)
class Mailbox:
    number: str
    kind: str  # "personal" (an extension's) or "shared"
    name: str = ""
    language: str | None = None
    pin_hash: str | None = None  # shared mailboxes only; personal ones use the extension's PIN
    email: str | None = None
    require_pin: bool = True
    email_on_new: bool = True
    attach_audio: bool = True
    announce_caller: bool = True
    announce_time: bool = True
    max_messages: int = 100
    max_seconds: int = 180
    created_at: float = 0.0
    updated_at: float = 0.0
    # Which unanswered calls come here (the extension's voicemail switch must be on too).
    on_busy: bool = True
    on_no_answer: bool = True
    on_unavailable: bool = True
    # Retention (0 = never): read messages go N days after they were read (or received, if later);
    # every message goes M days after it was received. The shorter applies.
    delete_read_after_days: int = 0
    delete_all_after_days: int = 0

    def takes(self, reason: str) -> bool:
        """Whether a call sent here for `reason` (busy, no answer, unavailable, direct) is taken."""
        return {"busy": self.on_busy, "no answer": self.on_no_answer, "unavailable": self.on_unavailable}.get(
            reason, True)


@dataclass(frozen=True, kw_only=True)
class Message:
    id: int
    uid: str
    mailbox: str
    folder: str  # "new" or "old"
    caller: str
    caller_name: str | None
    received_at: float
    duration: float
    forwarded_from: str | None = None
    read_at: float | None = None  # when it was first marked read (None: new, or read before migration 12)

    @property
    def is_new(self) -> bool:
        return self.folder == "new"


_MAILBOX_FIELDS = [f.name for f in fields(Mailbox)]
_MESSAGE_FIELDS = [f.name for f in fields(Message)]
_BOOLS = ("require_pin", "email_on_new", "attach_audio", "announce_caller", "announce_time", "on_busy",
          "on_no_answer", "on_unavailable")
UPDATABLE = frozenset(_MAILBOX_FIELDS) - {"number", "kind", "pin_hash", "created_at", "updated_at"}


class VoicemailStore:
    """Mailboxes, messages and greetings of one data directory."""

    def __init__(self, db: Database, root: Path, *, clock: Clock = time.time,
                 find_extension: Callable[[str], Any] | None = None):
        self.db = db
        self.root = Path(root)
        self.clock = clock
        self.find_extension = find_extension or (lambda number: None)

    # --- mailboxes ---------------------------------------------------------------------------------------
    def mailbox(self, number: str) -> Mailbox:
        """The mailbox with this number: a shared one, or an extension's (defaults until first changed)."""
        row = self.db.conn.execute(
            f"SELECT {', '.join(_MAILBOX_FIELDS)} FROM mailboxes WHERE number = ?", (number,)).fetchone()
        if row is not None:
            values = dict(zip(_MAILBOX_FIELDS, row))
            for name in _BOOLS:
                values[name] = bool(values[name])
            return Mailbox(**values)
        ext = self.find_extension(number)
        if ext is None:
            raise NoSuchMailbox(number)
        return Mailbox(number=number, kind="personal", name=ext.name, language=getattr(ext, "language", None))

    def exists(self, number: str) -> bool:
        try:
            self.mailbox(number)
        except NoSuchMailbox:
            return False
        return True

    def create_shared(self, number: str, name: str, pin: str, *, email: str | None = None,
                      language: str | None = None, require_pin: bool = True, email_on_new: bool = True) -> Mailbox:
        """A shared mailbox (PortSIP §15) with its own number; its number must not be an extension's."""
        if not number.isdigit() or not 2 <= len(number) <= 8:
            raise InvalidMailboxValue("number", "must be 2 to 8 digits")
        if self.find_extension(number) is not None or self._row_exists(number):
            raise InvalidMailboxValue("number", f"{number} is already in use")
        if not name.strip():
            raise InvalidMailboxValue("name", "must not be empty")
        _check_pin(pin)
        now = self.clock()
        with transaction(self.db):
            self.db.conn.execute(
                "INSERT INTO mailboxes (number, kind, name, language, pin_hash, email, require_pin, email_on_new,"
                " created_at, updated_at) VALUES (?, 'shared', ?, ?, ?, ?, ?, ?, ?, ?)",
                (number, name.strip(), language, hash_password(pin), email, int(require_pin), int(email_on_new),
                 now, now))
        return self.mailbox(number)

    def update(self, number: str, **changes: Any) -> Mailbox:
        """Change mailbox options (creating the personal mailbox's row on first change)."""
        unknown = sorted(set(changes) - UPDATABLE)
        if unknown:
            raise InvalidMailboxValue(unknown[0], "cannot be changed")
        current = self.mailbox(number)
        for name in _BOOLS:
            if name in changes and not isinstance(changes[name], bool):
                raise InvalidMailboxValue(name, "must be true or false")
        for name in ("max_messages", "max_seconds"):
            if name in changes and (not isinstance(changes[name], int) or not 1 <= changes[name] <= 10000):
                raise InvalidMailboxValue(name, "must be a whole number from 1 to 10000")
        for name in ("delete_read_after_days", "delete_all_after_days"):
            value = changes.get(name, 0)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_RETENTION_DAYS:
                raise InvalidMailboxValue(name, f"must be a whole number of days from 0 to {MAX_RETENTION_DAYS}")
        now = self.clock()
        with transaction(self.db):
            if not self._row_exists(number):
                self._insert_defaults(current, now)
            if changes:
                values = {k: (int(v) if k in _BOOLS else v) for k, v in changes.items()}
                assignments = ", ".join(f"{k} = ?" for k in values)
                self.db.conn.execute(f"UPDATE mailboxes SET {assignments}, updated_at = ? WHERE number = ?",
                                     [*values.values(), now, number])
        return self.mailbox(number)

    def set_shared_pin(self, number: str, pin: str) -> None:
        mailbox = self.mailbox(number)
        if mailbox.kind != "shared":
            raise InvalidMailboxValue("pin", "a personal mailbox uses its extension's voicemail PIN")
        _check_pin(pin)
        with transaction(self.db):
            self.db.conn.execute("UPDATE mailboxes SET pin_hash = ?, updated_at = ? WHERE number = ?",
                                 (hash_password(pin), self.clock(), number))

    def check_shared_pin(self, number: str, pin: str) -> bool:
        mailbox = self.mailbox(number)
        return bool(mailbox.pin_hash) and verify_password(pin, mailbox.pin_hash or "")

    def shared_mailboxes(self) -> list[Mailbox]:
        rows = self.db.conn.execute("SELECT number FROM mailboxes WHERE kind = 'shared' ORDER BY number").fetchall()
        return [self.mailbox(r[0]) for r in rows]

    def delete_shared(self, number: str) -> None:
        mailbox = self.mailbox(number)
        if mailbox.kind != "shared":
            raise InvalidMailboxValue("number", "only shared mailboxes can be deleted")
        with transaction(self.db):
            self.db.conn.execute("DELETE FROM voicemail_messages WHERE mailbox = ?", (number,))
            self.db.conn.execute("DELETE FROM voicemail_greetings WHERE mailbox = ?", (number,))
            self.db.conn.execute("DELETE FROM voicemail_caller_rules WHERE mailbox = ?", (number,))
            self.db.conn.execute("DELETE FROM mailboxes WHERE number = ?", (number,))
        shutil.rmtree(self.root / number, ignore_errors=True)

    def _row_exists(self, number: str) -> bool:
        return self.db.conn.execute("SELECT 1 FROM mailboxes WHERE number = ?", (number,)).fetchone() is not None

    def _insert_defaults(self, mailbox: Mailbox, now: float) -> None:
        self.db.conn.execute(
            "INSERT INTO mailboxes (number, kind, name, language, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
            (mailbox.number, mailbox.kind, mailbox.name, mailbox.language, now, now))

    # --- messages ---------------------------------------------------------------------------------------
    def directory(self, mailbox: str) -> Path:
        path = self.root / mailbox
        path.mkdir(parents=True, exist_ok=True)
        return path

    def audio_path(self, message: Message) -> Path:
        return self.root / message.mailbox / f"{message.uid}.wav"

    def new_uid(self) -> str:
        return f"{int(self.clock())}-{secrets.token_hex(6)}"

    def begin_message(self, mailbox: str, caller: str, caller_name: str | None, received_at: float,
                      forwarded_from: str | None = None) -> tuple[str, Path]:
        """Reserve a message: writes its metadata and returns (uid, where to record the audio).

        The metadata is what lets recover() salvage the audio if the box dies mid-recording.
        """
        box = self.mailbox(mailbox)
        if self.count(mailbox)["total"] >= box.max_messages:
            raise MailboxFull(mailbox)
        uid = self.new_uid()
        folder = self.directory(mailbox)
        meta = {"mailbox": mailbox, "caller": caller, "caller_name": caller_name, "received_at": received_at,
                "forwarded_from": forwarded_from}
        atomic_write(folder / f"{uid}.json", json.dumps(meta).encode())
        return uid, folder / f"{uid}.wav"

    def commit_message(self, uid: str, mailbox: str, duration: float) -> Message:
        """Index a message whose audio is safely at `<uid>.wav` (the recorder renamed it there)."""
        folder = self.root / mailbox
        meta = json.loads((folder / f"{uid}.json").read_text())
        meta["duration"] = round(duration, 2)
        atomic_write(folder / f"{uid}.json", json.dumps(meta).encode())
        return self._insert(uid, meta)

    def discard_message(self, uid: str, mailbox: str) -> None:
        """Forget a reserved message (too short, silent, caller chose not to keep it)."""
        folder = self.root / mailbox
        for suffix in (".wav", ".json"):
            (folder / f"{uid}{suffix}").unlink(missing_ok=True)

    def _insert(self, uid: str, meta: dict[str, Any]) -> Message:
        with transaction(self.db):
            cursor = self.db.conn.execute(
                "INSERT INTO voicemail_messages (uid, mailbox, folder, caller, caller_name, received_at, duration,"
                " forwarded_from, created_at) VALUES (?, ?, 'new', ?, ?, ?, ?, ?, ?)",
                (uid, meta["mailbox"], meta.get("caller") or "", meta.get("caller_name"), meta["received_at"],
                 float(meta.get("duration") or 0.0), meta.get("forwarded_from"), self.clock()))
        return self.message(cursor.lastrowid)

    def message_by_uid(self, uid: str) -> Message | None:
        """The message with this uid (what e-mail links name), or None once it is gone."""
        row = self.db.conn.execute(
            f"SELECT {', '.join(_MESSAGE_FIELDS)} FROM voicemail_messages WHERE uid = ?", (uid,)).fetchone()
        return None if row is None else Message(**dict(zip(_MESSAGE_FIELDS, row)))

    def message(self, message_id: int) -> Message:
        row = self.db.conn.execute(
            f"SELECT {', '.join(_MESSAGE_FIELDS)} FROM voicemail_messages WHERE id = ?", (message_id,)).fetchone()
        if row is None:
            raise NoSuchMessage(message_id)
        return Message(**dict(zip(_MESSAGE_FIELDS, row)))

    def messages(self, mailbox: str, folder: str | None = None) -> list[Message]:
        """New messages first (oldest first within a folder), as the phone menu plays them."""
        sql = f"SELECT {', '.join(_MESSAGE_FIELDS)} FROM voicemail_messages WHERE mailbox = ?"
        params: list[Any] = [mailbox]
        if folder is not None:
            sql += " AND folder = ?"
            params.append(folder)
        sql += " ORDER BY folder = 'old', received_at, id"
        return [Message(**dict(zip(_MESSAGE_FIELDS, row))) for row in self.db.conn.execute(sql, params)]

    def count(self, mailbox: str) -> dict[str, int]:
        rows = dict(self.db.conn.execute(
            "SELECT folder, count(*) FROM voicemail_messages WHERE mailbox = ? GROUP BY folder", (mailbox,)))
        new, old = rows.get("new", 0), rows.get("old", 0)
        return {"new": new, "old": old, "total": new + old}

    def mark(self, message_id: int, read: bool) -> Message:
        """Move a message to old (read) or back to new; the first time it is read is kept for retention."""
        with transaction(self.db):
            cursor = self.db.conn.execute(
                "UPDATE voicemail_messages SET folder = ?,"
                " read_at = CASE WHEN ? THEN coalesce(read_at, ?) ELSE NULL END WHERE id = ?",
                ("old" if read else "new", int(read), self.clock(), message_id))
            if cursor.rowcount == 0:
                raise NoSuchMessage(message_id)
        return self.message(message_id)

    def delete(self, message_id: int) -> Message:
        """Remove the row first, then the files: a crash in between leaves files recover() re-indexes
        only if their metadata survives — so the metadata goes before the audio."""
        message = self.message(message_id)
        with transaction(self.db):
            self.db.conn.execute("DELETE FROM voicemail_messages WHERE id = ?", (message_id,))
        folder = self.root / message.mailbox
        (folder / f"{message.uid}.json").unlink(missing_ok=True)
        (folder / f"{message.uid}.wav").unlink(missing_ok=True)
        return message

    def delete_read(self, mailbox: str) -> int:
        old = self.messages(mailbox, "old")
        for message in old:
            self.delete(message.id)
        return len(old)

    def copy_to(self, message: Message, mailbox: str, forwarded_by: str) -> Message:
        """Forward a message to another mailbox (a copy of the audio, a new entry there)."""
        uid, target = self.begin_message(mailbox, message.caller, message.caller_name, message.received_at,
                                         forwarded_from=forwarded_by)
        temp = target.with_suffix(".wav.part")
        shutil.copyfile(self.audio_path(message), temp)
        with open(temp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(temp, target)
        return self.commit_message(uid, mailbox, message.duration)

    # --- greetings ----------------------------------------------------------------------------------------
    def greeting_path(self, mailbox: str, kind: str) -> Path:
        """Where a greeting lives: the standard kinds, or a named one that per-caller rules refer to."""
        if kind not in GREETING_KINDS and not _GREETING_NAME.fullmatch(kind):
            raise InvalidMailboxValue("greeting", f"must be one of {', '.join(GREETING_KINDS)} or a name of "
                                      "lower-case letters, digits, - and _")
        return self.directory(mailbox) / f"greeting-{kind}.wav"

    def greeting(self, mailbox: str, kind: str) -> Path | None:
        path = self.greeting_path(mailbox, kind)
        return path if path.exists() else None

    def greeting_saved(self, mailbox: str, kind: str) -> None:
        """Record that a greeting file was (atomically) written."""
        with transaction(self.db):
            self.db.conn.execute(
                "INSERT INTO voicemail_greetings (mailbox, kind, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (mailbox, kind) DO UPDATE SET updated_at = excluded.updated_at",
                (mailbox, kind, self.clock()))

    def delete_greeting(self, mailbox: str, kind: str) -> None:
        self.greeting_path(mailbox, kind).unlink(missing_ok=True)
        with transaction(self.db):
            self.db.conn.execute("DELETE FROM voicemail_greetings WHERE mailbox = ? AND kind = ?", (mailbox, kind))

    # --- crash recovery --------------------------------------------------------------------------------------
    def recover(self) -> dict[str, int]:
        """Make files and rows agree after a crash; returns what was done (for the log)."""
        done = {"indexed": 0, "salvaged": 0, "dropped_rows": 0, "removed_files": 0}
        known = {uid: (mid, mailbox) for mid, uid, mailbox in
                 self.db.conn.execute("SELECT id, uid, mailbox FROM voicemail_messages")}
        if self.root.exists():
            for folder in sorted(p for p in self.root.iterdir() if p.is_dir()):
                for meta_path in sorted(folder.glob("*.json")):
                    uid = meta_path.stem
                    wav = folder / f"{uid}.wav"
                    if uid in known:
                        continue
                    if not wav.exists() and self._salvage(folder, uid):
                        done["salvaged"] += 1
                    if wav.exists():
                        try:
                            meta = json.loads(meta_path.read_text())
                            meta.setdefault("duration", _wav_seconds(wav))
                            self._insert(uid, meta)
                            done["indexed"] += 1
                            continue
                        except (ValueError, KeyError, OSError) as err:
                            log.warning("voicemail %s/%s unreadable (%s): removing", folder.name, uid, err)
                    meta_path.unlink(missing_ok=True)
                    wav.unlink(missing_ok=True)
                    done["removed_files"] += 1
                for wav in folder.glob("*.wav"):
                    if wav.stem not in known and not wav.name.startswith("greeting-") \
                            and not wav.with_suffix(".json").exists():
                        wav.unlink(missing_ok=True)  # a delete interrupted after its metadata went
                        done["removed_files"] += 1
                for temp in folder.glob(".*.tmp"):
                    temp.unlink(missing_ok=True)  # recorder leftovers not claimed by any metadata
                    done["removed_files"] += 1
        for uid, (mid, mailbox) in known.items():
            if not (self.root / mailbox / f"{uid}.wav").exists():
                with transaction(self.db):
                    self.db.conn.execute("DELETE FROM voicemail_messages WHERE id = ?", (mid,))
                done["dropped_rows"] += 1
        return done

    def _salvage(self, folder: Path, uid: str) -> bool:
        """Finish a recording cut off by a crash: its temp file has audio but a header saying zero bytes."""
        temps = sorted(folder.glob(f".{uid}.wav.*.tmp"))
        for temp in temps:
            data = temp.read_bytes()
            audio = data[44:]
            if len(audio) < RATE * 2:  # under a second: not worth keeping
                continue
            audio = audio[: len(audio) & ~1]
            header = _wav_header(len(audio))
            atomic_write(folder / f"{uid}.wav", header + audio)
            for t in temps:
                t.unlink(missing_ok=True)
            log.info("voicemail %s/%s: salvaged %.1f s cut short by a crash", folder.name, uid,
                     len(audio) / (2 * RATE))
            return True
        for t in temps:
            t.unlink(missing_ok=True)
        return False


def _check_pin(pin: str) -> None:
    if not isinstance(pin, str) or not pin.isdigit() or not 4 <= len(pin) <= 8:
        raise InvalidMailboxValue("pin", "must be 4 to 8 digits")


def _wav_header(data_bytes: int) -> bytes:
    return (b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVEfmt " +
            struct.pack("<IHHIIHH", 16, 1, 1, RATE, RATE * 2, 2, 16) + b"data" + struct.pack("<I", data_bytes))


def _wav_seconds(path: Path) -> float:
    return max(0.0, (path.stat().st_size - 44) / (2 * RATE))
