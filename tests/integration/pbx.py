"""The real daemon for integration tests: `appliance run` in its own process, on loopback, free ports."""

from __future__ import annotations

import os
import random
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from appliance.control import request as control_request

ROOT = Path(__file__).resolve().parents[2]


def free_port(kind: int = socket.SOCK_DGRAM, also: tuple[int, ...] = (socket.SOCK_STREAM,)) -> int:
    """A port free for UDP and TCP alike on 127.0.0.1 (SIP uses the same number for both)."""
    for _ in range(200):
        port = random.randint(20000, 39999)  # RTP ranges are drawn above 40000 (see PbxProcess)
        socks = []
        try:
            for k in (kind, *also):
                s = socket.socket(socket.AF_INET, k)
                socks.append(s)
                s.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free port")


class PbxProcess:
    """One pbxd with its own data directory; extensions are added through the real CLI."""

    def __init__(self, data: Path, realm: str = "pbx.test"):
        self.data = data
        self.realm = realm
        self.sip_port = free_port()
        self.tls_port = free_port(socket.SOCK_STREAM, ())
        base = random.randrange(40000, 60000, 2)
        self.rtp_ports = (base, base + 400)
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data.parent / f"{data.name}-pbxd.log"
        init = self.cli("init")
        # `appliance init` makes the web admin password and prints it this once (the UART at first boot)
        shown = re.search(r"web admin\s+user admin, password (\S+)", init.stdout)
        self.admin_password: str | None = shown.group(1) if shown else None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.sip_port}"

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([sys.executable, "-m", "appliance", *args, "--data", str(self.data)],
                                cwd=ROOT, capture_output=True, text=True, timeout=30)
        if check and result.returncode != 0:
            raise AssertionError(f"appliance {' '.join(args)} failed: {result.stderr}{result.stdout}")
        return result

    def add_extension(self, number: str, secret: str | None = None, name: str | None = None) -> str:
        secret = secret or f"pw-{number}-secret"
        self.cli("ext", "add", number, "--name", name or f"User {number}", "--secret", secret)
        return secret

    def start(self, timeout: float = 60.0, extra: tuple[str, ...] = (), netns: str | None = None) -> PbxProcess:
        """Run pbxd (inside network namespace `netns` when given) and wait for its control socket."""
        self.log = open(self.log_path, "ab")
        prefix = ["ip", "netns", "exec", netns] if netns else []
        self.proc = subprocess.Popen(
            [*prefix, sys.executable, "-m", "appliance", "run", "--data", str(self.data), "--bind", "127.0.0.1",
             "--sip-port", str(self.sip_port), "--tls-port", str(self.tls_port),
             "--rtp-ports", f"{self.rtp_ports[0]}-{self.rtp_ports[1]}", "--realm", self.realm,
             "--log-level", "DEBUG", *extra],
            cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"pbxd exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                self.control("ping", timeout=1.0)
                return self
            except Exception:
                time.sleep(0.1)
        raise AssertionError(f"pbxd did not come up:\n{self.log_tail()}")

    def control(self, cmd: str, timeout: float = 5.0, **params: Any) -> dict[str, Any]:
        return control_request(self.data / "run" / "control.sock", cmd, timeout=timeout, **params)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        code = self.proc.returncode
        self.proc = None
        self.log.close()
        return code

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def cdrs(self) -> list[dict[str, Any]]:
        conn = sqlite3.connect(self.data / "pbx.sqlite3")
        conn.row_factory = sqlite3.Row
        try:
            return [dict(r) for r in conn.execute("SELECT * FROM cdr ORDER BY id")]
        finally:
            conn.close()

    def wait_cdrs(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            rows = self.cdrs()
            if len(rows) >= count or time.monotonic() > deadline:
                return rows
            time.sleep(0.1)
