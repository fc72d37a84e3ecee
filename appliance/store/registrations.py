"""Persistent copy of the location service (RFC 3261 §10): contact bindings that survive a pbxd restart.

The registrar keeps its working set in memory and writes through to this table; on start-up the daemon
calls `load_all()` after `purge_expired()`. Times are wall-clock epoch seconds because monotonic clocks
do not survive a reboot; the daemon converts to its monotonic `now` on load.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

from sqlite_utils import Database

from appliance.store.db import Clock, transaction
from appliance.store.exceptions import NoSuchExtension


@dataclass(frozen=True, kw_only=True)
class Binding:
    """One contact registered for an address-of-record (the extension number).

    `received` is where the REGISTER really came from, "transport:host:port" (e.g. "udp:192.0.2.7:5062"),
    used to reach phones behind NAT; `path` holds RFC 3327 Path header values, outermost first.
    """

    aor: str
    contact: str
    expires_at: float
    call_id: str = ""
    cseq: int = 0
    instance_id: str | None = None
    reg_id: int | None = None
    q: float | None = None
    received: str | None = None
    path: tuple[str, ...] = ()
    user_agent: str | None = None
    updated_at: float | None = None


class RegistrationStore:
    """Bindings keyed by (aor, contact); an unknown aor raises NoSuchExtension."""

    def __init__(self, db: Database, *, clock: Clock = time.time) -> None:
        self._db = db
        self._clock = clock

    def upsert(self, binding: Binding) -> None:
        """Insert or refresh one binding."""
        with transaction(self._db):
            self._write(binding)

    def replace(self, aor: str, bindings: Iterable[Binding]) -> None:
        """Make `bindings` the complete set for `aor`, atomically (what a REGISTER leaves behind)."""
        with transaction(self._db):
            self._db.conn.execute("DELETE FROM registrations WHERE aor = ?", (aor,))
            for binding in bindings:
                if binding.aor != aor:
                    raise ValueError(f"binding for {binding.aor} passed to replace({aor!r})")
                self._write(binding)

    def remove(self, aor: str, contact: str) -> bool:
        """Delete one binding; True if it existed."""
        with transaction(self._db):
            cursor = self._db.conn.execute(
                "DELETE FROM registrations WHERE aor = ? AND contact = ?", (aor, contact)
            )
        return cursor.rowcount > 0

    def remove_all(self, aor: str) -> int:
        """Delete every binding of `aor` (REGISTER with Contact: *); returns how many."""
        with transaction(self._db):
            cursor = self._db.conn.execute("DELETE FROM registrations WHERE aor = ?", (aor,))
        return cursor.rowcount

    def load_all(self) -> list[Binding]:
        """Every stored binding, grouped by aor."""
        rows = self._db.conn.execute(
            f"SELECT {_COLUMNS} FROM registrations ORDER BY aor, contact"
        ).fetchall()
        return [_from_tuple(row) for row in rows]

    def for_aor(self, aor: str) -> list[Binding]:
        """The bindings of one address-of-record."""
        rows = self._db.conn.execute(
            f"SELECT {_COLUMNS} FROM registrations WHERE aor = ? ORDER BY contact", (aor,)
        ).fetchall()
        return [_from_tuple(row) for row in rows]

    def purge_expired(self, now_epoch: float) -> int:
        """Delete bindings whose expiry is at or before `now_epoch`; returns how many."""
        with transaction(self._db):
            cursor = self._db.conn.execute(
                "DELETE FROM registrations WHERE expires_at <= ?", (now_epoch,)
            )
        return cursor.rowcount

    def _write(self, binding: Binding) -> None:
        row = asdict(binding)
        row["path"] = json.dumps(list(binding.path))
        if row["updated_at"] is None:
            row["updated_at"] = self._clock()
        try:
            # Plain SQL: sqlite-utils' upsert introspects the table on every call, which costs more than
            # the write itself when the registrar persists thousands of bindings a second.
            self._db.conn.execute(_UPSERT, [row[name] for name in _FIELD_NAMES])
        except sqlite3.IntegrityError as err:
            if "FOREIGN KEY" in str(err):
                raise NoSuchExtension(binding.aor) from err
            raise


_FIELD_NAMES = [f.name for f in fields(Binding)]
_COLUMNS = ", ".join(_FIELD_NAMES)
_UPSERT = (
    f"INSERT INTO registrations ({_COLUMNS}) VALUES ({', '.join('?' for _ in _FIELD_NAMES)}) "
    "ON CONFLICT (aor, contact) DO UPDATE SET "
    + ", ".join(f"{name} = excluded.{name}" for name in _FIELD_NAMES if name not in ("aor", "contact"))
)


def _from_tuple(row: Sequence[Any]) -> Binding:
    values = dict(zip(_FIELD_NAMES, row))
    values["path"] = tuple(json.loads(values["path"] or "[]"))
    return Binding(**values)
