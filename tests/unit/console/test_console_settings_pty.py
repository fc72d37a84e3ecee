"""The console's own settings over the pseudo-terminal: the PIN (set twice without echo, cleared) and the
idle and network-confirmation timers (validated, saved, used)."""

from __future__ import annotations

import io

import pytest

from appliance.passwords import hash_password, verify_password

from .conftest import Box

PIN_KEY = "console.pin_hash"


def open_pin_dialog(console: Box) -> None:
    console.unlock()
    console.choose("p")


def test_menu_lists_the_pin_and_timeout_entries(console: Box) -> None:
    menu = console.unlock()
    assert "P  Console PIN (set or clear)" in menu and "T  Console timeouts" in menu


def test_a_pin_typed_twice_and_confirmed_is_stored_hashed_and_asked_at_the_next_unlock(console: Box) -> None:
    term = console.term
    open_pin_dialog(console)
    assert "No PIN is set" in term.expect("s = set a PIN, ENTER = back: ")
    term.line("s")
    term.expect("New PIN (4-8 digits, empty to go back): ")
    for bad, message in (("12a4", "4 to 8 digits, nothing else"), ("123", "not 3"), ("123456789", "not 9")):
        term.line(bad)
        assert message in term.expect("New PIN (4-8 digits, empty to go back): ")
    term.line("2580")
    term.expect("Type the new PIN again: ")
    term.line("2580")
    term.expect("Set this PIN? The console will ask for it before the menu [y/N]: ")
    term.line("y")
    term.expect("Console PIN set.")
    assert verify_password("2580", console.settings[PIN_KEY])
    assert "2580" not in console.term.output.decode("latin-1")  # never echoed
    term.expect("Select [0-9, P, T]: ")
    console.choose("0")
    term.expect("Press ENTER to open the menu.")
    term.line("")
    term.expect("Console PIN: ")
    term.line("2580")
    term.expect("Select [0-9, P, T]: ")


def test_two_different_pins_change_nothing(console: Box) -> None:
    term = console.term
    open_pin_dialog(console)
    term.expect("ENTER = back: ")
    term.line("s")
    term.expect("empty to go back): ")
    term.line("1234")
    term.expect("Type the new PIN again: ")
    term.line("1243")
    screen = term.expect("Select [0-9, P, T]: ")
    assert "The two PINs differ." in screen and "The PIN is unchanged." in screen
    assert PIN_KEY not in console.settings


def test_a_pin_not_confirmed_is_not_stored(console: Box) -> None:
    term = console.term
    open_pin_dialog(console)
    term.expect("ENTER = back: ")
    for answer in ("s", "13579", "13579"):
        term.line(answer)
        term.expect(": ")
    term.line("")  # the default is no
    assert "The PIN is unchanged." in term.expect("Select [0-9, P, T]: ")
    assert PIN_KEY not in console.settings


def test_clearing_the_pin_asks_first_then_opens_the_console_without_one(console: Box) -> None:
    console.settings[PIN_KEY] = hash_password("4321", log2_n=10)
    term = console.term
    term.expect("Press ENTER to open the menu.")
    term.line("")
    term.expect("Console PIN: ")
    term.line("4321")
    term.expect("Select [0-9, P, T]: ")
    console.choose("P")
    assert "A PIN is set" in term.expect("s = set a new PIN, c = clear the PIN, ENTER = back: ")
    term.line("c")
    term.expect("Clear the PIN? Anyone at the serial port then gets the menu [y/N]: ")
    term.line("n")
    term.expect("The PIN is unchanged.")
    assert console.settings[PIN_KEY]
    console.choose("p")
    term.expect("ENTER = back: ")
    term.line("c")
    term.expect("[y/N]: ")
    term.line("y")
    term.expect("Console PIN cleared.")
    console.choose("0")
    term.expect("Press ENTER to open the menu.")
    term.line("")
    assert "Console PIN: " not in term.expect("Select [0-9, P, T]: ")


def test_timeouts_are_checked_saved_and_used_at_once(console: Box) -> None:
    term = console.term
    console.unlock()
    console.choose("t")
    assert "Idle session: 300 s. Keeping a network change: 120 s" in term.expect("(30-3600) [300]: ")
    term.line("10")
    assert "the idle timeout must be from 30 to 3600 seconds, not 10" in term.expect("(30-3600) [300]: ")
    term.line("ten")
    assert "whole number of seconds" in term.expect("(30-3600) [300]: ")
    term.line("90")
    term.expect("(1-3600) [120]: ")
    term.line("3601")
    assert "must be from 1 to 3600 seconds, not 3601" in term.expect("(1-3600) [120]: ")
    term.line("30")
    term.expect("Save: idle session 90 s, network change 30 s? [y/N]: ")
    term.line("y")
    term.expect("Saved.")
    assert console.settings["console.idle_seconds"] == 90
    assert console.settings["network.confirm_seconds"] == 30
    term.expect("Select [0-9, P, T]: ")
    console.choose("2")  # the network dialog counts down from the new grace
    for answer in ("", "", "y"):
        term.expect(": ")
        term.line(answer)
    term.expect("undone in 30 s [y/N]: ")
    term.line("y")
    term.expect("Select [0-9, P, T]: ")
    console.clock.advance(89)
    assert "Session closed" not in term.quiet(0.2)
    console.clock.advance(2)
    term.expect("Session closed after 90 seconds without input.")


def test_timeouts_left_as_they_are_change_nothing(console: Box) -> None:
    console.unlock()
    console.choose("T")
    for _ in range(2):
        console.term.expect("]: ")
        console.term.line("")
    assert "Nothing changed." in console.term.expect("Select [0-9, P, T]: ")
    assert "console.idle_seconds" not in console.settings


def test_a_stored_idle_timeout_out_of_bounds_falls_back_to_five_minutes(console: Box) -> None:
    console.settings["console.idle_seconds"] = 5
    console.unlock()
    console.clock.advance(6)
    assert "Session closed" not in console.term.quiet(0.2)
    console.clock.advance(300)
    console.term.expect("Session closed after 5 minutes without input.")


def test_the_pin_set_by_the_command_line_opens_the_real_console(box: Box, monkeypatch: pytest.MonkeyPatch) -> None:
    from appliance.cli import main

    assert main(["init", "--data", str(box.data_dir)]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("97531\n97531\n"))
    assert main(["console-pin", "set", "--data", str(box.data_dir)]) == 0
    box.start(real_services=True)
    term = box.term
    term.expect("Press ENTER to open the menu.")
    term.line("")
    term.expect("Console PIN: ")
    term.line("97531")
    term.expect("Select [0-9, P, T]: ")
