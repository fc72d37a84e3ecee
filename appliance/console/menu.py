"""The installer menu as a state machine: fed lines and `now`, returns text to print.

No I/O happens here apart from the calls into `ConsoleServices`; the serial port, the clock and the
line editing belong to the layers around it. The whole session is one generator (see dialog.py):
locked prompt -> PIN (if one is set) -> main menu -> actions. An idle session is closed by replacing
the generator, which runs its `finally` blocks (a pending network change is undone).
Output is plain ASCII with no cursor addressing: every screen is printed below the last one, and the
menu is printed again after each action, so any terminal, however dumb, shows it cleanly.
"""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Callable

from appliance.console.dialog import Ask, Cancelled, Flow, Reply, Step, Ui, Work
from appliance.console.factory_reset import FactoryResetError
from appliance.console.network_dialog import set_network
from appliance.console.settings_dialog import console_pin, timeouts
from appliance.console.pin import PinLimiter
from appliance.console.services import ConsoleServices, parse_ping_target
from appliance.console.timers import describe_seconds
from appliance.errors import ApplianceError
from appliance.network.model import Role
from appliance.passwords import generate_password, hash_password, verify_password

log = logging.getLogger(__name__)

WIDTH = 64
PIN_PROMPT_TIMEOUT = 60.0
TITLE = "IP-PBX installer console"
SELECT_PROMPT = "Select [0-9, P, T]: "


def format_uptime(seconds: float) -> str:
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    clock = f"{hours:02d}:{minutes:02d}:{secs:02d}"
    return f"{days} day{'s' if days != 1 else ''} {clock}" if days else clock


class Menu:
    """The console session; see the module docstring."""

    def __init__(self, services: ConsoleServices, *, pin_limiter: PinLimiter | None = None) -> None:
        self.services = services
        #: setting console.idle_seconds, read again at each new session and when the installer changes it
        self.idle_timeout = services.idle_seconds()
        self.pins = pin_limiter or PinLimiter()
        self.ui = Ui()
        self.unlocked = False
        self._flow: Flow[None] | None = None
        self._step: Step | None = None
        self._step_time = 0.0
        self._last_input = 0.0
        self._actions: list[tuple[str, str, Callable[[float], Flow[None]]]] = [
            ("1", "Show status (version, uptime, network, health)", self._status),
            ("2", "Set WAN network", lambda now: self._network("wan")),
            ("3", "Set LAN network", lambda now: self._network("lan")),
            ("4", "Ping a host", self._ping),
            ("5", "Show recent log", self._log),
            ("6", "Reset web admin password", self._reset_password),
            ("7", "Restart services", self._restart),
            ("8", "Reboot", self._reboot),
            ("9", "Factory reset", self._factory_reset),
            ("P", "Console PIN (set or clear)", lambda now: console_pin(self.ui, self.services)),
            ("T", "Console timeouts (idle session, keeping network changes)", self._timeouts),
        ]

    # -- the sans-I/O surface ------------------------------------------------------------------------

    @property
    def secret(self) -> bool:
        """True while the question being asked must not be echoed (PIN)."""
        return isinstance(self._step, Ask) and self._step.secret

    def start(self, now: float) -> str:
        """Begin at the locked prompt."""
        self._begin(now, unlocked=False)
        return self.ui.take()

    def handle_line(self, text: str, now: float) -> str:
        """A line the installer typed."""
        self._last_input = now
        if isinstance(self._step, Ask):
            self._advance(lambda flow: flow.send(Reply(text, now)), now)
        # while busy (Work pending) type-ahead is dropped: it must not answer the next question
        return self.ui.take()

    def handle_cancel(self, now: float) -> str:
        """Ctrl-C: leave the current action (unless its question must be answered)."""
        self._last_input = now
        if isinstance(self._step, Ask):
            if self._step.cancellable:
                self._advance(lambda flow: flow.throw(Cancelled()), now)
            else:
                self.ui.say("This question must be answered.")
                self.ui.write(self._step.prompt)
        return self.ui.take()

    def handle_overflow(self, now: float) -> str:
        """A line too long to be meant: say so and ask again."""
        self._last_input = now
        self.ui.say("Input too long, ignored.")
        if isinstance(self._step, Ask):
            self.ui.write(self._step.prompt)
        return self.ui.take()

    def next_timer(self) -> float | None:
        """When handle_timer wants to be called next (None: only on input)."""
        if isinstance(self._step, Work):
            return self._step_time
        deadlines = []
        if isinstance(self._step, Ask) and self._step.timeout_at is not None:
            deadlines.append(self._step.timeout_at)
        if self.unlocked:
            deadlines.append(self._last_input + self.idle_timeout)
        return min(deadlines) if deadlines else None

    def handle_timer(self, now: float) -> str:
        """Resume work, time a question out, or lock an idle session."""
        step = self._step
        if isinstance(step, Work):
            self._advance(lambda flow: flow.send(Reply(None, now)), now)
        elif isinstance(step, Ask) and step.timeout_at is not None and now >= step.timeout_at:
            self._advance(lambda flow: flow.send(Reply(None, now)), now)
        elif self.unlocked and now >= self._last_input + self.idle_timeout:
            self.ui.say("")
            self.ui.say(f"Session closed after {describe_seconds(self.idle_timeout)} without input.")
            self._begin(now, unlocked=False)
        return self.ui.take()

    # -- running the session generator ---------------------------------------------------------------

    def _begin(self, now: float, *, unlocked: bool) -> None:
        if self._flow is not None:
            try:
                self._flow.close()  # runs finally blocks: undo a pending network change
            except Exception:  # noqa: BLE001 - a failing cleanup must not keep the console down
                log.exception("closing the console session failed")
        self._last_input = now
        self.idle_timeout = self.services.idle_seconds()
        self._flow = self._session(start_unlocked=unlocked)
        self._advance(lambda flow: next(flow), now)

    def _advance(self, resume: Callable[[Flow[None]], Step], now: float) -> None:
        assert self._flow is not None
        was_unlocked = self.unlocked
        try:
            step = resume(self._flow)
        except StopIteration:  # the session generator never ends; restart defensively
            self._begin(now, unlocked=False)
            return
        except Exception as err:  # noqa: BLE001 - the reader survives upper-layer bugs (logged)
            log.exception("console action failed")
            self.ui.say(f"Internal error: {err}")
            self._flow = None
            self._begin(now, unlocked=was_unlocked)
            return
        self._step, self._step_time = step, now
        if isinstance(step, Ask):
            self.ui.write(step.prompt)

    def _session(self, *, start_unlocked: bool) -> Flow[None]:
        unlocked = start_unlocked
        while True:
            if not unlocked:
                yield from self._unlock()
            self.unlocked = True
            try:
                yield from self._main_menu()
            finally:
                self.unlocked = False
            unlocked = False

    # -- lock and PIN ---------------------------------------------------------------------------------

    def _unlock(self) -> Flow[None]:
        while True:
            self.ui.say("")
            self.ui.say(f"{TITLE} - {self.services.version()}")
            try:
                reply = yield Ask("Press ENTER to open the menu. ")
            except Cancelled:
                continue
            pin_hash = self.services.console_pin_hash()
            if not pin_hash:
                return
            wait = self.pins.wait(reply.now)
            if wait > 0:
                self.ui.say(f"Too many wrong PINs: try again in {wait:.0f} s.")
                continue
            try:
                reply = yield Ask("Console PIN: ", secret=True, timeout_at=reply.now + PIN_PROMPT_TIMEOUT)
            except Cancelled:
                continue
            if reply.text is None:
                self.ui.say("")
                continue
            if verify_password(reply.text.strip(), pin_hash):
                self.pins.success()
                return
            lockout = self.pins.failure(reply.now)
            self.ui.say("Wrong PIN." + (f" The prompt is locked for {lockout:.0f} s." if lockout else ""))

    # -- main menu ------------------------------------------------------------------------------------

    def _menu_text(self) -> str:
        lines = ["", "=" * WIDTH, f" {TITLE}", f" {self.services.version()}", "=" * WIDTH]
        lines += [f"  {key}  {label}" for key, label, _ in self._actions]
        lines += ["  0  Lock the console", "-" * WIDTH]
        return "\n".join(lines) + "\n"

    def _main_menu(self) -> Flow[None]:
        while True:
            self.ui.write(self._menu_text())
            try:
                reply = yield Ask(SELECT_PROMPT)
                choice = (reply.text or "").strip()
                if choice == "0":
                    self.ui.say("Console locked.")
                    return
                action = next((act for key, _, act in self._actions if key == choice.upper()), None)
                if action is None:
                    if choice:
                        self.ui.say(f"Unknown choice '{choice[:10]}': type a number from 0 to 9, P or T.")
                    continue
                yield from action(reply.now)
            except Cancelled:
                self.ui.say("Cancelled.")
            except (ApplianceError, OSError, subprocess.SubprocessError, ValueError) as err:
                log.error("console action failed: %s", err)
                self.ui.say(f"Error: {err}")

    # -- actions --------------------------------------------------------------------------------------

    def _status(self, now: float) -> Flow[None]:
        say = self.ui.say
        say("")
        say("--- Status " + "-" * (WIDTH - 11))
        say(f"Version:  {self.services.version()}")
        say(f"Uptime:   {_guard(lambda: format_uptime(self.services.uptime()))}")
        say("Network:")
        for line in _guard_lines(self.services.interface_lines):
            say(f"  {line}")
        urls = _guard_lines(self.services.web_urls)
        say("Web UI:   " + ("  ".join(urls) if urls else "no address yet"))
        say("Health:")
        for line in _guard_lines(self.services.health_lines):
            say(f"  {line}")
        yield from self.ui.pause()

    def _network(self, role: Role) -> Flow[None]:
        # read when the dialog starts: the web admin's page counts down from the same setting
        yield from set_network(self.ui, self.services, role, self.services.confirm_seconds())

    def _timeouts(self, now: float) -> Flow[None]:
        idle = yield from timeouts(self.ui, self.services)
        if idle is not None:
            self.idle_timeout = idle

    def _ping(self, now: float) -> Flow[None]:
        target = yield from self.ui.ask_value(
            "Host or IPv4 address to ping (empty to go back)", _optional(parse_ping_target)
        )
        if target is None:
            return
        self.ui.say(f"Pinging {target} ...")
        yield from self.ui.work()
        result = self.services.ping(target)
        for line in result.lines[-8:]:
            self.ui.say(f"  {line}")
        self.ui.say(f"{target} answered." if result.ok else f"No answer from {target}.")
        yield from self.ui.pause()

    def _log(self, now: float) -> Flow[None]:
        self.ui.say("")
        for line in self.services.recent_log(15):
            self.ui.say(line[: WIDTH + 14])
        yield from self.ui.pause()

    def _reset_password(self, now: float) -> Flow[None]:
        ok = yield from self.ui.ask_yes_no("Reset the web admin password? The current one stops working")
        if not ok:
            self.ui.say("Password unchanged.")
            return
        password = generate_password()
        self.services.set_admin_password_hash(hash_password(password))
        self.ui.say("")
        self.ui.say(f"New web admin password (user admin):  {password}")
        self.ui.say("Write it down now: it is shown only this once.")
        yield from self.ui.pause()

    def _restart(self, now: float) -> Flow[None]:
        ok = yield from self.ui.ask_yes_no("Restart the PBX services? Calls in progress are cut")
        if not ok:
            return
        self.ui.say("Restarting services ...")
        yield from self.ui.work()
        for line in self.services.restart_services():
            self.ui.say(f"  {line}")
        yield from self.ui.pause()

    def _reboot(self, now: float) -> Flow[None]:
        ok = yield from self.ui.ask_yes_no("Reboot the box now? Calls in progress are cut")
        if not ok:
            return
        self.ui.say("Rebooting ...")
        yield from self.ui.work()
        self.services.reboot()
        self.ui.say("Reboot requested.")

    def _factory_reset(self, now: float) -> Flow[None]:
        say = self.ui.say
        say("")
        say("FACTORY RESET erases ALL configuration, extensions, voicemail, recordings and")
        say("logs, and returns the network settings to their defaults. It cannot be undone.")
        reply = yield Ask("Type RESET in capitals to continue (anything else cancels): ")
        if (reply.text or "").strip() != "RESET":
            say("Factory reset cancelled.")
            return
        sure = yield from self.ui.ask_yes_no("Last chance: erase everything and reboot?")
        if not sure:
            say("Factory reset cancelled.")
            return
        say("Factory reset in progress. Do not switch the box off ...")
        yield from self.ui.work()
        try:
            self.services.factory_reset()
        except FactoryResetError as err:
            say(f"The factory reset did not finish: {err}")
            say("It will be completed the next time the console starts.")
            yield from self.ui.pause()
            return
        say("Factory reset complete. Rebooting ...")
        yield from self.ui.work()
        self.services.reboot()
        say("Reboot requested.")


def _optional(parse: Callable[[str], str]) -> Callable[[str], str | None]:
    return lambda text: parse(text) if text.strip() else None


def _guard(read: Callable[[], str]) -> str:
    """A status field that could not be read shows why, and the rest of the screen still appears."""
    try:
        return read()
    except Exception as err:  # noqa: BLE001 - logged; one broken source must not hide the others
        log.warning("status field unavailable: %s", err)
        return f"unavailable ({err})"


def _guard_lines(read: Callable[[], list[str]]) -> list[str]:
    try:
        return read()
    except Exception as err:  # noqa: BLE001 - logged, shown in place of the lines
        log.warning("status lines unavailable: %s", err)
        return [f"unavailable ({err})"]
