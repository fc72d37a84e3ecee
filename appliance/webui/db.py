"""A database connection per request (opened on first use, closed at teardown) and the stores over it."""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, g
from sqlite_utils import Database

from appliance.datadir import DataDir
from appliance.store import CdrStore, ExtensionStore, SettingsStore, open_database
from appliance.store.contacts import ContactStore
from appliance.store.webauth import LoginThrottle


def datadir() -> DataDir:
    """The data directory this application serves."""
    return current_app.extensions["appliance.datadir"]


def get_db() -> Database:
    """This request's connection (WAL: readers never wait for pbxd's writes)."""
    if "db" not in g:
        g.db = open_database(datadir().database_path)
    return g.db


def close_db(_exc: BaseException | None = None) -> None:
    db = g.pop("db", None)
    if db is not None:
        db.conn.close()


def wallclock() -> float:
    """Epoch seconds from the application's clock (injected by tests)."""
    return float(current_app.config["CLOCK"]())


def extensions() -> ExtensionStore:
    return ExtensionStore(get_db(), clock=current_app.config["CLOCK"])


def settings() -> SettingsStore:
    return SettingsStore(get_db(), clock=current_app.config["CLOCK"])


def contacts() -> ContactStore:
    return ContactStore(get_db(), clock=current_app.config["CLOCK"])


def cdrs() -> CdrStore:
    return CdrStore(get_db())


def throttle() -> LoginThrottle:
    return LoginThrottle(get_db())


def pbx() -> Any:
    """The client of pbxd's control socket (see appliance.webui.pbx.PbxClient)."""
    return current_app.config["PBX_CLIENT"]


def init_app(app: Flask) -> None:
    app.teardown_appcontext(close_db)
