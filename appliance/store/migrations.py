"""The numbered schema migrations. Append only: never edit a migration that has shipped.

Each entry is (number, description, SQL script or function of the Database). `db.migrate` applies each in
its own transaction together with its row in `schema_migrations`, so a migration must not COMMIT itself
(plain DDL/DML only; no VACUUM, no `PRAGMA journal_mode`).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

from sqlite_utils import Database

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Migration:
    """One schema step; `action` is a SQL script (several statements allowed) or a function."""

    number: int
    description: str
    action: str | Callable[[Database], None]

    def apply(self, db: Database) -> None:
        """Run the step on `db`, inside the transaction the caller opened."""
        if callable(self.action):
            self.action(db)
            return
        for statement in split_statements(self.action):
            # conn.execute, not executescript: executescript would COMMIT the caller's transaction
            db.conn.execute(statement)


def split_statements(script: str) -> list[str]:
    """Split a SQL script into complete statements (trigger bodies and quoted ';' stay intact)."""
    statements: list[str] = []
    pending = ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \t\r\n;"):
                statements.append(pending.strip())
            pending = ""
    if pending.strip(" \t\r\n;"):
        raise ValueError(f"incomplete SQL statement at end of script: {pending.strip()[:60]!r}")
    return statements


def _change_triggers(table: str, topic: str) -> str:
    """SQL for triggers bumping `changes.version` of `topic` on any write to `table`."""
    return "\n".join(
        f"CREATE TRIGGER {table}_changed_{event.lower()} AFTER {event} ON {table} BEGIN "
        f"UPDATE changes SET version = version + 1 WHERE topic = '{topic}'; END;"
        for event in ("INSERT", "UPDATE", "DELETE")
    )


_EXTENSIONS_AND_SETTINGS = f"""
CREATE TABLE extensions (
    number      TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    secret      TEXT NOT NULL,
    email       TEXT,
    department  TEXT,
    enabled     INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    created_at  REAL NOT NULL,
    updated_at  REAL NOT NULL
);
CREATE TABLE settings (
    key         TEXT PRIMARY KEY,
    value       TEXT NOT NULL,
    updated_at  REAL NOT NULL
);
CREATE TABLE changes (
    topic       TEXT PRIMARY KEY,
    version     INTEGER NOT NULL DEFAULT 0
);
INSERT INTO changes (topic, version) VALUES ('extensions', 0), ('settings', 0);
{_change_triggers("extensions", "extensions")}
{_change_triggers("settings", "settings")}
"""

_REGISTRATIONS = """
CREATE TABLE registrations (
    aor          TEXT NOT NULL REFERENCES extensions (number) ON DELETE CASCADE ON UPDATE CASCADE,
    contact      TEXT NOT NULL,
    instance_id  TEXT,
    reg_id       INTEGER,
    call_id      TEXT NOT NULL,
    cseq         INTEGER NOT NULL,
    expires_at   REAL NOT NULL,
    q            REAL,
    received     TEXT,
    path         TEXT NOT NULL DEFAULT '[]',
    user_agent   TEXT,
    updated_at   REAL NOT NULL,
    PRIMARY KEY (aor, contact)
);
CREATE INDEX registrations_expires_at ON registrations (expires_at);
"""

_CDR = """
CREATE TABLE cdr (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    call_id       TEXT NOT NULL,
    start         REAL NOT NULL,
    answer        REAL,
    "end"         REAL NOT NULL,
    caller        TEXT NOT NULL,
    caller_name   TEXT,
    called        TEXT NOT NULL,
    final_called  TEXT NOT NULL,
    duration      INTEGER NOT NULL DEFAULT 0,
    type          TEXT NOT NULL CHECK (type IN ('internal', 'inbound', 'outbound')),
    status        TEXT NOT NULL CHECK (status IN ('answered', 'no answer', 'busy', 'failed')),
    recording     TEXT,
    hangup_cause  TEXT
);
CREATE INDEX cdr_start ON cdr (start);
CREATE INDEX cdr_caller_start ON cdr (caller, start);
CREATE INDEX cdr_called_start ON cdr (called, start);
CREATE INDEX cdr_final_called_start ON cdr (final_called, start);
CREATE INDEX cdr_call_id ON cdr (call_id);
"""

_CDR_PARTIES_TRIGGERS = """
CREATE TRIGGER cdr_parties_insert AFTER INSERT ON cdr BEGIN
    INSERT INTO cdr_parties (rowid, caller, called, final_called)
    VALUES (new.id, new.caller, new.called, new.final_called);
END;
CREATE TRIGGER cdr_parties_delete AFTER DELETE ON cdr BEGIN
    INSERT INTO cdr_parties (cdr_parties, rowid, caller, called, final_called)
    VALUES ('delete', old.id, old.caller, old.called, old.final_called);
END;
CREATE TRIGGER cdr_parties_update AFTER UPDATE OF caller, called, final_called ON cdr BEGIN
    INSERT INTO cdr_parties (cdr_parties, rowid, caller, called, final_called)
    VALUES ('delete', old.id, old.caller, old.called, old.final_called);
    INSERT INTO cdr_parties (rowid, caller, called, final_called)
    VALUES (new.id, new.caller, new.called, new.final_called);
END;
"""


def _cdr_number_search_index(db: Database) -> None:
    """A trigram full-text index over the party numbers, so "any part of a number" needs no table scan.

    Skipped (with a warning) when this SQLite lacks FTS5 or its trigram tokenizer; the CDR search then
    falls back to scanning, which is correct but slower.
    """
    try:
        db.conn.execute(
            "CREATE VIRTUAL TABLE cdr_parties USING fts5("
            "caller, called, final_called, content='cdr', content_rowid='id', tokenize='trigram')"
        )
    except sqlite3.OperationalError as err:
        log.warning("SQLite has no FTS5 trigram tokenizer (%s): CDR number search will scan", err)
        return
    for statement in split_statements(_CDR_PARTIES_TRIGGERS):
        db.conn.execute(statement)
    db.conn.execute("INSERT INTO cdr_parties (cdr_parties) VALUES ('rebuild')")


_EXTENSION_PREFERENCES = """
ALTER TABLE extensions ADD COLUMN dnd INTEGER NOT NULL DEFAULT 0 CHECK (dnd IN (0, 1));
ALTER TABLE extensions ADD COLUMN voicemail_enabled INTEGER NOT NULL DEFAULT 1 CHECK (voicemail_enabled IN (0, 1));
ALTER TABLE extensions ADD COLUMN voicemail_pin_hash TEXT;
ALTER TABLE extensions ADD COLUMN web_password_hash TEXT;
ALTER TABLE extensions ADD COLUMN language TEXT;
"""

_CONTACTS = f"""
CREATE TABLE contacts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    owner       TEXT REFERENCES extensions (number) ON DELETE CASCADE ON UPDATE CASCADE,
    first_name  TEXT NOT NULL DEFAULT '',
    last_name   TEXT NOT NULL DEFAULT '',
    company     TEXT NOT NULL DEFAULT '',
    email       TEXT,
    created_at  REAL NOT NULL,
    updated_at  REAL NOT NULL
);
CREATE INDEX contacts_owner_name ON contacts (owner, last_name COLLATE NOCASE, first_name COLLATE NOCASE);
CREATE TABLE contact_numbers (
    contact_id  INTEGER NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    label       TEXT NOT NULL CHECK (label IN ('work', 'mobile', 'home', 'other')),
    number      TEXT NOT NULL,
    PRIMARY KEY (contact_id, position)
);
CREATE INDEX contact_numbers_number ON contact_numbers (number);
INSERT INTO changes (topic, version) VALUES ('contacts', 0);
{_change_triggers("contacts", "contacts")}
{_change_triggers("contact_numbers", "contacts")}
"""

_WEB_LOGIN_FAILURES = """
CREATE TABLE web_login_failures (
    id       INTEGER PRIMARY KEY,
    account  TEXT NOT NULL,
    address  TEXT NOT NULL,
    at       REAL NOT NULL
);
CREATE INDEX web_login_failures_account ON web_login_failures (account, at);
CREATE INDEX web_login_failures_address ON web_login_failures (address, at);
"""

_VOICEMAIL = """
CREATE TABLE mailboxes (
    number          TEXT PRIMARY KEY,
    kind            TEXT NOT NULL CHECK (kind IN ('personal', 'shared')),
    name            TEXT NOT NULL DEFAULT '',
    language        TEXT,
    pin_hash        TEXT,
    email           TEXT,
    require_pin     INTEGER NOT NULL DEFAULT 1 CHECK (require_pin IN (0, 1)),
    email_on_new    INTEGER NOT NULL DEFAULT 1 CHECK (email_on_new IN (0, 1)),
    attach_audio    INTEGER NOT NULL DEFAULT 1 CHECK (attach_audio IN (0, 1)),
    announce_caller INTEGER NOT NULL DEFAULT 1 CHECK (announce_caller IN (0, 1)),
    announce_time   INTEGER NOT NULL DEFAULT 1 CHECK (announce_time IN (0, 1)),
    max_messages    INTEGER NOT NULL DEFAULT 100,
    max_seconds     INTEGER NOT NULL DEFAULT 180,
    created_at      REAL NOT NULL,
    updated_at      REAL NOT NULL
);
CREATE TABLE voicemail_messages (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    uid             TEXT NOT NULL UNIQUE,
    mailbox         TEXT NOT NULL,
    folder          TEXT NOT NULL CHECK (folder IN ('new', 'old')),
    caller          TEXT NOT NULL DEFAULT '',
    caller_name     TEXT,
    received_at     REAL NOT NULL,
    duration        REAL NOT NULL,
    forwarded_from  TEXT,
    created_at      REAL NOT NULL
);
CREATE INDEX voicemail_messages_mailbox ON voicemail_messages (mailbox, folder, received_at);
CREATE TABLE voicemail_greetings (
    mailbox         TEXT NOT NULL,
    kind            TEXT NOT NULL,
    updated_at      REAL NOT NULL,
    PRIMARY KEY (mailbox, kind)
);
CREATE TABLE voicemail_caller_rules (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    mailbox         TEXT NOT NULL,
    position        INTEGER NOT NULL,
    match_kind      TEXT NOT NULL CHECK (match_kind IN ('number', 'group')),
    match_value     TEXT NOT NULL,
    greeting        TEXT,
    email_action    TEXT CHECK (email_action IN ('attach', 'notice', 'none', 'sms'))
);
CREATE INDEX voicemail_caller_rules_mailbox ON voicemail_caller_rules (mailbox, position);
CREATE TABLE email_queue (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    message_uid     TEXT,
    mailbox         TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    attach          INTEGER NOT NULL CHECK (attach IN (0, 1)),
    state           TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    last_error      TEXT,
    created_at      REAL NOT NULL,
    sent_at         REAL
);
CREATE INDEX email_queue_due ON email_queue (state, next_attempt_at);
INSERT INTO changes (topic, version) VALUES ('mailboxes', 0);
""" + _change_triggers("mailboxes", "mailboxes") + """
"""

_CONTACT_GROUPS_AND_OUTBOX = f"""
CREATE TABLE contact_group_members (
    contact_id      INTEGER NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    group_name      TEXT NOT NULL COLLATE NOCASE,
    PRIMARY KEY (contact_id, group_name)
);
CREATE INDEX contact_group_members_group ON contact_group_members (group_name);
{_change_triggers("contact_group_members", "contacts")}
ALTER TABLE email_queue ADD COLUMN channel TEXT NOT NULL DEFAULT 'email' CHECK (channel IN ('email', 'sms'));
ALTER TABLE email_queue ADD COLUMN payload TEXT NOT NULL DEFAULT '{{}}';
ALTER TABLE email_queue ADD COLUMN first_attempt_at REAL;
"""

_VOICEMAIL_CONDITIONS = """
ALTER TABLE mailboxes ADD COLUMN on_busy INTEGER NOT NULL DEFAULT 1 CHECK (on_busy IN (0, 1));
ALTER TABLE mailboxes ADD COLUMN on_no_answer INTEGER NOT NULL DEFAULT 1 CHECK (on_no_answer IN (0, 1));
ALTER TABLE mailboxes ADD COLUMN on_unavailable INTEGER NOT NULL DEFAULT 1 CHECK (on_unavailable IN (0, 1));
"""

_EXTENSION_ROLES_AND_RECORDING = """
ALTER TABLE extensions ADD COLUMN operator INTEGER NOT NULL DEFAULT 0 CHECK (operator IN (0, 1));
ALTER TABLE extensions ADD COLUMN record_calls INTEGER NOT NULL DEFAULT 0 CHECK (record_calls IN (0, 1));
"""

_VOICEMAIL_RETENTION = """
ALTER TABLE mailboxes ADD COLUMN delete_read_after_days INTEGER NOT NULL DEFAULT 0
    CHECK (delete_read_after_days >= 0);
ALTER TABLE mailboxes ADD COLUMN delete_all_after_days INTEGER NOT NULL DEFAULT 0
    CHECK (delete_all_after_days >= 0);
ALTER TABLE voicemail_messages ADD COLUMN read_at REAL;
"""

MIGRATIONS: list[Migration] = [
    Migration(1, "extensions, settings and change counters", _EXTENSIONS_AND_SETTINGS),
    Migration(2, "registrations (location service bindings)", _REGISTRATIONS),
    Migration(3, "call detail records with search indexes", _CDR),
    Migration(4, "trigram index for searching CDRs by part of a number", _cdr_number_search_index),
    Migration(5, "extension preferences: DND, voicemail on/off and PIN, web password, language",
              _EXTENSION_PREFERENCES),
    Migration(6, "contacts: company phonebook (owner NULL) and personal contacts, normalised numbers",
              _CONTACTS),
    Migration(7, "failed web logins (lockout per account and per source address)", _WEB_LOGIN_FAILURES),
    Migration(8, "voicemail: mailboxes, messages, greetings, caller rules, e-mail queue", _VOICEMAIL),
    Migration(9, "contact groups (caller groups for voicemail rules); notification queue: channel, payload",
              _CONTACT_GROUPS_AND_OUTBOX),
    Migration(10, "voicemail per condition: busy, no answer, unreachable", _VOICEMAIL_CONDITIONS),
    Migration(11, "extensions: operator role (company phonebook), record every call", _EXTENSION_ROLES_AND_RECORDING),
    Migration(12, "voicemail retention: delete read / all messages after N days; when a message was read",
              _VOICEMAIL_RETENTION),
]
