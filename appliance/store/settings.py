"""Box-wide settings as key/value pairs with JSON values (realm, ports, tone country, admin password hash …).

`appliance.config` reads the keys named like its fields; other packages own their own keys and should
prefix them with their package (`webui.admin_password_hash`). Every write bumps the 'settings' counter.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from typing import Any

from sqlite_utils import Database

from appliance.store.db import Clock, change_version, transaction
from appliance.store.exceptions import InvalidValue

_KEY_RE = re.compile(r"[a-z0-9][a-z0-9_.-]{0,127}")


def validate_key(key: str) -> str:
    """Lower-case letters, digits, '_', '.', '-'; at most 128 characters."""
    if not isinstance(key, str) or not _KEY_RE.fullmatch(key):
        raise InvalidValue("key", f"{key!r} is not a setting name (lower-case letters, digits, _ . -)")
    return key


def _encode(key: str, value: Any) -> str:
    try:
        return json.dumps(value, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise InvalidValue(key, f"cannot be stored: {err}") from err


class SettingsStore:
    """Read and write settings; values are anything JSON can hold."""

    def __init__(self, db: Database, *, clock: Clock = time.time) -> None:
        self._db = db
        self._clock = clock

    def get(self, key: str, default: Any = None) -> Any:
        """The value of `key`, or `default` when it was never set."""
        row = self._db.conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    def set(self, key: str, value: Any) -> None:
        """Store one value (replacing any previous one)."""
        self.set_many({key: value})

    def set_many(self, values: Mapping[str, Any]) -> None:
        """Store several values in one transaction: all or none."""
        rows = [
            {"key": validate_key(key), "value": _encode(key, value), "updated_at": self._clock()}
            for key, value in values.items()
        ]
        with transaction(self._db):
            for row in rows:
                self._db["settings"].upsert(row, pk="key")

    def delete(self, key: str) -> bool:
        """Forget a key (its default applies again); True if it was set."""
        with transaction(self._db):
            cursor = self._db.conn.execute("DELETE FROM settings WHERE key = ?", (key,))
        return cursor.rowcount > 0

    def all(self) -> dict[str, Any]:
        """Every stored setting."""
        rows = self._db.conn.execute("SELECT key, value FROM settings ORDER BY key").fetchall()
        return {key: json.loads(value) for key, value in rows}

    def version(self) -> int:
        """Change counter of the settings table (see ExtensionStore.version)."""
        return change_version(self._db, "settings")
