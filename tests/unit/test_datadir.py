"""The data directory: layout, the one-daemon lock, and the self-signed TLS certificate."""

from __future__ import annotations

import datetime
import os
import socket
import ssl
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from cryptography import x509

from appliance.datadir import DataDir, DataDirLocked, atomic_write


def test_layout_lives_under_the_data_directory(tmp_path: Path) -> None:
    data = DataDir(tmp_path / "var")
    assert data.database_path == tmp_path / "var" / "pbx.sqlite3"
    assert data.control_socket_path == tmp_path / "var" / "run" / "control.sock"
    assert data.lock_path == tmp_path / "var" / "run" / "pbxd.lock"
    assert data.tls_cert_path.parent == data.tls_dir == tmp_path / "var" / "tls"
    assert {data.logs_dir.name, data.voicemail_dir.name, data.recordings_dir.name} == {
        "logs", "voicemail", "recordings",
    }


def test_relative_paths_are_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert DataDir("var").path == tmp_path / "var"


def test_create_is_idempotent_and_keeps_tls_private(tmp_path: Path) -> None:
    data = DataDir(tmp_path / "var")
    data.create()
    data.create()
    for sub in (data.run_dir, data.logs_dir, data.voicemail_dir, data.recordings_dir, data.tls_dir):
        assert sub.is_dir()
    assert stat.S_IMODE(data.tls_dir.stat().st_mode) == 0o700
    assert not data.exists()  # no database yet


_HOLDER = """
import sys, time
from appliance.datadir import DataDir
lock = DataDir(sys.argv[1]).acquire_daemon_lock()
print("locked", flush=True)
sys.stdin.readline()
"""


def test_second_process_is_refused_with_the_holders_pid(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(tmp_path / "var")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(DataDirLocked, match=rf"already in use by another pbxd \(pid {holder.pid}\)") as info:
            DataDir(tmp_path / "var").acquire_daemon_lock()
        assert info.value.pid == holder.pid
    finally:
        holder.communicate("\n", timeout=10)
    # The lock dies with its process: no stale-lock cleanup is ever needed.
    DataDir(tmp_path / "var").acquire_daemon_lock().release()


def test_lock_is_idempotent_for_its_owner_and_refused_to_others_in_the_same_process(tmp_path: Path) -> None:
    owner = DataDir(tmp_path / "var")
    lock = owner.acquire_daemon_lock()
    assert owner.acquire_daemon_lock() is lock
    assert owner.lock is lock
    assert owner.lock_path.read_text().strip() == str(os.getpid())
    with pytest.raises(DataDirLocked):
        DataDir(tmp_path / "var").acquire_daemon_lock()
    lock.release()
    assert owner.lock is None
    DataDir(tmp_path / "var").acquire_daemon_lock().release()


def _sans(cert_path: Path) -> set[str]:
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {str(v) for v in names.get_values_for_type(x509.DNSName)} | {
        str(v) for v in names.get_values_for_type(x509.IPAddress)
    }


def test_certificate_is_created_with_loopback_and_given_names_and_a_private_key(tmp_path: Path) -> None:
    data = DataDir(tmp_path / "var")
    files = data.ensure_tls_certificate(["pbx.example.com", "192.0.2.10"])
    assert files.created
    assert _sans(files.cert) == {"localhost", "127.0.0.1", "::1", "pbx.example.com", "192.0.2.10"}
    assert stat.S_IMODE(files.key.stat().st_mode) == 0o600
    assert [p.name for p in data.tls_dir.iterdir() if p.name.endswith(".tmp")] == []


def test_certificate_is_kept_on_later_calls(tmp_path: Path) -> None:
    data = DataDir(tmp_path / "var")
    first = data.ensure_tls_certificate(["a.example"])
    cert, key = first.cert.read_bytes(), first.key.read_bytes()
    again = data.ensure_tls_certificate(["other.example"])
    assert not again.created
    assert (again.cert.read_bytes(), again.key.read_bytes()) == (cert, key)


@pytest.mark.parametrize("damage", ["garbage key", "missing cert", "mismatched pair"])
def test_broken_certificate_pair_is_replaced(tmp_path: Path, damage: str) -> None:
    data = DataDir(tmp_path / "var")
    files = data.ensure_tls_certificate()
    if damage == "garbage key":
        files.key.write_bytes(b"not a key")
    elif damage == "missing cert":
        files.cert.unlink()
    else:
        other = DataDir(tmp_path / "other").ensure_tls_certificate()
        files.key.write_bytes(other.key.read_bytes())
    replaced = data.ensure_tls_certificate()
    assert replaced.created
    ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(replaced.cert, replaced.key)


def test_certificate_validity_starts_now_and_lasts_years(tmp_path: Path) -> None:
    now = datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc)
    files = DataDir(tmp_path / "var").ensure_tls_certificate(now=now)
    cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
    assert cert.not_valid_before_utc <= now < cert.not_valid_after_utc
    assert cert.not_valid_after_utc - now > datetime.timedelta(days=3000)


def test_certificate_serves_tls_that_a_client_verifies_for_localhost(tmp_path: Path) -> None:
    files = DataDir(tmp_path / "var").ensure_tls_certificate()
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(files.cert, files.key)
    client_ctx = ssl.create_default_context(cafile=str(files.cert))
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = listener.accept()
        with server_ctx.wrap_socket(conn, server_side=True) as tls:
            tls.sendall(tls.recv(16))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    with socket.create_connection(listener.getsockname(), timeout=5) as raw:
        with client_ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            tls.sendall(b"hello")
            assert tls.recv(16) == b"hello"
    thread.join(5)
    listener.close()


def test_atomic_write_replaces_content_and_sets_mode(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_bytes(b"old")
    atomic_write(target, b"new", mode=0o600)
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]
