"""Opening the database and running numbered migrations."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from appliance.store import ExtensionStore, initialize_database, migrate, open_database, schema_version
from appliance.store.db import change_version, latest_version, transaction
from appliance.store.exceptions import MigrationFailed, SchemaTooNew
from appliance.store.migrations import MIGRATIONS, Migration, split_statements


def _tables(db) -> set[str]:
    return {row[0] for row in db.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_open_database_sets_wal_full_sync_foreign_keys_and_busy_timeout(db_path: Path) -> None:
    db = open_database(db_path)
    conn = db.conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000
    db.close()


def test_migrate_from_empty_applies_every_migration_in_order(db_path: Path) -> None:
    db = open_database(db_path)
    assert schema_version(db) == 0
    assert migrate(db) == [m.number for m in MIGRATIONS]
    assert schema_version(db) == latest_version()
    assert {"extensions", "settings", "changes", "registrations", "cdr", "schema_migrations"} <= _tables(db)
    recorded = db.conn.execute("SELECT number, description FROM schema_migrations ORDER BY number").fetchall()
    assert recorded == [(m.number, m.description) for m in MIGRATIONS]


def test_migrate_again_applies_nothing_and_keeps_data(db_path: Path) -> None:
    db = initialize_database(db_path, seed=False)
    ExtensionStore(db).add("2001", "Kept", "secret-123")
    db.close()
    db = open_database(db_path)
    assert migrate(db) == []
    assert ExtensionStore(db).get("2001").name == "Kept"


def test_migrate_continues_from_a_partially_migrated_database(db_path: Path) -> None:
    db = open_database(db_path)
    migrate(db, MIGRATIONS[:1])
    assert schema_version(db) == 1
    assert migrate(db) == [m.number for m in MIGRATIONS[1:]]


def test_database_newer_than_the_code_is_refused_with_a_clear_error(db_path: Path) -> None:
    db = initialize_database(db_path, seed=False)
    db.conn.execute(
        "INSERT INTO schema_migrations (number, description, applied_at) VALUES (?, 'from the future', 0)",
        (latest_version() + 1,),
    )
    with pytest.raises(SchemaTooNew, match=r"version \d+ but this software only knows versions up to"):
        migrate(db)


def test_failing_migration_is_rolled_back_entirely(db_path: Path) -> None:
    db = open_database(db_path)
    broken = [
        Migration(1, "good", "CREATE TABLE a (x INTEGER);"),
        Migration(2, "half done", "CREATE TABLE b (x INTEGER); INSERT INTO nowhere VALUES (1);"),
    ]
    with pytest.raises(MigrationFailed, match="migration 2 .half done. failed"):
        migrate(db, broken)
    assert schema_version(db) == 1
    assert "a" in _tables(db)
    assert "b" not in _tables(db)  # the CREATE of the failed step was undone with it


def test_migration_may_be_a_function(db_path: Path) -> None:
    db = open_database(db_path)
    steps = [Migration(1, "python step", lambda d: d.conn.execute("CREATE TABLE f (x)"))]
    assert migrate(db, steps) == [1]
    assert "f" in _tables(db)


def test_migration_numbers_must_be_contiguous(db_path: Path) -> None:
    db = open_database(db_path)
    with pytest.raises(ValueError, match="without gaps"):
        migrate(db, [Migration(1, "a", "SELECT 1"), Migration(3, "c", "SELECT 1")])


def test_split_statements_keeps_trigger_bodies_and_quoted_semicolons_whole() -> None:
    script = """
        CREATE TABLE t (x TEXT);
        INSERT INTO t VALUES ('a;b');
        CREATE TRIGGER tr AFTER INSERT ON t BEGIN UPDATE t SET x = x || ';'; SELECT 1; END;
    """
    statements = split_statements(script)
    assert len(statements) == 3
    assert statements[1] == "INSERT INTO t VALUES ('a;b');"
    assert statements[2].endswith("END;")


def test_concurrent_migrations_from_two_connections_apply_each_step_once(db_path: Path) -> None:
    errors: list[BaseException] = []
    applied: list[list[int]] = []

    def run() -> None:
        try:
            database = open_database(db_path, check_same_thread=False)
            applied.append(migrate(database))
            database.close()
        except BaseException as err:  # collected and asserted below
            errors.append(err)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(n for numbers in applied for n in numbers) == [m.number for m in MIGRATIONS]


def test_transaction_rolls_back_on_error_and_nests_as_savepoint(db) -> None:
    store = ExtensionStore(db)
    with pytest.raises(RuntimeError):
        with transaction(db):
            store.add("2001", "One", "secret-123")
            raise RuntimeError("abort")
    assert store.find("2001") is None
    with transaction(db):
        store.add("2002", "Two", "secret-123")
        with pytest.raises(RuntimeError):
            with transaction(db):
                store.add("2003", "Three", "secret-123")
                raise RuntimeError("inner only")
    assert store.find("2002") is not None
    assert store.find("2003") is None


def test_cli_process_writes_while_another_connection_holds_a_write_transaction(db_path: Path) -> None:
    db = initialize_database(db_path, seed=False)
    db.close()
    holder = sqlite3.connect(db_path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("UPDATE settings SET value = value")  # hold the write lock like a busy daemon
    cli = subprocess.Popen(
        [sys.executable, "-m", "appliance", "ext", "add", "2001", "--name", "Waited",
         "--secret", "secret-123", "--data", str(db_path.parent)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    time.sleep(1.0)
    assert cli.poll() is None, "the CLI must wait for the lock, not fail"
    holder.execute("COMMIT")
    out, err = cli.communicate(timeout=30)
    assert cli.returncode == 0, err
    reader = open_database(db_path)
    assert ExtensionStore(reader).get("2001").name == "Waited"


def test_change_version_sees_commits_from_other_connections(db_path: Path) -> None:
    daemon = initialize_database(db_path, seed=False)
    before = change_version(daemon, "extensions")
    cli = open_database(db_path)
    ExtensionStore(cli).add("2001", "Other process", "secret-123")
    assert change_version(daemon, "extensions") == before + 1
    assert change_version(daemon, "settings") == 0

