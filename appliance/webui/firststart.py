"""What the web UI needs before its first request: a session signing key and an admin password.

Both are created at most once per box, even when several gunicorn workers start at the same moment:
the check and the write happen in one BEGIN IMMEDIATE transaction, so exactly one process creates the
value and only that process prints the password.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from typing import TextIO

from sqlite_utils import Database

from appliance.passwords import generate_password, hash_password
from appliance.store import SettingsStore, transaction

log = logging.getLogger(__name__)

SECRET_KEY = "web.secret_key"
ADMIN_PASSWORD_KEY = "web.admin_password_hash"  # also written by the serial console's reset


def ensure_secret_key(db: Database) -> str:
    """The key that signs session cookies; made on first start. Replacing it logs everybody out."""
    settings = SettingsStore(db)
    with transaction(db):  # one transaction across get and set
        key = settings.get(SECRET_KEY)
        if not isinstance(key, str) or len(key) < 32:
            key = secrets.token_urlsafe(48)
            settings.set(SECRET_KEY, key)
    return key


def ensure_admin_password(db: Database, *, show: Callable[[str], None] | None = None) -> str | None:
    """Set a random admin password when none is stored; return it (to be shown once) or None.

    `show`, when given, is called with the new password before the transaction commits: a process
    killed before it was shown stores nothing, and the next run makes (and shows) another one, so the
    password last shown is always the one that works (`appliance init` at first boot relies on this).
    """
    settings = SettingsStore(db)
    with transaction(db):
        if settings.get(ADMIN_PASSWORD_KEY):
            return None
        password = generate_password(12)
        settings.set(ADMIN_PASSWORD_KEY, hash_password(password))
        if show is not None:
            show(password)
    return password


def announce_admin_password(password: str, *, stream: TextIO) -> None:
    """Show the generated password once: on stdout (the console/`make run`) and in the log."""
    line = f"web UI: the administrator account is 'admin' with password {password} (change it in the web UI)"
    print(line, file=stream, flush=True)
    log.warning("%s", line)
