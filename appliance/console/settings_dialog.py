"""The console's own settings: the PIN it asks for, and its two timers.

The PIN is typed twice without echo and stored as a scrypt hash (D-box-5); nothing changes until the
installer confirms. The timers are `console.idle_seconds` and `network.confirm_seconds` (the latter shared
with the web admin's network page), each checked against its bounds as it is typed.
"""

from __future__ import annotations

from appliance.console.dialog import Ask, Flow, Ui
from appliance.console.pin import PIN_DIGITS, parse_pin
from appliance.console.services import ConsoleServices
from appliance.console.timers import CONFIRM, IDLE
from appliance.passwords import hash_password


def _new_pin(ui: Ui) -> Flow[str | None]:
    """Ask for the new PIN until it is well-formed, then once more; None if abandoned or different."""
    low, high = PIN_DIGITS
    while True:
        reply = yield Ask(f"New PIN ({low}-{high} digits, empty to go back): ", secret=True)
        text = (reply.text or "").strip()
        if not text:
            return None
        try:
            pin = parse_pin(text)
        except ValueError as err:
            ui.say(f"  Invalid: {err}.")
            continue
        break
    again = yield Ask("Type the new PIN again: ", secret=True)
    if (again.text or "").strip() != pin:
        ui.say("The two PINs differ.")
        return None
    return pin


def console_pin(ui: Ui, services: ConsoleServices) -> Flow[None]:
    """Set a new console PIN, or clear the one that is set."""
    has_pin = services.console_pin_hash() is not None
    ui.say("")
    ui.say("--- Console PIN " + "-" * 48)
    ui.say("A PIN is set: the console asks for it before the menu." if has_pin
           else "No PIN is set: anyone at the serial port gets this menu.")
    choices = "s = set a new PIN, c = clear the PIN" if has_pin else "s = set a PIN"
    reply = yield Ask(f"{choices}, ENTER = back: ")
    choice = (reply.text or "").strip().lower()
    if choice == "s":
        pin = yield from _new_pin(ui)
        if pin is None:
            ui.say("The PIN is unchanged.")
            return
        ok = yield from ui.ask_yes_no("Set this PIN? The console will ask for it before the menu")
        if not ok:
            ui.say("The PIN is unchanged.")
            return
        services.set_console_pin_hash(hash_password(pin))
        ui.say("Console PIN set. It is asked for the next time the console is opened.")
    elif choice == "c" and has_pin:
        ok = yield from ui.ask_yes_no("Clear the PIN? Anyone at the serial port then gets the menu")
        if not ok:
            ui.say("The PIN is unchanged.")
            return
        services.set_console_pin_hash(None)
        ui.say("Console PIN cleared.")
    elif choice:
        ui.say(f"Unknown choice '{choice[:10]}'; the PIN is unchanged.")


def timeouts(ui: Ui, services: ConsoleServices) -> Flow[float | None]:
    """Ask for both timers; returns the new idle timeout once saved (None when nothing changed)."""
    idle, confirm = services.idle_seconds(), services.confirm_seconds()
    ui.say("")
    ui.say("--- Console timeouts " + "-" * 43)
    ui.say(f"Idle session: {idle:g} s. Keeping a network change: {confirm:g} s (also the web admin's).")
    new_idle = yield from ui.ask_value(
        f"Close an idle session after how many seconds ({IDLE.low:g}-{IDLE.high:g})", IDLE.parse, default=f"{idle:g}"
    )
    new_confirm = yield from ui.ask_value(
        f"Undo an unconfirmed network change after how many seconds ({CONFIRM.low:g}-{CONFIRM.high:g})",
        CONFIRM.parse,
        default=f"{confirm:g}",
    )
    if (new_idle, new_confirm) == (idle, confirm):
        ui.say("Nothing changed.")
        return None
    ok = yield from ui.ask_yes_no(f"Save: idle session {new_idle:g} s, network change {new_confirm:g} s?")
    if not ok:
        ui.say("Nothing changed.")
        return None
    services.set_timers(new_idle, new_confirm)
    ui.say("Saved.")
    return new_idle
