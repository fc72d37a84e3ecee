"""A console wired to a pseudo-terminal, as an installer's laptop would be wired to the UART.

The console runs `run_console` in a thread on the pty's slave side (pyserial opens it by path, as
it would /dev/ttyS0); the test types on the master side. Box commands are small scripts in a
temporary directory that log their calls; the network manager is a fake (netlink is covered by
tests/integration/test_network_netns.py); the clock is a fake the test moves.
"""

from __future__ import annotations

import argparse
import os
import select
import threading
import time
import tty
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from appliance.console import run_console
from appliance.console.services import BoxServices, ConsoleConfig
from appliance.network import ApplyResult, NetContext, NetworkSettings, default_settings


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class DictSettings(dict):
    """The settings store's get/set over a dict."""

    def set(self, key: str, value: Any) -> None:
        self[key] = value


class FakeNetwork:
    """NetworkManager's surface: records what the console asked for; results are scripted."""

    def __init__(self, settings: NetworkSettings | None = None) -> None:
        self.saved = settings or default_settings()
        self.pending_settings: NetworkSettings | None = None
        self.context = NetContext(grace=5.0)
        self.results: list[ApplyResult] = []
        self.applied: list[NetworkSettings] = []
        self.confirmed = 0
        self.reverted = 0

    def current(self) -> NetworkSettings:
        return self.pending_settings or self.saved

    def apply(self, new: NetworkSettings) -> ApplyResult:
        self.applied.append(new)
        result = self.results.pop(0) if self.results else ApplyResult(ok=True)
        if result.ok:
            self.pending_settings = new
        return result

    def confirm(self) -> None:
        self.confirmed += 1
        if self.pending_settings:
            self.saved, self.pending_settings = self.pending_settings, None

    def revert(self) -> None:
        self.reverted += 1
        self.pending_settings = None


class PtyServices(BoxServices):
    """The real services, with the two netlink readers replaced by fixed answers."""

    def interface_lines(self) -> list[str]:
        return ["WAN eth0: up, 10.0.0.2/24 [52:54:00:12:34:56]", "LAN eth1: no carrier, 192.168.10.1/24"]

    def web_urls(self) -> list[str]:
        return ["https://192.168.10.1/", "https://10.0.0.2/"]


def write_script(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)
    return path


class Terminal:
    """The installer's side of the pty."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.output = bytearray()
        self.mark = 0

    def _pump(self, timeout: float) -> None:
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if ready:
            try:
                self.output += os.read(self.fd, 4096)
            except OSError:
                pass

    def send(self, data: bytes, *, one_at_a_time: bool = False) -> None:
        if one_at_a_time:
            for byte in data:
                os.write(self.fd, bytes([byte]))
                time.sleep(0.002)
        else:
            os.write(self.fd, data)

    def line(self, text: str) -> None:
        self.send(text.encode("latin-1") + b"\r")

    def expect(self, text: str, timeout: float = 10.0) -> str:
        """Wait for `text` after the mark; returns the output up to it and moves the mark past it."""
        needle = text.encode("latin-1")
        deadline = time.monotonic() + timeout
        while True:
            index = self.output.find(needle, self.mark)
            if index >= 0:
                chunk = self.output[self.mark : index + len(needle)].decode("latin-1")
                self.mark = index + len(needle)
                return chunk
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                tail = self.output[self.mark :].decode("latin-1")
                raise AssertionError(f"{text!r} not seen within {timeout} s; output since mark:\n{tail}")
            self._pump(min(remaining, 0.05))

    def quiet(self, seconds: float = 0.3) -> str:
        """Everything that arrives within `seconds` (to check that nothing more happens)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self._pump(0.02)
        chunk = self.output[self.mark :].decode("latin-1")
        self.mark = len(self.output)
        return chunk


@dataclass
class Box:
    tmp: Path
    data_dir: Path
    settings: DictSettings
    network: FakeNetwork
    clock: FakeClock
    config: ConsoleConfig
    calls_log: Path
    slave_path: str = ""
    terminal: Terminal | None = None
    _threads: list[tuple[threading.Thread, threading.Event]] = field(default_factory=list)

    @property
    def term(self) -> Terminal:
        assert self.terminal is not None
        return self.terminal

    def calls(self) -> list[str]:
        return self.calls_log.read_text().splitlines() if self.calls_log.exists() else []

    def services(self) -> PtyServices:
        return PtyServices(
            self.config, self.settings, self.network, health=lambda: ["Board temperature: 41.5 C", "RTC: absent"]
        )  # type: ignore[arg-type]

    def start(self, *, real_services: bool = False) -> None:
        """Start a console on the pty (again, after `stop`, to model a restart)."""
        stop = threading.Event()
        services = None if real_services else self.services()
        args = argparse.Namespace(device=self.slave_path, baud=115200, data=str(self.data_dir))
        thread = threading.Thread(
            target=run_console,
            args=(args,),
            kwargs={
                "config": self.config,
                "services": services,
                "stop": stop,
                "clock": self.clock,
                "poll_interval": 0.02,
            },
            daemon=True,
        )
        thread.start()
        self._threads.append((thread, stop))

    def stop(self) -> None:
        for thread, stop in self._threads:
            stop.set()
            thread.join(timeout=5)
            assert not thread.is_alive(), "console thread did not stop"
        self._threads.clear()

    def unlock(self) -> str:
        self.term.expect("Press ENTER to open the menu.")
        self.term.line("")
        return self.term.expect("Select [0-9, P, T]: ")

    def choose(self, key: str) -> None:
        self.term.line(key)


@pytest.fixture
def box(tmp_path: Path) -> Iterator[Box]:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    calls = tmp_path / "calls.log"
    bin_dir = tmp_path / "bin"
    log_call = f'echo "$(basename "$0") $*" >> {calls}'
    write_script(tmp_path / "init.d" / "S50pbxd", log_call)
    write_script(tmp_path / "init.d" / "S60webui", log_call)
    write_script(bin_dir / "reboot", log_call)
    # `appliance init` stand-in: fails once if asked to (an interrupted reset), else lays down a fresh tree
    init = write_script(
        bin_dir / "appliance-init",
        f"{log_call}\n"
        f'if [ -e {tmp_path}/init-fails ]; then rm {tmp_path}/init-fails; echo "disk full" >&2; exit 1; fi\n'
        'mkdir -p "$2/logs" && echo fresh > "$2/pbx.sqlite3"',
    )
    config = ConsoleConfig(
        data_dir=data_dir,
        service_scripts=(str(tmp_path / "init.d" / "S??pbxd"), str(tmp_path / "init.d" / "S??webui")),
        reboot_command=(str(bin_dir / "reboot"),),
        init_command=(str(init), "--data", "{data}"),
        ping_command=("ping", "-c", "1", "-W", "1"),
        log_files=(tmp_path / "messages",),
        firmware_release_file=tmp_path / "release",
        uptime_file=tmp_path / "uptime",
    )
    (tmp_path / "release").write_text("2025.06-test\n")
    (tmp_path / "uptime").write_text("273906.52 500000.00\n")  # 3 days 04:05:06
    (tmp_path / "messages").write_text("".join(f"Jan  1 00:00:{i:02d} box pbxd: line {i}\n" for i in range(40)))
    master, slave = os.openpty()
    tty.setraw(slave)
    result = Box(tmp_path, data_dir, DictSettings(), FakeNetwork(), FakeClock(), config, calls)
    result.slave_path = os.ttyname(slave)
    result.terminal = Terminal(master)
    try:
        yield result
    finally:
        result.stop()
        os.close(master)
        os.close(slave)


@pytest.fixture
def console(box: Box) -> Box:
    """A running console at its locked prompt."""
    box.start()
    return box
