"""What the console menu can do to the box, behind one interface the menu is given.

`ConsoleServices` is what the menu calls; `BoxServices` implements it with subprocesses, netlink,
I2C and the settings store; tests substitute commands (reboot, init scripts, `appliance init`) or the
network manager. Commands are argument lists, never shell strings.
"""

from __future__ import annotations

import glob
import logging
import re
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import appliance
from appliance.console import factory_reset as reset
from appliance.console import timers
from appliance.errors import ApplianceError
from appliance.firmware import RELEASE_FILE, read_release
from appliance.limits import SecondsSetting
from appliance.network import ApplyResult, NetworkManager, NetworkSettings, link_statuses, parse_ipv4

log = logging.getLogger(__name__)

ADMIN_PASSWORD_KEY = "web.admin_password_hash"
CONSOLE_PIN_KEY = "console.pin_hash"
_HOSTNAME_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


class ConsoleError(ApplianceError):
    """An action of the console failed in a way the installer should read."""


def parse_ping_target(text: str) -> str:
    """An IPv4 address or a host name (RFC 1123); never anything ping could take as an option."""
    value = text.strip()
    if not value:
        raise ValueError("the host is empty")
    if re.fullmatch(r"[\d.]+", value):
        return str(parse_ipv4(value, "address"))
    if len(value) > 253 or not all(_HOSTNAME_LABEL.fullmatch(label) for label in value.rstrip(".").split(".")):
        raise ValueError(f"'{value}' is neither an IPv4 address nor a host name (letters, digits, '-' and dots)")
    return value


@dataclass(frozen=True)
class PingResult:
    ok: bool
    lines: tuple[str, ...]


class ConsoleServices(Protocol):
    """Everything the menu needs; see BoxServices for the real thing."""

    def version(self) -> str: ...
    def uptime(self) -> float: ...
    def interface_lines(self) -> list[str]: ...
    def web_urls(self) -> list[str]: ...
    def health_lines(self) -> list[str]: ...
    def network_settings(self) -> NetworkSettings: ...
    def network_grace(self) -> float: ...
    def apply_network(self, settings: NetworkSettings) -> ApplyResult: ...
    def confirm_network(self) -> None: ...
    def revert_network(self) -> None: ...
    def ping(self, target: str) -> PingResult: ...
    def console_pin_hash(self) -> str | None: ...
    def set_console_pin_hash(self, encoded: str | None) -> None: ...
    def idle_seconds(self) -> float: ...
    def confirm_seconds(self) -> float: ...
    def set_timers(self, idle_seconds: float, confirm_seconds: float) -> None: ...
    def set_admin_password_hash(self, encoded: str) -> None: ...
    def restart_services(self) -> list[str]: ...
    def reboot(self) -> None: ...
    def factory_reset(self) -> None: ...
    def recent_log(self, count: int) -> list[str]: ...


@dataclass
class ConsoleConfig:
    """Console behaviour and the box commands it runs; every field has the box's default."""

    data_dir: Path
    service_scripts: tuple[str, ...] = ("/etc/init.d/S??pbxd", "/etc/init.d/S??webui")
    reboot_command: tuple[str, ...] = ("reboot",)
    #: "{data}" is replaced by the data directory
    init_command: tuple[str, ...] = (sys.executable, "-m", "appliance", "init", "--data", "{data}")
    ping_command: tuple[str, ...] = ("ping", "-c", "3", "-W", "2")
    ping_timeout: float = 15.0
    command_timeout: float = 120.0
    log_files: tuple[Path, ...] = (Path("/var/log/messages"),)
    web_port: int = 443
    #: what board/common/post-build.sh writes (appliance.firmware)
    firmware_release_file: Path = RELEASE_FILE
    uptime_file: Path = Path("/proc/uptime")
    #: where settings live; default DataDir(data_dir).database_path
    database_path: Path | None = None


class StoreSettings:
    """Settings through appliance.store, opened per call: the console holds no database open, so a
    factory reset can delete the file and pbxd's migrations never wait on us."""

    def __init__(self, database_path: Path) -> None:
        self.database_path = database_path

    @contextmanager
    def _store(self) -> Iterator[Any]:
        from appliance.store import SettingsStore, migrate, open_database

        if not self.database_path.exists():
            raise ConsoleError(f"no database at {self.database_path}: the box is not initialised")
        db = open_database(self.database_path)
        try:
            migrate(db)
            yield SettingsStore(db)
        finally:
            db.close()

    def get(self, key: str, default: Any = None) -> Any:
        try:
            with self._store() as store:
                return store.get(key, default)
        except ConsoleError as err:
            log.warning("reading setting %s: %s", key, err)
            return default

    def set(self, key: str, value: Any) -> None:
        with self._store() as store:
            store.set(key, value)


class BoxServices:
    """ConsoleServices on a real box (or a development host with substituted commands)."""

    def __init__(
        self,
        config: ConsoleConfig,
        settings: Any,
        network: NetworkManager,
        health: Callable[[], list[str]] | None = None,
    ) -> None:
        self.config = config
        self.settings = settings
        self.network = network
        self._health = health

    def version(self) -> str:
        text = f"appliance {appliance.__version__}"
        release = read_release(self.config.firmware_release_file)
        return f"{text}, firmware {release}" if release else text

    def uptime(self) -> float:
        return float(self.config.uptime_file.read_text().split()[0])

    def interface_lines(self) -> list[str]:
        return [status.describe() for status in link_statuses(self.network.current(), self.network.context)]

    def web_urls(self) -> list[str]:
        from appliance.network import live_addresses

        port = "" if self.config.web_port == 443 else f":{self.config.web_port}"
        found = live_addresses(self.network.current(), self.network.context)
        addresses = [found.get(role) for role in ("lan", "wan")]
        return [f"https://{address.ip}{port}/" for address in addresses if address is not None]

    def health_lines(self) -> list[str]:
        if self._health is not None:
            return self._health()
        from appliance.health import board_health

        return board_health().lines()

    def network_settings(self) -> NetworkSettings:
        return self.network.current()

    def network_grace(self) -> float:
        return self.network.context.grace

    def apply_network(self, settings: NetworkSettings) -> ApplyResult:
        return self.network.apply(settings)

    def confirm_network(self) -> None:
        self.network.confirm()

    def revert_network(self) -> None:
        self.network.revert()

    def ping(self, target: str) -> PingResult:
        argv = [*self.config.ping_command, "--", parse_ping_target(target)]
        try:
            done = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=self.config.ping_timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return PingResult(False, (f"no result within {self.config.ping_timeout:g} s",))
        except OSError as err:
            raise ConsoleError(f"cannot run ping: {err.strerror}") from err
        lines = tuple(line for line in (done.stdout + done.stderr).splitlines() if line.strip())
        return PingResult(done.returncode == 0, lines)

    def console_pin_hash(self) -> str | None:
        value = self.settings.get(CONSOLE_PIN_KEY)
        return value if isinstance(value, str) and value else None

    def set_console_pin_hash(self, encoded: str | None) -> None:
        """Store a new PIN hash, or None: no PIN (the locked prompt opens on ENTER)."""
        self.settings.set(CONSOLE_PIN_KEY, encoded)

    def _seconds(self, setting: SecondsSetting) -> float:
        try:
            return setting.read(self.settings.get(setting.key))
        except Exception as err:  # noqa: BLE001 - a timer must never keep the console from running
            log.warning("reading %s failed (%s); using %g s", setting.key, err, setting.default)
            return setting.default

    def idle_seconds(self) -> float:
        """Setting console.idle_seconds (30-3600 s, default 300)."""
        return self._seconds(timers.IDLE)

    def confirm_seconds(self) -> float:
        """Setting network.confirm_seconds, shared with the web admin's network page (1-3600 s, default 120)."""
        return self._seconds(timers.CONFIRM)

    def set_timers(self, idle_seconds: float, confirm_seconds: float) -> None:
        """Store both timers (checked against their bounds first: ValueError names the wrong one)."""
        self.settings.set(timers.IDLE.key, timers.IDLE.check(idle_seconds))
        self.settings.set(timers.CONFIRM.key, timers.CONFIRM.check(confirm_seconds))

    def set_admin_password_hash(self, encoded: str) -> None:
        self.settings.set(ADMIN_PASSWORD_KEY, encoded)

    def _scripts(self) -> list[str]:
        return [path for pattern in self.config.service_scripts for path in sorted(glob.glob(pattern))]

    def _run(self, argv: Sequence[str]) -> tuple[bool, str]:
        try:
            done = subprocess.run(
                list(argv),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=self.config.command_timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return False, f"no result within {self.config.command_timeout:g} s"
        except OSError as err:
            return False, err.strerror or str(err)
        if done.returncode == 0:
            return True, "ok"
        last = (done.stderr or done.stdout).strip().splitlines()[-1:]
        return False, last[0] if last else f"exit status {done.returncode}"

    def restart_services(self) -> list[str]:
        scripts = self._scripts()
        if not scripts:
            raise ConsoleError("no service scripts found (" + ", ".join(self.config.service_scripts) + ")")
        lines = []
        for script in scripts:
            ok, detail = self._run([script, "restart"])
            lines.append(f"{Path(script).name} restart: {detail}")
            if not ok:
                log.error("%s restart failed: %s", script, detail)
        return lines

    def reboot(self) -> None:
        ok, detail = self._run(self.config.reboot_command)
        if not ok:
            raise ConsoleError(f"reboot failed: {detail}")

    def factory_reset(self) -> None:
        for script in reversed(self._scripts()):  # nothing may write to /data while it is wiped
            ok, detail = self._run([script, "stop"])
            if not ok:
                log.warning("%s stop before factory reset: %s", script, detail)
        reset.factory_reset(self.config.data_dir, self.config.init_command)

    def recent_log(self, count: int) -> list[str]:
        candidates = [*sorted(self.config.data_dir.glob("logs/*.log")), *self.config.log_files]
        existing = [path for path in candidates if path.is_file()]
        if not existing:
            return ["(no log file found)"]
        newest = max(existing, key=lambda path: path.stat().st_mtime)
        with open(newest, "rb") as handle:
            handle.seek(0, 2)
            handle.seek(max(0, handle.tell() - 64 * 1024))
            tail = handle.read().decode("utf-8", "replace").splitlines()[-count:]
        return [f"== {newest} =="] + tail
