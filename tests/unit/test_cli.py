"""The `appliance` command line: exit codes, messages, and that bad arguments touch nothing on disk."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from appliance.cli import format_status, format_table, main
from appliance.config import Config
from appliance.control import ControlServer
from appliance.datadir import DataDir
from appliance.store import ExtensionStore, SettingsStore, open_database


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return tmp_path / "var"


@pytest.fixture
def initialised(data: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    assert main(["init", "--data", str(data)]) == 0
    capsys.readouterr()
    return data


def _extensions(data: Path) -> dict[str, Any]:
    db = open_database(data / "pbx.sqlite3")
    try:
        return {e.number: e for e in ExtensionStore(db).list()}
    finally:
        db.close()


# -- bad arguments never touch the disk -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "--sip-port", "99999"], "--sip-port: 99999 is not a port number"),
        (["run", "--sip-port", "abc"], "'abc' is not a port number"),
        (["run", "--rtp-ports", "10000"], "is not a range like 10000-20000"),
        (["run", "--rtp-ports", "20000-10000"], "the RTP range 20000-10000 is empty"),
        (["run", "--bind", "1.2.3"], "bind_address: '1.2.3' is not an IPv4 or IPv6 address [--bind]"),
        (["run", "--sip-port", "5061"], "TCP and TLS cannot both listen on port 5061"),
        (["run", "--log-level", "LOUD"], "'LOUD' is not one of"),
        (["ext", "add", "0123", "--name", "X", "--secret", "secret-123"], "number: '0123' is not an extension"),
        (["ext", "add", "2001", "--name", "", "--secret", "secret-123"], "name: must not be empty"),
        (["ext", "add", "2001", "--name", "X", "--secret", "short"], "secret: must be at least 8"),
        (["ext", "add", "2001", "--name", "X", "--email", "nope"], "email: 'nope' is not an e-mail address"),
        (["ext", "add", "2001"], "the following arguments are required: --name"),
        (["ext", "set", "2001"], "nothing to change"),
        (["ext", "set", "2001", "--enable", "--disable"], "not allowed with argument"),
        (["ext", "del", "*12"], "is not an extension number"),
        (["ext"], "required"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_arguments_exit_2_with_a_message_and_create_nothing(
    argv: list[str], message: str, data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main([*argv, "--data", str(data)] if argv[0] in ("run", "ext") and len(argv) > 1 else argv)
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert not data.exists()


def test_bad_arguments_leave_an_existing_database_unchanged(
    initialised: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db_file = initialised / "pbx.sqlite3"
    before = (db_file.stat().st_mtime_ns, _extensions(initialised))
    assert main(["ext", "set", "1001", "--secret", "has space", "--data", str(initialised)]) == 2
    assert "secret:" in capsys.readouterr().err
    assert (db_file.stat().st_mtime_ns, _extensions(initialised)) == before


@pytest.mark.parametrize("argv", [["ext", "list"], ["ext", "del", "1001"], ["status"]])
def test_commands_on_an_uninitialised_directory_fail_without_creating_it(
    argv: list[str], data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*argv, "--data", str(data)]) == 1
    assert "appliance" in capsys.readouterr().err
    assert not data.exists()


# -- init and extensions --------------------------------------------------------------------------------


def test_init_creates_everything_and_prints_demo_credentials(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", "--data", str(data)]) == 0
    out = capsys.readouterr().out
    datadir = DataDir(data)
    assert datadir.database_path.exists() and datadir.tls_cert_path.exists() and datadir.tls_key_path.exists()
    extensions = _extensions(data)
    assert sorted(extensions) == ["1001", "1002", "1003"]
    assert all(f"{n:<8} {extensions[n].secret}" in out for n in extensions)


def test_init_is_idempotent(initialised: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = _extensions(initialised)
    cert = DataDir(initialised).tls_cert_path.read_bytes()
    assert main(["init", "--data", str(initialised)]) == 0
    assert _extensions(initialised) == before
    assert DataDir(initialised).tls_cert_path.read_bytes() == cert


def test_init_after_an_interruption_finishes_the_job(data: Path) -> None:
    # Simulate a first boot cut short after the database was created but before the certificate.
    DataDir(data).create()
    open_database(data / "pbx.sqlite3").close()
    assert main(["init", "--data", str(data)]) == 0
    assert sorted(_extensions(data)) == ["1001", "1002", "1003"]
    assert DataDir(data).tls_cert_path.exists()


def test_extension_lifecycle(initialised: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = ["--data", str(initialised)]
    assert main(["ext", "add", "2001", "--name", "Alice", "--secret", "alice-secret", "--email",
                 "alice@example.com", "--department", "Sales", *d]) == 0
    assert "extension 2001 added" in capsys.readouterr().out
    assert main(["ext", "set", "2001", "--name", "Alice Smith", "--disable", *d]) == 0
    assert "extension 2001 changed (enabled, name)" in capsys.readouterr().out
    alice = _extensions(initialised)["2001"]
    assert (alice.name, alice.enabled, alice.secret, alice.email) == (
        "Alice Smith", False, "alice-secret", "alice@example.com",
    )
    assert main(["ext", "set", "2001", "--email", "", *d]) == 0
    assert _extensions(initialised)["2001"].email is None
    assert main(["ext", "del", "2001", *d]) == 0
    assert "2001" not in _extensions(initialised)


def test_add_without_secret_generates_and_prints_one(initialised: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ext", "add", "2001", "--name", "Bob", "--data", str(initialised)]) == 0
    secret = _extensions(initialised)["2001"].secret
    assert f"generated password {secret}" in capsys.readouterr().out


def test_list_hides_secrets_unless_asked(initialised: Path, capsys: pytest.CaptureFixture[str]) -> None:
    secret = _extensions(initialised)["1001"].secret
    assert main(["ext", "list", "--data", str(initialised)]) == 0
    out = capsys.readouterr().out
    assert "Demo 1001" in out and secret not in out and "SECRET" not in out
    assert main(["ext", "list", "--secrets", "--data", str(initialised)]) == 0
    assert secret in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["ext", "add", "1001", "--name", "Dup", "--secret", "secret-123"], "extension 1001 already exists"),
        (["ext", "del", "4040"], "no extension 4040"),
        (["ext", "set", "4040", "--name", "Nobody"], "no extension 4040"),
    ],
)
def test_domain_errors_exit_1_with_their_message(
    initialised: Path, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*argv, "--data", str(initialised)]) == 1
    assert message in capsys.readouterr().err


# -- talking to a running daemon ------------------------------------------------------------------------


# -- the web admin password is made by init, shown once ---------------------------------------------------


def _admin_hash(data: Path) -> str | None:
    db = open_database(data / "pbx.sqlite3")
    try:
        return SettingsStore(db).get("web.admin_password_hash")
    finally:
        db.close()


def _shown_password(out: str) -> str:
    import re

    [password] = re.findall(r"web admin +user admin, password (\S+)", out)
    return password


def test_init_makes_the_web_admin_password_and_prints_it_once(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from appliance.passwords import verify_password

    assert main(["init", "--data", str(data)]) == 0
    password = _shown_password(capsys.readouterr().out)
    assert verify_password(password, _admin_hash(data))

    assert main(["init", "--data", str(data)]) == 0  # first boot again after a firmware update
    out = capsys.readouterr().out
    assert password not in out and "password set earlier" in out
    assert verify_password(password, _admin_hash(data))


def test_the_web_ui_started_after_init_prints_no_second_password(
    data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from appliance.passwords import verify_password
    from appliance.webui import create_app

    assert main(["init", "--data", str(data)]) == 0
    password = _shown_password(capsys.readouterr().out)
    create_app({"DATA_DIR": str(data)})  # what each gunicorn worker of `appliance web` does
    assert "password" not in capsys.readouterr().out
    assert verify_password(password, _admin_hash(data))


def test_init_killed_while_showing_the_password_stores_none_and_the_rerun_shows_the_one_that_works(
    data: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from appliance import cli
    from appliance.passwords import verify_password

    shown: list[str] = []

    def power_cut(password: str) -> None:
        shown.append(password)
        raise KeyboardInterrupt  # the process dies after printing, before the password is committed

    monkeypatch.setattr(cli, "_show_admin_password", power_cut)
    assert main(["init", "--data", str(data)]) == 130
    assert _admin_hash(data) is None
    monkeypatch.undo()

    assert main(["init", "--data", str(data)]) == 0
    password = _shown_password(capsys.readouterr().out)
    assert password != shown[0] and verify_password(password, _admin_hash(data))


class FakeDaemon:
    """A control server in a background thread, recording the commands it receives."""

    def __init__(self, path: Path, status: dict[str, Any]) -> None:
        self.path = path
        self.status = status
        self.received: list[str] = []
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    async def _handle_status(self, params: dict[str, Any]) -> dict[str, Any]:
        self.received.append("status")
        return self.status

    async def _handle_reload(self, params: dict[str, Any]) -> dict[str, Any]:
        self.received.append("reload")
        return {}

    def _run(self) -> None:
        async def serve() -> None:
            self._stop = asyncio.Event()
            handlers = {"status": self._handle_status, "reload": self._handle_reload}
            async with ControlServer(self.path, handlers):
                self._ready.set()
                await self._stop.wait()

        self._loop.run_until_complete(serve())

    def __enter__(self) -> FakeDaemon:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._thread.start()
        assert self._ready.wait(5)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(5)


STATUS = {
    "version": "0.1.0",
    "uptime": 12.0,
    "registrations": [
        {"aor": "1001", "contact": "sip:1001@127.0.0.1:5062", "received": "udp:127.0.0.1:5062",
         "expires_in": 3599, "user_agent": "PJSUA v2.15"},
    ],
    "calls": [],
}


def test_status_prints_registrations_and_calls(initialised: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with FakeDaemon(DataDir(initialised).control_socket_path, STATUS) as daemon:
        assert main(["status", "--data", str(initialised)]) == 0
    out = capsys.readouterr().out
    assert daemon.received == ["status"]
    assert "uptime: 12" in out
    assert "AOR   CONTACT" in out
    assert "sip:1001@127.0.0.1:5062" in out and "PJSUA v2.15" in out
    assert "Calls: none" in out


def test_status_prints_board_health_readably(initialised: Path, capsys: pytest.CaptureFixture[str]) -> None:
    health = {
        "temperature": {"state": "ok", "celsius": 41.5, "detail": ""},
        "rtc": {"state": "ok", "time": "2025-01-02T03:04:05", "oscillator_stopped": False, "celsius": 40.25,
                "detail": ""},
    }
    with FakeDaemon(DataDir(initialised).control_socket_path, {**STATUS, "health": health}):
        assert main(["status", "--data", str(initialised)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    block = lines[lines.index("Board health:") + 1 : lines.index("Board health:") + 3]
    assert block[0] == "  temperature  41.5 °C"
    # the fake's RTC is far in the past: the drift against this host's clock is spelled out
    assert block[1].startswith("  RTC          2025-01-02 03:04:05 UTC, ")
    assert "behind the system clock" in block[1] and "battery ok" in block[1]
    assert '"celsius"' not in out


def test_status_degrees_fall_back_to_ascii_on_a_terminal_that_cannot_show_them() -> None:
    import io

    from appliance.cli import _encodable

    stream = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    assert _encodable("  temperature  41.5 °C", stream) == "  temperature  41.5 C"


def test_status_without_a_daemon_says_so_and_exits_1(initialised: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", "--data", str(initialised)]) == 1
    err = capsys.readouterr().err
    assert "pbxd is not running" in err and "appliance run" in err


def test_extension_edits_ask_a_running_daemon_to_reload(initialised: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with FakeDaemon(DataDir(initialised).control_socket_path, STATUS) as daemon:
        assert main(["ext", "set", "1001", "--name", "Reception", "--data", str(initialised)]) == 0
    assert daemon.received == ["reload"]
    assert "(pbxd reloaded)" in capsys.readouterr().out


def test_format_status_tolerates_unknown_columns_and_missing_sections() -> None:
    text = format_status({"ok": True, "calls": [{"id": "c1", "caller": "1001", "codec": "PCMU"}]})
    assert "Registrations: none" in text
    assert "CODEC" in text and "PCMU" in text


def test_format_status_shows_objects_and_extra_lists() -> None:
    text = format_status({
        "ok": True,
        "registrations": [{"extension": "1001", "contact": "sip:a@h", "source": "udp:127.0.0.1:5062"}],
        "sip": {"dialogs": 2, "transactions": {"invite": 1}},
        "extensions": [{"number": "1001", "status": "idle"}],
    })
    assert 'sip: dialogs=2, transactions={"invite":1}' in text
    assert "EXTENSION  CONTACT  SOURCE" in text
    assert "Extensions (1):" in text and "idle" in text


def test_format_table_aligns_columns() -> None:
    table = format_table([{"a": "1", "b": "long value"}, {"a": "22"}], ["a", "b"])
    assert table.splitlines() == ["A   B", "1   long value", "22"]


# -- run ------------------------------------------------------------------------------------------------


@pytest.fixture
def fake_daemon(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[Config, DataDir]]]:
    calls: list[tuple[Config, DataDir]] = []

    def run_daemon(config: Config, datadir: DataDir) -> int:
        assert datadir.lock is not None, "the CLI hands over a DataDir that holds the lock"
        calls.append((config, datadir))
        return 3

    module = types.ModuleType("appliance.daemon")
    module.run_daemon = run_daemon  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "appliance.daemon", module)
    yield calls


def test_run_layers_flags_over_settings_and_prints_how_to_register(
    initialised: Path, fake_daemon: list, capsys: pytest.CaptureFixture[str]
) -> None:
    db = open_database(initialised / "pbx.sqlite3")
    SettingsStore(db).set_many({"realm": "office.example", "sip_udp_port": 5070, "ring_timeout": 20})
    db.close()
    code = main(["run", "--data", str(initialised), "--bind", "127.0.0.1", "--sip-port", "5080",
                 "--tls-port", "5081", "--rtp-ports", "30000-30100"])
    assert code == 3  # run_daemon's exit code is the command's
    [(config, datadir)] = fake_daemon
    assert (config.bind_address, config.sip_udp_port, config.sip_tcp_port, config.sip_tls_port) == (
        "127.0.0.1", 5080, 5080, 5081,
    )
    assert (config.rtp_port_min, config.rtp_port_max) == (30000, 30100)
    assert (config.realm, config.ring_timeout) == ("office.example", 20)
    assert datadir.path == initialised
    assert datadir.lock is None, "released after the daemon returned"
    out = capsys.readouterr().out
    secret = _extensions(initialised)["1001"].secret
    assert "server      127.0.0.1" in out
    assert "5080 (UDP and TCP), 5081 (TLS)" in out
    assert f"1001     {secret}" in out


def test_run_on_a_fresh_directory_initialises_it(data: Path, fake_daemon: list) -> None:
    assert main(["run", "--data", str(data), "--bind", "127.0.0.1"]) == 3
    assert sorted(_extensions(data)) == ["1001", "1002", "1003"]
    assert DataDir(data).tls_cert_path.exists()


def test_run_with_an_invalid_stored_setting_names_it(
    initialised: Path, fake_daemon: list, capsys: pytest.CaptureFixture[str]
) -> None:
    db = open_database(initialised / "pbx.sqlite3")
    SettingsStore(db).set("sip_tls_port", 70000)
    db.close()
    assert main(["run", "--data", str(initialised)]) == 2
    assert "[setting sip_tls_port]" in capsys.readouterr().err
    assert fake_daemon == []


def test_run_refuses_a_directory_locked_by_another_process(initialised: Path) -> None:
    import os

    lock = DataDir(initialised).acquire_daemon_lock()
    try:
        result = subprocess.run(
            [sys.executable, "-m", "appliance", "run", "--data", str(initialised), "--bind", "127.0.0.1"],
            capture_output=True, text=True, timeout=60,
        )
    finally:
        lock.release()
    assert result.returncode == 1
    assert f"already in use by another pbxd (pid {os.getpid()})" in result.stderr


def test_run_without_the_daemon_module_says_so(
    initialised: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "appliance.daemon", None)  # as if appliance/daemon.py did not exist
    assert main(["run", "--data", str(initialised), "--bind", "127.0.0.1"]) == 1
    assert "appliance.daemon is missing" in capsys.readouterr().err


# -- console --------------------------------------------------------------------------------------------


def test_console_hands_its_arguments_to_the_console_module(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Any] = []
    module = types.ModuleType("appliance.console")
    module.run_console = lambda args: seen.append(args) or 0  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "appliance.console", module)
    assert main(["console", "--device", "/dev/ttyS1", "--baud", "9600", "--data", "/nonexistent"]) == 0
    assert (seen[0].device, seen[0].baud, seen[0].data) == ("/dev/ttyS1", 9600, "/nonexistent")


def test_console_missing_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "appliance.console", None)
    assert main(["console", "--device", "/dev/ttyS1"]) == 1
    assert "installer console is not part of this build" in capsys.readouterr().err


def test_console_requires_a_device(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["console"]) == 2
    assert "--device" in capsys.readouterr().err


def test_python_dash_m_appliance_prints_help() -> None:
    result = subprocess.run([sys.executable, "-m", "appliance", "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    for command in ("run", "init", "ext", "status", "console"):
        assert command in result.stdout


# -- console PIN ----------------------------------------------------------------------------------------


def _pin_hash(data: Path) -> Any:
    db = open_database(data / "pbx.sqlite3")
    try:
        return SettingsStore(db).get("console.pin_hash")
    finally:
        db.close()


def test_console_pin_set_takes_the_pin_twice_and_stores_its_hash(
    initialised: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    from appliance.passwords import verify_password

    monkeypatch.setattr("sys.stdin", io.StringIO("048213\n048213\n"))
    assert main(["console-pin", "set", "--data", str(initialised)]) == 0
    assert "console PIN set" in capsys.readouterr().out
    assert verify_password("048213", _pin_hash(initialised))

    assert main(["console-pin", "clear", "--data", str(initialised)]) == 0
    assert "console PIN cleared" in capsys.readouterr().out
    assert _pin_hash(initialised) is None
    assert main(["console-pin", "clear", "--data", str(initialised)]) == 0
    assert "no console PIN was set" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("12ab\n12ab\n", "the PIN must be 4 to 8 digits, nothing else"),
        ("123\n123\n", "the PIN must be 4 to 8 digits, not 3"),
        ("123456789\n123456789\n", "not 9"),
        ("1234\n4321\n", "the two PINs differ; nothing changed"),
        ("1234\n", "no PIN on standard input"),
    ],
)
def test_console_pin_set_refuses_bad_or_different_pins_and_changes_nothing(
    initialised: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, typed: str, message: str
) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO(typed))
    assert main(["console-pin", "set", "--data", str(initialised)]) == 2
    assert message in capsys.readouterr().err
    assert _pin_hash(initialised) is None


def test_console_pin_on_an_uninitialised_directory_creates_nothing(
    data: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("1234\n1234\n"))
    assert main(["console-pin", "set", "--data", str(data)]) == 1
    assert "no database" in capsys.readouterr().err and not data.exists()
