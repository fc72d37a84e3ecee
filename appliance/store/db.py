"""Opening the SQLite database, transactions, and the numbered-migration runner.

The connection is opened by us (not by sqlite-utils) so that every process - pbxd, the CLI, the web UI -
gets the same pragmas: WAL so readers never block the writer, synchronous=FULL because configuration and
CDRs are user data, foreign keys on, and a busy timeout so that a CLI edit waits for the daemon's
transaction instead of failing with "database is locked".
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence

from sqlite_utils import Database

from appliance.store.exceptions import MigrationFailed, SchemaTooNew
from appliance.store.migrations import MIGRATIONS, Migration

log = logging.getLogger(__name__)

#: Wall-clock source for timestamps stored in rows (epoch seconds); injected by tests.
Clock = Callable[[], float]

#: How long a writer waits for another connection's write transaction before giving up.
BUSY_TIMEOUT_MS = 10_000


def open_database(path: str | os.PathLike[str], *, check_same_thread: bool = True) -> Database:
    """Open (creating if needed) the database file with the appliance's pragmas; no schema changes."""
    # isolation_level=None: the sqlite3 module never opens transactions behind our back; we issue
    # BEGIN IMMEDIATE ourselves (see `transaction`) and sqlite-utils nests inside with savepoints.
    conn = sqlite3.connect(
        os.fspath(path),
        isolation_level=None,
        timeout=BUSY_TIMEOUT_MS / 1000,
        check_same_thread=check_same_thread,
    )
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            # e.g. a filesystem without shared memory support; correctness holds, concurrency suffers
            log.warning("database %s: journal mode is %s, not WAL", path, mode)
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
    except sqlite3.DatabaseError:
        conn.close()
        raise
    return Database(conn, execute_plugins=False)


@contextlib.contextmanager
def transaction(db: Database) -> Iterator[Database]:
    """Run a block in one write transaction (BEGIN IMMEDIATE), or in a savepoint when already inside one.

    IMMEDIATE takes the write lock up front: a deferred transaction that reads and then writes can fail
    with SQLITE_BUSY without waiting when another connection committed in between, which the busy
    timeout cannot fix.
    """
    conn = db.conn
    if conn.in_transaction:
        with db.atomic():
            yield db
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    else:
        try:
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise


def latest_version(migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """The schema version this code produces."""
    return max((m.number for m in migrations), default=0)


def schema_version(db: Database) -> int:
    """The highest migration applied to this database (0 for an empty one)."""
    if not _has_table(db, "schema_migrations"):
        return 0
    row = db.conn.execute("SELECT max(number) FROM schema_migrations").fetchone()
    return int(row[0] or 0)


def migrate(
    db: Database, migrations: Sequence[Migration] = MIGRATIONS, *, clock: Clock = time.time
) -> list[int]:
    """Apply every migration not yet applied, each in its own transaction; return the numbers applied.

    Safe to run concurrently from several processes (each migration re-checks inside its transaction)
    and safe to interrupt: a migration is either fully applied and recorded, or not at all.
    """
    _check_sequence(migrations)
    code_version = latest_version(migrations)
    db.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " number INTEGER PRIMARY KEY,"
        " description TEXT NOT NULL,"
        " applied_at REAL NOT NULL)"
    )
    current = schema_version(db)
    if current > code_version:
        raise SchemaTooNew(current, code_version)
    applied: list[int] = []
    for migration in sorted(migrations, key=lambda m: m.number):
        if migration.number <= current:
            continue
        with transaction(db):
            done = db.conn.execute(
                "SELECT 1 FROM schema_migrations WHERE number = ?", (migration.number,)
            ).fetchone()
            if done:  # another process got there first
                continue
            try:
                migration.apply(db)
            except sqlite3.Error as err:
                raise MigrationFailed(migration.number, migration.description, err) from err
            db.conn.execute(
                "INSERT INTO schema_migrations (number, description, applied_at) VALUES (?, ?, ?)",
                (migration.number, migration.description, clock()),
            )
        log.info("applied migration %d: %s", migration.number, migration.description)
        applied.append(migration.number)
    return applied


def change_version(db: Database, topic: str) -> int:
    """A counter that triggers bump on every committed change of `topic` ('extensions', 'settings').

    Cheap enough to poll every second: the daemon compares it with the value it saw last to notice
    edits made by the CLI or the web UI in other processes.
    """
    row = db.conn.execute("SELECT version FROM changes WHERE topic = ?", (topic,)).fetchone()
    return int(row[0]) if row else 0


def _has_table(db: Database, name: str) -> bool:
    row = db.conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
    ).fetchone()
    return row is not None


def _check_sequence(migrations: Sequence[Migration]) -> None:
    numbers = sorted(m.number for m in migrations)
    if numbers != list(range(1, len(numbers) + 1)):
        raise ValueError(f"migration numbers must be 1..n without gaps or duplicates, got {numbers}")

