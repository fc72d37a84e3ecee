"""Extensions: the numbers users dial and the SIP accounts their phones register with.

The SIP secret is stored in clear text on purpose: phone provisioning must hand it to the phone, and digest
authentication needs either it or one HA1 per algorithm and realm (see D-store-2 in docs/decisions.md).
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any

from sqlite_utils import Database

from appliance.passwords import hash_password, verify_password
from appliance.store.db import Clock, change_version, transaction
from appliance.store.exceptions import ExtensionExists, InvalidValue, NoSuchExtension

NAME_MAX = 64
DEPARTMENT_MAX = 64
SECRET_MIN = 8
SECRET_MAX = 128
EMAIL_MAX = 254

DEFAULT_VOICEMAIL_PIN = "1234"
WEB_PASSWORD_MIN = 8
LANGUAGES = ("en", "zh", "ru")

_NUMBER_RE = re.compile(r"[1-9][0-9]{1,7}")
# RFC 5322 is far wider; this catches typos without rejecting real addresses.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_EMAIL_RE = re.compile(rf"[^@\s\"'<>,;]+@{_LABEL}(?:\.{_LABEL})+")
# Quotes and backslash would need escaping in digest quoted-strings and provisioning files.
_SECRET_FORBIDDEN = set(" \"'\\`")


@dataclass(frozen=True, kw_only=True)
class Extension:
    """One extension as stored; `created_at`/`updated_at` are wall-clock epoch seconds."""

    number: str
    name: str
    secret: str
    email: str | None = None
    department: str | None = None
    enabled: bool = True
    created_at: float = 0.0
    updated_at: float = 0.0
    dnd: bool = False
    voicemail_enabled: bool = True
    voicemail_pin_hash: str | None = None  # None: still the factory PIN (DEFAULT_VOICEMAIL_PIN)
    web_password_hash: str | None = None  # None: no portal login for this extension yet
    language: str | None = None  # prompt language; None follows the box
    operator: bool = False  # keeps the company phonebook and sees personal contacts, like admin
    record_calls: bool = False  # every answered call to or from this extension is recorded

    @property
    def voicemail_pin_is_default(self) -> bool:
        return self.voicemail_pin_hash is None


def validate_number(number: str) -> str:
    """2-8 digits, not starting with 0 (trunk/operator prefix) or * (feature codes)."""
    if not isinstance(number, str) or not _NUMBER_RE.fullmatch(number):
        raise InvalidValue(
            "number", f"{number!r} is not an extension number (2 to 8 digits, not starting with 0)"
        )
    return number


def validate_name(name: str) -> str:
    """Non-empty after trimming, at most 64 characters, no control characters."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidValue("name", "must not be empty")
    name = name.strip()
    if len(name) > NAME_MAX:
        raise InvalidValue("name", f"must be at most {NAME_MAX} characters (got {len(name)})")
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise InvalidValue("name", "must not contain control characters")
    return name


def validate_secret(secret: str) -> str:
    """8-128 printable ASCII characters without spaces, quotes or backslashes."""
    if not isinstance(secret, str) or len(secret) < SECRET_MIN:
        raise InvalidValue("secret", f"must be at least {SECRET_MIN} characters")
    if len(secret) > SECRET_MAX:
        raise InvalidValue("secret", f"must be at most {SECRET_MAX} characters")
    bad = sorted({c for c in secret if not (33 <= ord(c) <= 126) or c in _SECRET_FORBIDDEN})
    if bad:
        shown = ", ".join(repr(c) for c in bad)
        raise InvalidValue(
            "secret", f"may only contain printable characters without spaces or quotes (found {shown})"
        )
    return secret


def validate_email(email: str | None) -> str | None:
    """An address like user@example.com, or None/empty for none."""
    if email is None or (isinstance(email, str) and not email.strip()):
        return None
    if not isinstance(email, str):
        raise InvalidValue("email", "must be a string")
    email = email.strip()
    if len(email) > EMAIL_MAX or not _EMAIL_RE.fullmatch(email):
        raise InvalidValue("email", f"{email!r} is not an e-mail address")
    return email


def validate_department(department: str | None) -> str | None:
    """Free text up to 64 characters, or None/empty for none."""
    if department is None or (isinstance(department, str) and not department.strip()):
        return None
    if not isinstance(department, str):
        raise InvalidValue("department", "must be a string")
    department = department.strip()
    if len(department) > DEPARTMENT_MAX:
        raise InvalidValue("department", f"must be at most {DEPARTMENT_MAX} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in department):
        raise InvalidValue("department", "must not contain control characters")
    return department


def _flag(field: str) -> Callable[[Any], bool]:
    def validate(value: Any) -> bool:
        if not isinstance(value, bool):
            raise InvalidValue(field, "must be true or false")
        return value

    return validate


def validate_language(language: str | None) -> str | None:
    """A prompt language code we ship (see LANGUAGES), or None/empty for the box's default."""
    if language is None or language == "":
        return None
    if language not in LANGUAGES:
        raise InvalidValue("language", f"must be one of {', '.join(LANGUAGES)}")
    return language


def validate_voicemail_pin(pin: str) -> str:
    """4 to 8 digits (typed on a phone keypad)."""
    if not isinstance(pin, str) or not re.fullmatch(r"[0-9]{4,8}", pin):
        raise InvalidValue("voicemail_pin", "must be 4 to 8 digits")
    return pin


def validate_web_password(password: str) -> str:
    """At least 8 characters, printable."""
    if not isinstance(password, str) or len(password) < WEB_PASSWORD_MIN or len(password) > 128:
        raise InvalidValue("web_password", f"must be {WEB_PASSWORD_MIN} to 128 characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in password):
        raise InvalidValue("web_password", "must not contain control characters")
    return password


_VALIDATORS = {
    "name": validate_name,
    "secret": validate_secret,
    "email": validate_email,
    "department": validate_department,
    "enabled": _flag("enabled"),
    "dnd": _flag("dnd"),
    "voicemail_enabled": _flag("voicemail_enabled"),
    "language": validate_language,
    "operator": _flag("operator"),
    "record_calls": _flag("record_calls"),
}
UPDATABLE_FIELDS = frozenset(_VALIDATORS)


def validate_fields(**values: Any) -> dict[str, Any]:
    """Validate and normalise any subset of the editable fields (and `number`); used by CLI and web forms."""
    clean: dict[str, Any] = {}
    for field, value in values.items():
        if field == "number":
            clean[field] = validate_number(value)
        elif field in _VALIDATORS:
            clean[field] = _VALIDATORS[field](value)
        else:
            raise InvalidValue(field, "is not a field of an extension")
    return clean


class ExtensionStore:
    """Create, read, update and delete extensions; every write bumps the 'extensions' change counter."""

    def __init__(self, db: Database, *, clock: Clock = time.time) -> None:
        self._db = db
        self._clock = clock

    def add(
        self,
        number: str,
        name: str,
        secret: str,
        *,
        email: str | None = None,
        department: str | None = None,
        enabled: bool = True,
    ) -> Extension:
        """Create an extension; raises ExtensionExists or InvalidValue."""
        values = validate_fields(
            number=number, name=name, secret=secret, email=email, department=department, enabled=enabled
        )
        now = self._clock()
        row = {**values, "enabled": int(values["enabled"]), "created_at": now, "updated_at": now}
        try:
            with transaction(self._db):
                self._db["extensions"].insert(row)
        except sqlite3.IntegrityError as err:
            if self.find(values["number"]) is not None:
                raise ExtensionExists(values["number"]) from err
            raise
        return _from_row(row)

    def find(self, number: str) -> Extension | None:
        """The extension with this number, or None."""
        row = self._db.conn.execute(
            f"SELECT {_COLUMNS} FROM extensions WHERE number = ?", (number,)
        ).fetchone()
        return _from_tuple(row) if row else None

    def get(self, number: str) -> Extension:
        """The extension with this number; raises NoSuchExtension."""
        extension = self.find(number)
        if extension is None:
            raise NoSuchExtension(number)
        return extension

    def list(self) -> Sequence[Extension]:
        """All extensions in numeric order (1001 before 10001)."""
        rows = self._db.conn.execute(
            f"SELECT {_COLUMNS} FROM extensions ORDER BY length(number), number"
        ).fetchall()
        return [_from_tuple(row) for row in rows]

    def update(self, number: str, /, **changes: Any) -> Extension:
        """Change some of name, secret, email, department, enabled; raises NoSuchExtension/InvalidValue."""
        unknown = sorted(set(changes) - UPDATABLE_FIELDS)
        if unknown:
            raise InvalidValue(unknown[0], "cannot be changed")
        values = validate_fields(**changes)
        for flag in ("enabled", "dnd", "voicemail_enabled", "operator", "record_calls"):
            if flag in values:
                values[flag] = int(values[flag])
        with transaction(self._db):
            current = self.get(number)
            if values:
                values["updated_at"] = self._clock()
                assignments = ", ".join(f"{column} = ?" for column in values)
                self._db.conn.execute(
                    f"UPDATE extensions SET {assignments} WHERE number = ?", [*values.values(), number]
                )
                current = self.get(number)
        return current

    def delete(self, number: str) -> None:
        """Remove an extension (its registrations go with it); raises NoSuchExtension."""
        with transaction(self._db):
            cursor = self._db.conn.execute("DELETE FROM extensions WHERE number = ?", (number,))
            if cursor.rowcount == 0:
                raise NoSuchExtension(number)

    def version(self) -> int:
        """Change counter of the extensions table, bumped by every committed write from any process."""
        return change_version(self._db, "extensions")

    def set_voicemail_pin(self, number: str, pin: str) -> None:
        """Store a new voicemail PIN (hashed); raises InvalidValue or NoSuchExtension."""
        self._set_hash(number, "voicemail_pin_hash", hash_password(validate_voicemail_pin(pin)))

    def check_voicemail_pin(self, number: str, pin: str) -> bool:
        """Whether `pin` opens the mailbox (the factory PIN until one was set)."""
        ext = self.get(number)
        if ext.voicemail_pin_hash is None:
            return pin == DEFAULT_VOICEMAIL_PIN
        return verify_password(pin, ext.voicemail_pin_hash)

    def set_web_password(self, number: str, password: str | None) -> None:
        """Set (hashed) or, with None, remove the extension's portal password."""
        value = None if password is None else hash_password(validate_web_password(password))
        self._set_hash(number, "web_password_hash", value)

    def check_web_password(self, number: str, password: str) -> bool:
        ext = self.find(number)
        return bool(ext and ext.web_password_hash and verify_password(password, ext.web_password_hash))

    def _set_hash(self, number: str, column: str, value: str | None) -> None:
        with transaction(self._db):
            cursor = self._db.conn.execute(
                f"UPDATE extensions SET {column} = ?, updated_at = ? WHERE number = ?",
                (value, self._clock(), number))
            if cursor.rowcount == 0:
                raise NoSuchExtension(number)


_FIELD_NAMES = [f.name for f in fields(Extension)]
_COLUMNS = ", ".join(_FIELD_NAMES)


def _from_tuple(row: Sequence[Any]) -> Extension:
    return _from_row(dict(zip(_FIELD_NAMES, row)))


def _from_row(row: dict[str, Any]) -> Extension:
    return Extension(**{**row, "enabled": bool(row["enabled"]), "dnd": bool(row.get("dnd", 0)),
                        "voicemail_enabled": bool(row.get("voicemail_enabled", 1)),
                        "operator": bool(row.get("operator", 0)), "record_calls": bool(row.get("record_calls", 0))})
