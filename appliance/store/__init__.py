"""The persistent store: SQLite through sqlite-utils, one database per box.

Keep this layer narrow (plain methods taking and returning dataclasses) so that a hosted deployment can
swap SQLite for PostgreSQL behind the same classes.
"""

from __future__ import annotations

from appliance.store.bootstrap import demo_extensions, initialize_database, seed_demo_extensions
from appliance.store.cdr import CallRecord, CdrStore
from appliance.store.db import migrate, open_database, schema_version, transaction
from appliance.store.exceptions import (
    ExtensionExists,
    InvalidValue,
    NoSuchCallRecord,
    NoSuchExtension,
    SchemaTooNew,
    StoreError,
)
from appliance.store.extensions import Extension, ExtensionStore
from appliance.store.registrations import Binding, RegistrationStore
from appliance.store.settings import SettingsStore

__all__ = [
    "Binding",
    "CallRecord",
    "CdrStore",
    "Extension",
    "ExtensionExists",
    "ExtensionStore",
    "InvalidValue",
    "NoSuchCallRecord",
    "NoSuchExtension",
    "RegistrationStore",
    "SchemaTooNew",
    "SettingsStore",
    "StoreError",
    "demo_extensions",
    "initialize_database",
    "migrate",
    "open_database",
    "schema_version",
    "seed_demo_extensions",
    "transaction",
]
