"""Fixtures for the web UI tests: an app on a temporary data directory with a fake clock and a fake pbxd,
extensions 1001 (Alice) and 1002 (Bob) with web passwords, and HTTPS test clients that fill in CSRF tokens."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from appliance.passwords import hash_password
from appliance.store import ExtensionStore, SettingsStore, initialize_database
from appliance.voicemail.storage import VoicemailStore
from appliance.webui import create_app
from appliance.webui.pbx import PbxRefused, PbxUnavailable

BASE = "https://pbx.test"
ADMIN_PASSWORD = "admin-secret-1"
PASSWORDS = {"1001": "alice-web-pw", "1002": "bob-web-pw"}
# Cheap scrypt parameters: verify_password reads them from the hash, so logins in tests stay fast.
_CHEAP = {"log2_n": 8}


class FakeClock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakePbx:
    """Stands in for PbxClient: a settable status, recorded originate/hangup/reload, and failure modes."""

    def __init__(self) -> None:
        self.running = True
        self.refuse: str | None = None
        self.calls: list[dict[str, Any]] = []
        self.states: dict[str, str] = {}
        self.originated: list[tuple[str, str]] = []
        self.hung_up: list[int] = []
        self.reloads = 0

    def _check(self) -> None:
        if not self.running:
            raise PbxUnavailable("the telephony service (pbxd) is not running")

    def status(self) -> dict[str, Any]:
        self._check()
        return {
            "ok": True, "registrations": [], "registration_count": 0, "calls": list(self.calls),
            "call_count": len(self.calls),
            "extensions": [{"number": n, "name": n, "status": s} for n, s in self.states.items()],
        }

    def originate(self, extension: str, target: str) -> int:
        self._check()
        if self.refuse:
            raise PbxRefused(self.refuse)
        self.originated.append((extension, target))
        return 7

    def hangup(self, call_id: int) -> bool:
        self._check()
        self.hung_up.append(call_id)
        return True

    def reload(self) -> None:
        self.reloads += 1


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def pbx() -> FakePbx:
    return FakePbx()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    db = initialize_database(data / "pbx.sqlite3", seed=False)
    try:
        settings = SettingsStore(db)
        settings.set_many({"web.admin_password_hash": hash_password(ADMIN_PASSWORD, **_CHEAP),
                           "portal.enabled": True})
        extensions = ExtensionStore(db)
        extensions.add("1001", "Alice", "alice-sip-secret", email="alice@example.com", department="Sales")
        extensions.add("1002", "Bob", "bob-sip-secret")
        for number, password in PASSWORDS.items():
            db.conn.execute("UPDATE extensions SET web_password_hash = ? WHERE number = ?",
                            (hash_password(password, **_CHEAP), number))
    finally:
        db.close()
    return data


@pytest.fixture
def app(data_dir: Path, clock: FakeClock, pbx: FakePbx) -> Flask:
    return create_app({"DATA_DIR": str(data_dir), "TESTING": True, "CLOCK": clock, "PBX_CLIENT": pbx})


class Client:
    """A browser: HTTPS (the session cookie is Secure), CSRF token added to every POST unless told not to."""

    def __init__(self, app: Flask, address: str = "192.0.2.10") -> None:
        self.app = app
        self.flask: FlaskClient = app.test_client()
        self.address = address

    def _environ(self) -> dict[str, Any]:
        return {"REMOTE_ADDR": self.address}

    def get(self, url: str, **kw: Any) -> Any:
        return self.flask.get(url, base_url=BASE, environ_overrides=self._environ(), **kw)

    def post(self, url: str, data: dict[str, Any] | None = None, *, csrf: bool | str = True, **kw: Any) -> Any:
        data = dict(data or {})
        if csrf is True:
            data.setdefault("csrf_token", self.csrf_token())
        elif isinstance(csrf, str):
            data["csrf_token"] = csrf
        return self.flask.post(url, data=data, base_url=BASE, environ_overrides=self._environ(), **kw)

    def csrf_token(self) -> str:
        token = self.session().get("csrf_token")
        if not token:
            page = self.get("/login")
            match = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))
            assert match, "no CSRF token on the login page"
            token = match.group(1)
        return token

    def session(self) -> dict[str, Any]:
        with self.flask.session_transaction(base_url=BASE) as sess:
            return dict(sess)

    def login(self, account: str, password: str | None = None) -> Any:
        password = password if password is not None else (ADMIN_PASSWORD if account.lower() == "admin" else PASSWORDS[account])
        return self.post("/login", {"account": account, "password": password})


@pytest.fixture
def client(app: Flask) -> Client:
    return Client(app)


@pytest.fixture
def admin(app: Flask) -> Client:
    c = Client(app, address="192.0.2.1")
    assert c.login("admin").status_code == 302
    return c


@pytest.fixture
def alice(app: Flask) -> Client:
    c = Client(app, address="192.0.2.11")
    assert c.login("1001").status_code == 302
    return c


@pytest.fixture
def bob(app: Flask) -> Client:
    c = Client(app, address="192.0.2.12")
    assert c.login("1002").status_code == 302
    return c


def text(response: Any) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def db(data_dir: Path) -> Iterator[Any]:
    from appliance.store import open_database

    database = open_database(data_dir / "pbx.sqlite3")
    yield database
    database.close()


@pytest.fixture
def vm(db: Any, data_dir: Path) -> VoicemailStore:
    """The voicemail store of the test's data directory, as pbxd and the web UI open it."""
    return VoicemailStore(db, data_dir / "voicemail", find_extension=ExtensionStore(db).find)
