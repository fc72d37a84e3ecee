"""The console's box services: settings store, commands, ping targets, logs."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.console.services import BoxServices, ConsoleConfig, ConsoleError, StoreSettings, parse_ping_target
from appliance.store import initialize_database

from .conftest import DictSettings, FakeNetwork, write_script


@pytest.mark.parametrize("target", ["192.168.1.1", "pbx.example.com", "gw", "host-1.lan", "example.com."])
def test_ping_accepts_addresses_and_host_names(target: str) -> None:
    assert parse_ping_target(f"  {target} ") == target


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("", "empty"),
        ("-f", "neither"),
        ("host;reboot", "neither"),
        ("$(reboot)", "neither"),
        ("a..b", "neither"),
        ("-host.example", "neither"),
        ("300.1.1.1", "0-255"),
        ("1.2.3", "not an IPv4 address"),
        ("x" * 64 + ".com", "neither"),
    ],
)
def test_ping_refuses_anything_else(target: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_ping_target(target)


def test_settings_go_through_the_store_opened_per_call(tmp_path: Path) -> None:
    path = tmp_path / "pbx.sqlite3"
    initialize_database(path).close()
    settings = StoreSettings(path)
    assert settings.get("console.pin_hash") is None
    settings.set("web.admin_password_hash", "scrypt$...")
    assert StoreSettings(path).get("web.admin_password_hash") == "scrypt$..."


def test_settings_without_a_database_read_as_unset_and_refuse_writes(tmp_path: Path) -> None:
    settings = StoreSettings(tmp_path / "missing.sqlite3")
    assert settings.get("console.pin_hash", "default") == "default"
    with pytest.raises(ConsoleError, match="not initialised"):
        settings.set("web.admin_password_hash", "x")
    assert not (tmp_path / "missing.sqlite3").exists()


def services(tmp_path: Path, **overrides: object) -> BoxServices:
    config = ConsoleConfig(data_dir=tmp_path, **overrides)  # type: ignore[arg-type]
    return BoxServices(config, DictSettings(), FakeNetwork())  # type: ignore[arg-type]


def test_a_failing_init_script_is_reported_with_its_message(tmp_path: Path) -> None:
    write_script(tmp_path / "S50pbxd", 'echo "pbxd: config broken" >&2; exit 1')
    lines = services(tmp_path, service_scripts=(str(tmp_path / "S??pbxd"),)).restart_services()
    assert lines == ["S50pbxd restart: pbxd: config broken"]


def test_no_init_scripts_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConsoleError, match="no service scripts found"):
        services(tmp_path, service_scripts=(str(tmp_path / "S??pbxd"),)).restart_services()


def test_failing_reboot_command_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConsoleError, match="reboot failed"):
        services(tmp_path, reboot_command=(str(tmp_path / "no-reboot"),)).reboot()


def test_console_pin_hash_ignores_non_strings(tmp_path: Path) -> None:
    box = services(tmp_path)
    box.settings["console.pin_hash"] = 1234  # type: ignore[index]
    assert box.console_pin_hash() is None


def test_recent_log_prefers_the_newest_log_file(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "pbxd.log").write_text("a\nb\nc\n")
    lines = services(tmp_path, log_files=(tmp_path / "absent",)).recent_log(2)
    assert lines == [f"== {tmp_path / 'logs' / 'pbxd.log'} ==", "b", "c"]
    assert services(tmp_path / "logs", log_files=()).recent_log(2) == ["(no log file found)"]


def test_version_without_a_release_file(tmp_path: Path) -> None:
    assert services(tmp_path, firmware_release_file=tmp_path / "none").version() == "appliance 0.1.0"
