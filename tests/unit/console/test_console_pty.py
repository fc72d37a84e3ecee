"""The installer console driven over a pseudo-terminal, keystroke by keystroke."""

from __future__ import annotations

import random
import re
from ipaddress import IPv4Address, IPv4Interface

from appliance.console.factory_reset import TRASH_NAME
from appliance.network import ApplyResult
from appliance.passwords import hash_password, verify_password

from .conftest import Box


def test_locked_prompt_opens_the_menu_on_enter(console: Box) -> None:
    banner = console.term.expect("Press ENTER to open the menu.")
    assert "appliance 0.1.0, firmware 2025.06-test" in banner
    console.term.line("")
    menu = console.term.expect("Select [0-9, P, T]: ")
    for entry in ("1  Show status", "2  Set WAN network", "4  Ping a host", "9  Factory reset", "0  Lock the console"):
        assert entry in menu


def test_output_is_plain_ascii_with_crlf_and_no_cursor_addressing(console: Box) -> None:
    console.unlock()
    console.choose("1")
    console.term.expect("Press ENTER to return to the menu.")
    raw = bytes(console.term.output)
    assert all(byte < 0x80 for byte in raw)
    assert b"\x1b" not in raw
    assert re.search(rb"[^\r]\n", raw) is None  # every line feed comes with a carriage return


def test_status_shows_version_uptime_network_web_address_and_health(console: Box) -> None:
    console.unlock()
    console.choose("1")
    screen = console.term.expect("Press ENTER to return to the menu.")
    assert "Version:  appliance 0.1.0, firmware 2025.06-test" in screen
    assert "Uptime:   3 days 04:05:06" in screen
    assert "WAN eth0: up, 10.0.0.2/24" in screen
    assert "LAN eth1: no carrier, 192.168.10.1/24" in screen
    assert "Web UI:   https://192.168.10.1/  https://10.0.0.2/" in screen
    assert "Board temperature: 41.5 C" in screen
    console.term.line("")
    console.term.expect("Select [0-9, P, T]: ")  # the menu is drawn again after the action


def test_unknown_choice_redraws_the_menu(console: Box) -> None:
    console.unlock()
    console.choose("42")
    chunk = console.term.expect("Select [0-9, P, T]: ")
    assert "Unknown choice '42'" in chunk
    assert "1  Show status" in chunk


def test_static_wan_refuses_bad_input_field_by_field_then_applies_and_keeps(console: Box) -> None:
    term = console.term
    console.unlock()
    console.choose("2")
    assert "Now: dhcp on eth0" in term.expect("Mode: d = DHCP, s = static [dhcp]: ")
    term.line("s")
    term.expect("VLAN id (1-4094, 'none' for untagged) [none]: ")
    term.line("")
    term.expect("IP address: ")
    term.line("10.0.0.a")
    assert "address '10.0.0.a' is not an IPv4 address" in term.expect("IP address: ")
    term.line("10.0.0.256")
    assert "each number must be 0-255" in term.expect("IP address: ")
    term.line("10.0.0.0")
    term.expect("Netmask [255.255.255.0]: ")
    term.line("255.0.255.0")
    assert "netmask 255.0.255.0 is not contiguous" in term.expect("Netmask [255.255.255.0]: ")
    term.line("")
    assert "10.0.0.0 is the network address of 10.0.0.0/24" in term.expect("IP address: ")
    term.line("10.0.0.255")
    term.expect("Netmask [255.255.255.0]: ")
    term.line("/24")
    assert "10.0.0.255 is the broadcast address of 10.0.0.0/24" in term.expect("IP address: ")
    term.line("10.0.0.2")
    term.expect("Netmask [255.255.255.0]: ")
    term.line("255.255.255.0")
    term.expect("Gateway ('none' for no gateway) [none]: ")
    term.line("10.0.1.1")
    assert "gateway 10.0.1.1 is outside the subnet 10.0.0.0/24 of 10.0.0.2" in term.expect("Gateway")
    term.line("10.0.0.2")
    assert "is the box's own address" in term.expect("Gateway")
    term.line("10.0.0.1")
    term.expect("DNS servers, comma separated ('none') [none]: ")
    term.line("1.1.1.1, 9.9.9.x")
    assert "DNS server '9.9.9.x' is not an IPv4 address" in term.expect("DNS servers")
    term.line("1.1.1.1, 9.9.9.9")
    summary = term.expect("Apply these settings now? [y/N]: ")
    assert "Address:  10.0.0.2" in summary and "Netmask:  255.255.255.0 (/24)" in summary
    assert "Gateway:  10.0.0.1" in summary and "DNS:      1.1.1.1, 9.9.9.9" in summary
    term.line("y")
    # the web admin's default grace (network.confirm_seconds unset): 120 s
    assert "get up to 5 s to work" in term.expect("Keep them? Without an answer they are undone in 120 s [y/N]: ")
    term.line("y")
    term.expect("Saved.")
    term.expect("Select [0-9, P, T]: ")
    wan = console.network.saved.wan
    assert (wan.mode, wan.address, wan.gateway) == ("static", IPv4Interface("10.0.0.2/24"), IPv4Address("10.0.0.1"))
    assert wan.dns == (IPv4Address("1.1.1.1"), IPv4Address("9.9.9.9"))
    assert console.network.confirmed == 1 and console.network.reverted == 0


def test_lan_to_dhcp_on_a_vlan_declined_at_the_keep_question_is_undone(console: Box) -> None:
    term = console.term
    console.unlock()
    console.choose("3")
    assert "Now: static 192.168.10.1/24 on eth1" in term.expect("[static]: ")
    term.line("d")
    term.expect("untagged) [none]: ")
    term.line("5000")
    assert "VLAN id '5000' must be a number from 1 to 4094" in term.expect("untagged) [none]: ")
    term.line("20")
    assert "Device:   eth1.20" in term.expect("Apply these settings now? [y/N]: ")
    term.line("y")
    term.expect("[y/N]: ")
    term.line("n")
    term.expect("The previous settings are back.")
    assert console.network.applied[-1].lan.ifname == "eth1.20"  # type: ignore[union-attr]
    assert console.network.reverted == 1 and console.network.confirmed == 0


def test_declining_to_apply_changes_nothing(console: Box) -> None:
    term = console.term
    console.unlock()
    console.choose("3")
    term.expect("[static]: ")
    for answer in ("", "", "", "", "", ""):  # keep every default
        term.line(answer)
    term.expect("Apply these settings now? [y/N]: ")
    term.line("")
    term.expect("Nothing changed.")
    assert console.network.applied == []


def test_unanswered_change_is_undone_when_the_confirmation_times_out(console: Box) -> None:
    console.settings["network.confirm_seconds"] = 45  # the grace the web admin's page also uses
    term = console.term
    console.unlock()
    console.choose("2")
    term.expect("[dhcp]: ")
    term.line("")
    term.expect("untagged) [none]: ")
    term.line("7")
    term.expect("[y/N]: ")
    term.line("y")
    term.expect("undone in 45 s [y/N]: ")
    console.clock.advance(44)
    assert "No answer" not in term.quiet(0.2)
    console.clock.advance(2)
    term.expect("No answer.")
    term.expect("The previous settings are back.")
    assert console.network.reverted == 1


def test_settings_that_fail_verification_are_reported_as_rolled_back(console: Box) -> None:
    console.network.results.append(
        ApplyResult(ok=False, rolled_back=True, problems=("WAN (eth0): gateway 10.0.0.99 does not answer ARP or ping",))
    )
    term = console.term
    console.unlock()
    console.choose("2")
    term.expect("[dhcp]: ")
    term.line("static")
    term.expect("[none]: ")
    term.line("none")
    term.expect("IP address: ")
    term.line("10.0.0.3")
    term.expect("Netmask")
    term.line("24")
    term.expect("Gateway")
    term.line("10.0.0.99")
    term.expect("DNS")
    term.line("")
    term.expect("[y/N]: ")
    term.line("yes")
    screen = term.expect("Press ENTER to return to the menu.")
    assert "gateway 10.0.0.99 does not answer ARP or ping" in screen
    assert "The previous settings were restored." in screen
    assert console.network.confirmed == 0


def test_wan_and_lan_in_the_same_subnet_are_refused(console: Box) -> None:
    term = console.term
    console.unlock()
    console.choose("2")
    for answer in ("s", "", "192.168.10.7", "24", "", ""):
        term.line(answer)
    assert "overlaps LAN subnet 192.168.10.0/24" in term.expect("Press ENTER to return to the menu.")
    assert console.network.applied == []


def test_ping_loopback(console: Box) -> None:
    term = console.term
    console.unlock()
    console.choose("4")
    term.expect("(empty to go back): ")
    term.line("127.0.0.1")
    term.expect("Pinging 127.0.0.1 ...")
    screen = term.expect("Press ENTER to return to the menu.", timeout=15)
    assert "127.0.0.1 answered." in screen
    assert "1 received" in screen or "1 packets received" in screen


def test_ping_refuses_targets_that_are_not_hosts(console: Box) -> None:
    term = console.term
    console.unlock()
    console.choose("4")
    term.expect("(empty to go back): ")
    term.line("-f 127.0.0.1")
    assert "is neither an IPv4 address nor a host name" in term.expect("(empty to go back): ")
    term.line("127.0.0.300")
    assert "each number must be 0-255" in term.expect("(empty to go back): ")
    term.line("")
    term.expect("Select [0-9, P, T]: ")


def test_admin_password_reset_stores_a_new_hash_and_shows_the_password_once(console: Box) -> None:
    term = console.term
    console.unlock()
    console.choose("6")
    term.expect("[y/N]: ")
    term.line("n")
    term.expect("Password unchanged.")
    assert "web.admin_password_hash" not in console.settings
    term.expect("Select [0-9, P, T]: ")
    console.choose("6")
    term.expect("[y/N]: ")
    term.line("y")
    screen = term.expect("shown only this once.")
    password = re.search(r"New web admin password \(user admin\):  (\S+)", screen).group(1)  # type: ignore[union-attr]
    assert len(password) == 12
    assert verify_password(password, console.settings["web.admin_password_hash"])
    term.line("")
    assert password not in term.expect("Select [0-9, P, T]: ")


def test_restart_services_runs_the_init_scripts(console: Box) -> None:
    term = console.term
    console.unlock()
    console.choose("7")
    term.expect("[y/N]: ")
    term.line("y")
    screen = term.expect("Press ENTER to return to the menu.")
    assert "S50pbxd restart: ok" in screen and "S60webui restart: ok" in screen
    assert console.calls() == ["S50pbxd restart", "S60webui restart"]


def test_reboot_asks_first(console: Box) -> None:
    term = console.term
    console.unlock()
    console.choose("8")
    term.expect("[y/N]: ")
    term.line("")
    term.expect("Select [0-9, P, T]: ")
    assert console.calls() == []
    console.choose("8")
    term.expect("[y/N]: ")
    term.line("y")
    term.expect("Rebooting ...")
    term.expect("Reboot requested.")
    assert console.calls() == ["reboot "]


def _fill_data_dir(box: Box) -> None:
    (box.data_dir / "pbx.sqlite3").write_text("old database")
    (box.data_dir / "voicemail" / "1001").mkdir(parents=True)
    (box.data_dir / "voicemail" / "1001" / "msg0001.wav").write_bytes(b"RIFF")


def test_factory_reset_asks_twice(console: Box) -> None:
    _fill_data_dir(console)
    term = console.term
    console.unlock()
    console.choose("9")
    term.expect("(anything else cancels): ")
    term.line("reset")
    term.expect("Factory reset cancelled.")
    console.choose("9")
    term.expect("(anything else cancels): ")
    term.line("RESET")
    term.expect("Last chance: erase everything and reboot? [y/N]: ")
    term.line("")
    term.expect("Factory reset cancelled.")
    assert (console.data_dir / "pbx.sqlite3").read_text() == "old database"
    assert console.calls() == []
    console.choose("9")
    term.expect("(anything else cancels): ")
    term.line("RESET")
    term.expect("[y/N]: ")
    term.line("y")
    term.expect("Factory reset complete. Rebooting ...")
    term.expect("Reboot requested.")
    assert sorted(p.name for p in console.data_dir.iterdir()) == ["logs", "pbx.sqlite3"]
    assert (console.data_dir / "pbx.sqlite3").read_text() == "fresh\n"
    # services stopped (in reverse order) before the wipe, then init, then reboot
    assert console.calls() == ["S60webui stop", "S50pbxd stop", f"appliance-init --data {console.data_dir}", "reboot "]


def test_interrupted_factory_reset_is_finished_at_the_next_start(console: Box) -> None:
    _fill_data_dir(console)
    (console.tmp / "init-fails").touch()
    term = console.term
    console.unlock()
    console.choose("9")
    term.expect("cancels): ")
    term.line("RESET")
    term.expect("[y/N]: ")
    term.line("y")
    screen = term.expect("Press ENTER to return to the menu.")
    assert "The factory reset did not finish: initialising the data directory failed: disk full" in screen
    assert "completed the next time the console starts" in screen
    assert [p.name for p in console.data_dir.iterdir()] == [TRASH_NAME]
    assert "reboot " not in console.calls()
    console.stop()  # e.g. the installer pulls the power; inittab starts the console again
    console.start()
    term.expect("Press ENTER to open the menu.")
    assert sorted(p.name for p in console.data_dir.iterdir()) == ["logs", "pbx.sqlite3"]
    assert (console.data_dir / "pbx.sqlite3").read_text() == "fresh\n"


def test_show_recent_log(console: Box) -> None:
    console.unlock()
    console.choose("5")
    screen = console.term.expect("Press ENTER to return to the menu.")
    assert "box pbxd: line 39" in screen and "box pbxd: line 25" in screen
    assert "line 24\r\n" not in screen


def test_lock_returns_to_the_locked_prompt(console: Box) -> None:
    console.unlock()
    console.choose("0")
    console.term.expect("Console locked.")
    console.term.expect("Press ENTER to open the menu.")


def test_garbage_between_keystrokes_is_ignored(console: Box) -> None:
    console.unlock()
    garbage = b"\x1b[A\x1b[1;5C\x1bOP\x00\x13\x11\xff\xfe\x80\xc3\xa9\x9b\x07\x1b\x1b[B\x1b[15~"
    console.term.send(garbage + b"1" + garbage + b"\r", one_at_a_time=True)
    screen = console.term.expect("Press ENTER to return to the menu.")
    assert "Uptime:" in screen
    echoed = screen.split("Version:")[0]
    assert "Unknown choice" not in echoed


def test_line_noise_never_runs_an_action_and_the_console_recovers(console: Box) -> None:
    console.unlock()
    rng = random.Random(20240601)
    noise = bytes(b for b in rng.randbytes(3000) if not (0x30 <= b <= 0x39))  # no digits: cannot pick a menu entry
    console.term.send(noise, one_at_a_time=False)
    console.term.quiet(0.5)
    console.term.send(b"\x15\r")  # Ctrl-U, then a clean line
    console.term.quiet(0.3)
    console.term.line("1")
    console.term.expect("Uptime:")
    assert console.calls() == []
    assert console.network.applied == []


def test_bytes_arriving_one_at_a_time_with_crlf_make_one_line(console: Box) -> None:
    console.unlock()
    console.term.send(b"1\r\n", one_at_a_time=True)
    console.term.expect("Press ENTER to return to the menu. ")
    assert "Select" not in console.term.quiet(0.3)  # the LF of CRLF did not answer the pause
    console.term.send(b"\n")  # a terminal that sends LF alone
    console.term.expect("Select [0-9, P, T]: ")


def test_backspace_and_delete_edit_the_line(console: Box) -> None:
    console.unlock()
    console.term.send(b"9\x08" + b"8\x7f" + b"1\r", one_at_a_time=True)
    console.term.expect("Uptime:")


def test_overlong_line_is_discarded(console: Box) -> None:
    console.unlock()
    console.term.send(b"1" * 300 + b"\r")
    chunk = console.term.expect("Select [0-9, P, T]: ")
    assert "Input too long, ignored." in chunk
    assert "Uptime" not in chunk


def test_ctrl_c_leaves_a_dialog(console: Box) -> None:
    console.unlock()
    console.choose("2")
    console.term.expect("[dhcp]: ")
    console.term.send(b"s\x03")
    console.term.expect("Cancelled.")
    console.term.expect("Select [0-9, P, T]: ")
    assert console.network.applied == []


def test_idle_session_returns_to_the_locked_prompt(console: Box) -> None:
    console.unlock()
    console.clock.advance(299)
    assert "Session closed" not in console.term.quiet(0.2)
    console.clock.advance(2)
    console.term.expect("Session closed after 5 minutes without input.")
    console.term.expect("Press ENTER to open the menu.")


def test_idle_timeout_in_the_middle_of_a_pending_change_undoes_it(console: Box) -> None:
    console.settings["network.confirm_seconds"] = 900
    console.unlock()
    console.choose("2")
    for answer in ("", "", "y"):
        console.term.expect(": ")
        console.term.line(answer)
    console.term.expect("undone in 900 s [y/N]: ")
    console.clock.advance(301)
    console.term.expect("Press ENTER to open the menu.")
    assert console.network.reverted == 1 and console.network.confirmed == 0


def test_pin_is_asked_not_echoed_and_wrong_pins_lock_the_prompt(console: Box) -> None:
    console.settings["console.pin_hash"] = hash_password("4321", log2_n=10)
    term = console.term
    term.expect("Press ENTER to open the menu.")
    for _ in range(3):
        term.line("")
        term.expect("Console PIN: ")
        term.line("1111")
        chunk = term.expect("Wrong PIN.")
        assert "****" in chunk and "1111" not in chunk
    term.expect("The prompt is locked for 30 s.")
    term.line("")
    term.expect("Too many wrong PINs: try again in 30 s.")
    console.clock.advance(31)
    term.line("")
    term.expect("Console PIN: ")
    term.line("1111")
    term.expect("The prompt is locked for 60 s.")  # each further wrong PIN doubles the lockout
    console.clock.advance(61)
    term.line("")
    term.expect("Console PIN: ")
    term.send(b"43\x1b[D21\r", one_at_a_time=True)  # an arrow key in the middle is ignored
    term.expect("Select [0-9, P, T]: ")


def test_unanswered_pin_prompt_falls_back_to_the_locked_prompt(console: Box) -> None:
    console.settings["console.pin_hash"] = hash_password("4321", log2_n=10)
    console.term.expect("Press ENTER to open the menu.")
    console.term.line("")
    console.term.expect("Console PIN: ")
    console.clock.advance(61)
    console.term.expect("Press ENTER to open the menu.")


def test_real_services_write_the_new_password_hash_to_the_settings_store(box: Box) -> None:
    from appliance.console.services import StoreSettings
    from appliance.datadir import DataDir
    from appliance.store import initialize_database

    database = DataDir(box.data_dir).database_path
    initialize_database(database).close()
    StoreSettings(database).set("console.pin_hash", hash_password("2468", log2_n=10))
    box.start(real_services=True)  # run_console builds the store, netlink and I2C services itself
    term = box.term
    term.expect("Press ENTER to open the menu.")
    term.line("")
    term.expect("Console PIN: ")
    term.line("2468")
    term.expect("Select [0-9, P, T]: ")
    box.choose("6")
    term.expect("[y/N]: ")
    term.line("y")
    screen = term.expect("shown only this once.")
    password = re.search(r"\(user admin\):  (\S+)", screen).group(1)  # type: ignore[union-attr]
    assert verify_password(password, StoreSettings(database).get("web.admin_password_hash"))
