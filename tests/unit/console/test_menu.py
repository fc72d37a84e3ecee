"""The menu state machine on its own: lines and `now` in, text out, no serial port."""

from __future__ import annotations

from pathlib import Path

from appliance.console.menu import Menu, format_uptime
from appliance.console.services import ConsoleConfig, ConsoleError

from .conftest import DictSettings, FakeNetwork, PtyServices


def make_menu(tmp_path: Path, **kwargs: object) -> tuple[Menu, FakeNetwork]:
    network = FakeNetwork()
    config = ConsoleConfig(data_dir=tmp_path, firmware_release_file=tmp_path / "none", uptime_file=tmp_path / "uptime")
    services = PtyServices(config, DictSettings(), network, health=lambda: ["ok"])  # type: ignore[arg-type]
    return Menu(services, **kwargs), network  # type: ignore[arg-type]


def test_session_starts_locked_and_opens_on_any_line(tmp_path: Path) -> None:
    menu, _ = make_menu(tmp_path)
    assert menu.start(0.0).endswith("Press ENTER to open the menu. ")
    assert menu.next_timer() is None  # locked: no idle timer
    out = menu.handle_line("", 1.0)
    assert out.endswith("Select [0-9, P, T]: ")
    assert menu.next_timer() == 301.0


def test_slow_actions_flush_their_message_before_working(tmp_path: Path) -> None:
    menu, _ = make_menu(tmp_path)
    menu.start(0.0)
    menu.handle_line("", 0.0)
    menu.handle_line("7", 1.0)
    out = menu.handle_line("y", 2.0)
    assert out.endswith("Restarting services ...\n")  # printed before the scripts run
    assert menu.next_timer() == 2.0  # resume at once
    assert menu.handle_line("stray type-ahead", 2.1) == ""  # dropped while busy
    out = menu.handle_timer(2.2)
    assert "no service scripts found" in out
    assert out.endswith("Select [0-9, P, T]: ")


def test_a_failing_service_reports_and_keeps_the_session(tmp_path: Path) -> None:
    menu, _ = make_menu(tmp_path)

    def broken() -> list[str]:
        raise RuntimeError("I2C controller wedged")

    menu.services.health_lines = broken  # type: ignore[method-assign]
    menu.start(0.0)
    menu.handle_line("", 0.0)
    out = menu.handle_line("1", 1.0)
    assert "unavailable (I2C controller wedged)" in out
    assert "Uptime:   unavailable" in out  # no uptime file here: that field alone says so


def test_an_unexpected_error_returns_to_the_menu_still_unlocked(tmp_path: Path) -> None:
    menu, _ = make_menu(tmp_path)

    def crash(settings: object) -> None:
        raise KeyError("bug")

    menu.start(0.0)
    menu.handle_line("", 0.0)
    menu.services.network.apply = crash  # type: ignore[attr-defined]
    for line in ("2", "", "", "y"):
        out = menu.handle_line(line, 1.0)
    out = menu.handle_timer(1.0)
    assert "Internal error: 'bug'" in out
    assert out.endswith("Select [0-9, P, T]: ")
    assert menu.unlocked


def test_domain_errors_are_shown_as_errors(tmp_path: Path) -> None:
    menu, _ = make_menu(tmp_path)

    def refuse() -> None:
        raise ConsoleError("reboot failed: permission denied")

    menu.services.reboot = refuse  # type: ignore[method-assign]
    menu.start(0.0)
    menu.handle_line("", 0.0)
    menu.handle_line("8", 1.0)
    menu.handle_line("y", 1.0)
    out = menu.handle_timer(1.0)
    assert "Error: reboot failed: permission denied" in out


def test_confirmation_question_cannot_be_cancelled(tmp_path: Path) -> None:
    menu, network = make_menu(tmp_path)
    menu.start(0.0)
    menu.handle_line("", 0.0)
    for line in ("2", "", "", "y"):
        menu.handle_line(line, 1.0)
    menu.handle_timer(1.0)
    out = menu.handle_timer(1.0)
    assert out.endswith("[y/N]: ")
    out = menu.handle_cancel(2.0)
    assert "This question must be answered." in out and network.reverted == 0
    assert menu.next_timer() == 121.0  # the confirmation deadline (120 s by default) comes before the idle timeout


def test_uptime_format() -> None:
    assert format_uptime(59.9) == "00:00:59"
    assert format_uptime(86400 + 3661) == "1 day 01:01:01"
    assert format_uptime(3 * 86400) == "3 days 00:00:00"
