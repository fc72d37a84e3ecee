"""First start: one session key and one admin password per box, printed once, whatever the worker count."""

from __future__ import annotations

import io
import threading

from appliance.passwords import verify_password
from appliance.store import SettingsStore, initialize_database, open_database
from appliance.webui import create_app, firststart


def test_the_admin_password_is_made_once_and_printed_once(tmp_path, capsys):
    create_app({"DATA_DIR": str(tmp_path / "box")})
    printed = capsys.readouterr().out
    assert "administrator account is 'admin' with password" in printed
    password = printed.split("with password ")[1].split()[0]
    db = open_database(tmp_path / "box" / "pbx.sqlite3")
    try:
        assert verify_password(password, SettingsStore(db).get("web.admin_password_hash"))
    finally:
        db.close()
    create_app({"DATA_DIR": str(tmp_path / "box")})
    assert capsys.readouterr().out == ""


def test_concurrent_workers_create_exactly_one_password_and_key(tmp_path):
    path = tmp_path / "pbx.sqlite3"
    initialize_database(path, seed=False).close()
    passwords, keys = [], []

    def worker() -> None:
        db = open_database(path, check_same_thread=False)
        try:
            passwords.append(firststart.ensure_admin_password(db))
            keys.append(firststart.ensure_secret_key(db))
        finally:
            db.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len([p for p in passwords if p]) == 1 and len(set(keys)) == 1


def test_the_app_serves_the_data_directory_named_by_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("APPLIANCE_DATA", str(tmp_path / "envbox"))
    app = create_app()
    assert app.config["DATA_DIR"] == str(tmp_path / "envbox")
    assert (tmp_path / "envbox" / "pbx.sqlite3").exists()


def test_announce_writes_the_password_to_the_stream():
    stream = io.StringIO()
    firststart.announce_admin_password("abc12345", stream=stream)
    assert "abc12345" in stream.getvalue()
