"""First-boot initialisation of the database: migrations, then demo extensions exactly once."""

from __future__ import annotations

import os
import secrets
import string
import time
from collections.abc import Sequence

from sqlite_utils import Database

from appliance.store.db import Clock, migrate, open_database, transaction
from appliance.store.extensions import Extension, ExtensionStore
from appliance.store.settings import SettingsStore

DEMO_NUMBERS = ("1001", "1002", "1003")
#: Set, to the numbers created, in the same transaction as the demo rows: its presence means "seeding
#: happened once, never again", even if the administrator later deletes the demo extensions.
SEEDED_KEY = "store.demo_extensions"
SECRET_ALPHABET = string.ascii_letters + string.digits
SECRET_LENGTH = 12


def generate_secret(length: int = SECRET_LENGTH) -> str:
    """A random SIP password from letters and digits (easy to type on a phone keypad menu)."""
    return "".join(secrets.choice(SECRET_ALPHABET) for _ in range(length))


def seed_demo_extensions(db: Database, *, clock: Clock = time.time) -> list[Extension]:
    """Create the demo extensions on a database that was never seeded; returns those created."""
    extensions = ExtensionStore(db, clock=clock)
    settings = SettingsStore(db, clock=clock)
    with transaction(db):
        if settings.get(SEEDED_KEY) is not None:
            return []
        created = [
            extensions.add(number, f"Demo {number}", generate_secret())
            for number in DEMO_NUMBERS
            if extensions.find(number) is None
        ]
        settings.set(SEEDED_KEY, [extension.number for extension in created])
    return created


def demo_extensions(db: Database) -> Sequence[Extension]:
    """The seeded demo extensions that still exist (for the start-up banner)."""
    numbers = SettingsStore(db).get(SEEDED_KEY) or []
    store = ExtensionStore(db)
    return [ext for ext in (store.find(n) for n in numbers) if ext is not None]


def initialize_database(
    path: str | os.PathLike[str], *, seed: bool = True, clock: Clock = time.time
) -> Database:
    """Open the database, bring its schema up to date and seed it on first creation; idempotent."""
    db = open_database(path)
    try:
        migrate(db, clock=clock)
        if seed:
            seed_demo_extensions(db, clock=clock)
    except BaseException:
        db.close()
        raise
    return db
