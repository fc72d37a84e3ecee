"""The notification queue in SQLite (table `email_queue`) and the retry policy.

A row is one notification of one voicemail message through one channel ('email' or 'sms'): pending,
then sent, or failed for good. Rows are never deleted here: the table is the log the web UI shows.
The `payload` column is a JSON snapshot of what the notification says (caller, time, duration, mailbox
name, language), taken at enqueue time, so a message deleted in the meantime can still be described.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlite_utils import Database

from appliance.store.db import transaction

LOG_FIELDS = ("id", "channel", "mailbox", "message_uid", "recipient", "attach", "state", "attempts", "last_error",
              "created_at", "sent_at", "next_attempt_at")
_COLUMNS = ("id", "channel", "message_uid", "mailbox", "recipient", "attach", "state", "attempts",
            "next_attempt_at", "last_error", "created_at", "sent_at", "first_attempt_at", "payload")
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM email_queue"


@dataclass(frozen=True, kw_only=True)
class QueuedItem:
    """What enqueue() hands to the worker thread, to be committed as a pending row."""

    channel: str  # "email" or "sms"
    message_uid: str
    mailbox: str
    recipient: str  # an e-mail address, a phone number, or "" (SMS: the mailbox's number setting)
    attach: bool
    payload: dict[str, Any]
    created_at: float


@dataclass(frozen=True, kw_only=True)
class OutboxRow:
    id: int
    channel: str
    message_uid: str | None
    mailbox: str
    recipient: str
    attach: bool
    state: str
    attempts: int
    next_attempt_at: float
    last_error: str | None
    created_at: float
    sent_at: float | None
    first_attempt_at: float | None
    payload: dict[str, Any] = field(default_factory=dict)

    def as_log(self) -> dict[str, Any]:
        """The row as the web UI's log shows it."""
        return {name: getattr(self, name) for name in LOG_FIELDS}


def _row(values: Sequence[Any]) -> OutboxRow:
    data = dict(zip(_COLUMNS, values))
    data["attach"] = bool(data["attach"])
    try:
        data["payload"] = json.loads(data["payload"] or "{}")
    except ValueError:
        data["payload"] = {}
    return OutboxRow(**data)


@dataclass(frozen=True)
class RetryPolicy:
    """When to try again after a failure, and when to stop.

    The n-th failure waits backoff[n-1] (the last value repeats). A row gives up once `give_up_after`
    seconds have passed since its first attempt *and* it has been tried at least len(backoff) times:
    the second condition keeps a wall clock that jumps at boot (no RTC, then NTP) from failing a row
    that was barely tried.
    """

    backoff: tuple[float, ...] = (30, 60, 120, 300, 600, 1800, 3600)
    give_up_after: float = 3 * 86400

    def __post_init__(self) -> None:
        if not self.backoff or any(b < 0 for b in self.backoff):
            raise ValueError("backoff must be a non-empty sequence of non-negative seconds")

    @property
    def longest(self) -> float:
        return max(self.backoff)

    def after_failure(self, attempts: int, first_attempt_at: float, now: float, permanent: bool) -> tuple[str, float]:
        """(state, next_attempt_at) after failure number `attempts` (counting this one)."""
        if permanent:
            return "failed", now
        if now - first_attempt_at >= self.give_up_after and attempts >= len(self.backoff):
            return "failed", now
        return "pending", now + self.backoff[min(attempts, len(self.backoff)) - 1]


class OutboxQueue:
    """SQL over `email_queue`; each method is one committed transaction."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def insert(self, items: Iterable[QueuedItem]) -> list[int]:
        """Commit new pending rows, all in one transaction (one fsync for a burst)."""
        ids = []
        with transaction(self.db):
            for item in items:
                cursor = self.db.conn.execute(
                    "INSERT INTO email_queue (channel, message_uid, mailbox, recipient, attach, state, attempts,"
                    " next_attempt_at, created_at, payload) VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?)",
                    (item.channel, item.message_uid, item.mailbox, item.recipient, int(item.attach),
                     item.created_at, item.created_at, json.dumps(item.payload, ensure_ascii=False)))
                ids.append(int(cursor.lastrowid or 0))
        return ids

    def get(self, row_id: int) -> OutboxRow | None:
        values = self.db.conn.execute(f"{_SELECT} WHERE id = ?", (row_id,)).fetchone()
        return None if values is None else _row(values)

    def due(self, now: float, *, longest_wait: float, limit: int = 100) -> list[OutboxRow]:
        """Pending rows whose time has come, oldest first.

        A row scheduled further ahead than the longest back-off can only be there because the wall
        clock went back; it is treated as due rather than left waiting for hours.
        """
        rows = self.db.conn.execute(
            f"{_SELECT} WHERE state = 'pending' AND (next_attempt_at <= ? OR next_attempt_at > ?)"
            " ORDER BY next_attempt_at, id LIMIT ?", (now, now + longest_wait, limit)).fetchall()
        return [_row(r) for r in rows]

    def earliest(self, *, excluding: Iterable[str] = ()) -> float | None:
        """The next_attempt_at of the first pending row of a channel not in `excluding`."""
        skip = sorted(set(excluding))
        sql = "SELECT min(next_attempt_at) FROM email_queue WHERE state = 'pending'"
        if skip:
            sql += f" AND channel NOT IN ({', '.join('?' for _ in skip)})"
        value = self.db.conn.execute(sql, skip).fetchone()[0]
        return None if value is None else float(value)

    def retry_now(self, now: float) -> int:
        """Make every pending row due (settings changed, or the administrator asked); returns how many."""
        with transaction(self.db):
            cursor = self.db.conn.execute(
                "UPDATE email_queue SET next_attempt_at = ? WHERE state = 'pending' AND next_attempt_at > ?",
                (now, now))
        return cursor.rowcount

    def pending_count(self) -> int:
        return int(self.db.conn.execute("SELECT count(*) FROM email_queue WHERE state = 'pending'").fetchone()[0])

    def mark_sent(self, row: OutboxRow, now: float) -> OutboxRow:
        with transaction(self.db):
            self.db.conn.execute(
                "UPDATE email_queue SET state = 'sent', attempts = attempts + 1, sent_at = ?,"
                " first_attempt_at = coalesce(first_attempt_at, ?) WHERE id = ?", (now, now, row.id))
        return self.get(row.id) or row

    def mark_failure(self, row: OutboxRow, error: str, now: float, *, permanent: bool,
                     policy: RetryPolicy) -> OutboxRow:
        """Count a failed attempt; the row is rescheduled or, per `policy`, failed for good."""
        attempts = row.attempts + 1
        first = row.first_attempt_at if row.first_attempt_at is not None else now
        state, next_at = policy.after_failure(attempts, first, now, permanent)
        if state == "failed" and not permanent:
            error = f"gave up after {attempts} attempts: {error}"
        with transaction(self.db):
            self.db.conn.execute(
                "UPDATE email_queue SET state = ?, attempts = ?, next_attempt_at = ?, last_error = ?,"
                " first_attempt_at = ? WHERE id = ?", (state, attempts, next_at, error[:1000], first, row.id))
        return self.get(row.id) or row

    def downgrade_to_notice(self, row: OutboxRow, error: str, now: float) -> OutboxRow:
        """The server refused the message as too large: retry at once as a notice without audio."""
        with transaction(self.db):
            self.db.conn.execute(
                "UPDATE email_queue SET attach = 0, attempts = attempts + 1, next_attempt_at = ?, last_error = ?,"
                " first_attempt_at = coalesce(first_attempt_at, ?) WHERE id = ?",
                (now, f"{error[:900]} (retrying without the audio)", now, row.id))
        return self.get(row.id) or row

    def set_recipient(self, row: OutboxRow, recipient: str) -> OutboxRow:
        with transaction(self.db):
            self.db.conn.execute("UPDATE email_queue SET recipient = ? WHERE id = ?", (recipient, row.id))
        return self.get(row.id) or row

    def log(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest rows first, as dicts (see LOG_FIELDS)."""
        rows = self.db.conn.execute(f"{_SELECT} ORDER BY id DESC LIMIT ?", (max(1, int(limit)),)).fetchall()
        return [_row(r).as_log() for r in rows]


def read_log(db: Database, limit: int = 100) -> list[dict[str, Any]]:
    """The notification log for a process that has its own database handle (the web UI)."""
    return OutboxQueue(db).log(limit)
