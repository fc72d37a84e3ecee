"""Call-detail records: one row per call, written when the call ends, searched by the web UI.

Times are wall-clock epoch seconds taken by the call layer's adapter. `duration` is the answered
(billable) time in whole seconds, 0 for unanswered calls; the total length is `end - start`, so no
separate billsec column is kept (D-store-4).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

from sqlite_utils import Database

from appliance.store.db import transaction
from appliance.store.exceptions import InvalidValue, NoSuchCallRecord

CALL_TYPES = ("internal", "inbound", "outbound")
CALL_STATUSES = ("answered", "no answer", "busy", "failed")
SEARCH_LIMIT_MAX = 1000


@dataclass(frozen=True, kw_only=True)
class CallRecord:
    """One finished call. `final_called` is who really got it (after forwarding, pickup, voicemail …)."""

    call_id: str
    start: float
    end: float
    caller: str
    called: str
    type: str
    status: str
    answer: float | None = None
    caller_name: str | None = None
    final_called: str | None = None
    duration: int | None = None
    recording: str | None = None
    hangup_cause: str | None = None
    id: int | None = None

    def __post_init__(self) -> None:
        # Derived defaults, so writers only state facts: who, when, how it ended.
        if self.final_called is None:
            object.__setattr__(self, "final_called", self.called)
        if self.duration is None:
            answered = 0 if self.answer is None else max(0, math.floor(self.end - self.answer + 0.5))
            object.__setattr__(self, "duration", answered)

    @property
    def total_seconds(self) -> float:
        """Length of the whole call including ringing."""
        return self.end - self.start


def validate_record(record: CallRecord) -> None:
    """Raise InvalidValue when a record contradicts itself."""
    if record.type not in CALL_TYPES:
        raise InvalidValue("type", f"must be one of {', '.join(CALL_TYPES)} (got {record.type!r})")
    if record.status not in CALL_STATUSES:
        raise InvalidValue("status", f"must be one of {', '.join(CALL_STATUSES)} (got {record.status!r})")
    if not record.call_id:
        raise InvalidValue("call_id", "must not be empty")
    if not record.caller or not record.called:
        raise InvalidValue("caller" if not record.caller else "called", "must not be empty")
    if record.end < record.start:
        raise InvalidValue("end", "is before start")
    if record.status == "answered":
        if record.answer is None:
            raise InvalidValue("answer", "an answered call needs an answer time")
        if not record.start <= record.answer <= record.end:
            raise InvalidValue("answer", "must lie between start and end")
    elif record.answer is not None:
        raise InvalidValue("answer", f"a call with status {record.status!r} was not answered")
    if record.duration is not None and record.duration < 0:
        raise InvalidValue("duration", "must not be negative")


class CdrStore:
    """Append and search call-detail records."""

    def __init__(self, db: Database) -> None:
        self._db = db
        # Migration 4 creates it only where SQLite has FTS5 with the trigram tokenizer.
        self._trigram = (
            db.conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'cdr_parties'").fetchone() is not None
        )

    def insert(self, record: CallRecord) -> CallRecord:
        """Store a finished call; returns it with its `id`."""
        validate_record(record)
        row = asdict(record)
        row.pop("id")
        # Plain SQL: sqlite-utils' insert introspects the table on every call (3x the cost of the row).
        with transaction(self._db):
            cursor = self._db.conn.execute(_INSERT, [row[name] for name in _INSERT_NAMES])
        return CallRecord(**{**row, "id": cursor.lastrowid})

    def get(self, record_id: int) -> CallRecord:
        """One record by id; raises NoSuchCallRecord."""
        row = self._db.conn.execute(
            f"SELECT {_COLUMNS} FROM cdr WHERE id = ?", (record_id,)
        ).fetchone()
        if row is None:
            raise NoSuchCallRecord(record_id)
        return _from_tuple(row)

    def search(
        self,
        *,
        start: float | None = None,
        end: float | None = None,
        type: str | None = None,  # noqa: A002 - the column's name
        status: str | None = None,
        number: str | None = None,
        extension: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[CallRecord]:
        """Newest first. `start <= call start < end`; `extension` is an exact party (caller, called or
        final called, served by indexes); `number` matches any part of a party's number (trigram index)."""
        if not 0 < limit <= SEARCH_LIMIT_MAX:
            raise InvalidValue("limit", f"must be between 1 and {SEARCH_LIMIT_MAX}")
        if offset < 0:
            raise InvalidValue("offset", "must not be negative")
        where, params = _filters(start, end, type, status, number, extension, self._trigram)
        rows = self._db.conn.execute(
            f"SELECT {_COLUMNS} FROM cdr {where} ORDER BY start DESC, id DESC LIMIT ? OFFSET ?",
            [*params, limit, offset],
        ).fetchall()
        return [_from_tuple(row) for row in rows]

    def count(
        self,
        *,
        start: float | None = None,
        end: float | None = None,
        type: str | None = None,  # noqa: A002
        status: str | None = None,
        number: str | None = None,
        extension: str | None = None,
    ) -> int:
        """How many records `search` with the same filters would page through."""
        where, params = _filters(start, end, type, status, number, extension, self._trigram)
        return int(self._db.conn.execute(f"SELECT count(*) FROM cdr {where}", params).fetchone()[0])

    def explain_search(self, **filters: Any) -> list[str]:
        """The query plan of `search(**filters)`, one line per step (for tests and diagnostics)."""
        limit, offset = filters.pop("limit", 50), filters.pop("offset", 0)
        where, params = _filters(**{k: filters.get(k) for k in _FILTER_NAMES}, trigram=self._trigram)
        rows = self._db.conn.execute(
            f"EXPLAIN QUERY PLAN SELECT {_COLUMNS} FROM cdr {where} "
            "ORDER BY start DESC, id DESC LIMIT ? OFFSET ?",
            [*params, limit, offset],
        ).fetchall()
        return [row[-1] for row in rows]


_FILTER_NAMES = ("start", "end", "type", "status", "number", "extension")


def _filters(
    start: float | None,
    end: float | None,
    type: str | None,  # noqa: A002
    status: str | None,
    number: str | None,
    extension: str | None,
    trigram: bool,
) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if start is not None:
        clauses.append("start >= ?")
        params.append(start)
    if end is not None:
        clauses.append("start < ?")
        params.append(end)
    if type is not None:
        if type not in CALL_TYPES:
            raise InvalidValue("type", f"must be one of {', '.join(CALL_TYPES)}")
        clauses.append("type = ?")
        params.append(type)
    if status is not None:
        if status not in CALL_STATUSES:
            raise InvalidValue("status", f"must be one of {', '.join(CALL_STATUSES)}")
        clauses.append("status = ?")
        params.append(status)
    if extension:
        # Three equality terms: SQLite's OR-by-union uses the (caller|called|final_called, start) indexes.
        clauses.append("(caller = ? OR called = ? OR final_called = ?)")
        params += [extension] * 3
    if number and trigram and len(number) >= 3:
        # One quoted FTS5 phrase: matches the fragment anywhere in any of the three columns.
        clauses.append("id IN (SELECT rowid FROM cdr_parties WHERE cdr_parties MATCH ?)")
        params.append('"' + number.replace('"', '""') + '"')
    elif number:
        # Fragments shorter than a trigram (and SQLite without FTS5) scan; correct, slower.
        clauses.append("(instr(caller, ?) > 0 OR instr(called, ?) > 0 OR instr(final_called, ?) > 0)")
        params += [number] * 3
    return ("WHERE " + " AND ".join(clauses) if clauses else ""), params


_FIELD_NAMES = [f.name for f in fields(CallRecord)]
_COLUMNS = ", ".join(f'"{name}"' for name in _FIELD_NAMES)
_INSERT_NAMES = [name for name in _FIELD_NAMES if name != "id"]
_INSERT_COLUMNS = ", ".join(f'"{name}"' for name in _INSERT_NAMES)
_INSERT = f"INSERT INTO cdr ({_INSERT_COLUMNS}) VALUES ({', '.join('?' for _ in _INSERT_NAMES)})"


def _from_tuple(row: Sequence[Any]) -> CallRecord:
    return CallRecord(**dict(zip(_FIELD_NAMES, row)))
