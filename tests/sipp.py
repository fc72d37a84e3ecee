"""Run SIPp (Debian's sip-tester 3.6.1) scenarios on loopback with free ports, and collect what it reports.

Every port SIPp would otherwise take by default (SIP 5060, media 6000, control 8888) is picked free so that
tests run in parallel. Scenario files live in ``tests/fixtures/sipp/``; ``write_scenario`` writes one from a
string for a single test. SIPp exit codes: 0 all calls succeeded, 1 some call failed, 97 stopped by command,
99 no call processed, 255 fatal error.
"""

from __future__ import annotations

import csv
import shutil
import socket
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

SCENARIOS = Path(__file__).resolve().parent / "fixtures" / "sipp"
LOOPBACK = "127.0.0.1"
TRANSPORTS = {"udp": "u1", "tcp": "t1", "tls": "l1"}


def sipp_binary() -> str:
    path = shutil.which("sipp")
    if path is None:
        raise FileNotFoundError("sipp not installed (apt-get install sip-tester; scripts/install-system-deps.sh)")
    return path


def free_port(udp: bool = True, tcp: bool = True, span: int = 1) -> int:
    """A port (and the ``span - 1`` after it) free for UDP and/or TCP on 127.0.0.1 at the time of the call."""
    for _ in range(200):
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM if udp else socket.SOCK_STREAM)
        probe.bind((LOOPBACK, 0))
        base = probe.getsockname()[1]
        probe.close()
        if base + span > 65535:
            continue
        held: list[socket.socket] = []
        try:
            for port in range(base, base + span):
                for kind, wanted in ((socket.SOCK_DGRAM, udp), (socket.SOCK_STREAM, tcp)):
                    if wanted:
                        sock = socket.socket(socket.AF_INET, kind)
                        held.append(sock)
                        sock.bind((LOOPBACK, port))
            return base
        except OSError:
            continue
        finally:
            for sock in held:
                sock.close()
    raise RuntimeError("no free port found on 127.0.0.1")


def scenario(name: str) -> Path:
    """Path of a scenario kept in tests/fixtures/sipp/ (``name`` with or without ``.xml``)."""
    path = SCENARIOS / (name if name.endswith(".xml") else f"{name}.xml")
    if not path.exists():
        raise FileNotFoundError(f"no SIPp scenario {path}; have: {sorted(p.name for p in SCENARIOS.glob('*.xml'))}")
    return path


def write_scenario(directory: str | Path, name: str, xml: str) -> Path:
    """Write a scenario from a string after checking it is well-formed XML (SIPp's own errors are cryptic)."""
    text = xml.strip() + "\n"
    try:
        ElementTree.fromstring(text.encode("iso-8859-1"))
    except ElementTree.ParseError as err:
        raise ValueError(f"scenario {name!r} is not well-formed XML: {err}") from err
    path = Path(directory) / (name if name.endswith(".xml") else f"{name}.xml")
    path.write_text(text, encoding="iso-8859-1")
    return path


@dataclass
class SippResult:
    """What one SIPp run left behind: exit code, output, the statistics CSV rows, error and message logs."""

    returncode: int
    stdout: str
    stderr: str
    stats: list[dict[str, str]]
    errors: str
    messages: str
    port: int
    workdir: Path

    def _counter(self, name: str) -> int:
        if not self.stats:
            return 0
        value = self.stats[-1].get(name, "0")
        return int(value) if value.strip().isdigit() else 0

    @property
    def successful_calls(self) -> int:
        return self._counter("SuccessfulCall(C)")

    @property
    def failed_calls(self) -> int:
        return self._counter("FailedCall(C)")

    def report(self, lines: int = 60) -> str:
        def tail(text: str) -> str:
            return "\n".join(text.splitlines()[-lines:]) or "(empty)"

        return (f"sipp exit code {self.returncode}, successful {self.successful_calls}, failed {self.failed_calls}"
                f"\n--- stderr:\n{tail(self.stderr)}\n--- error log:\n{tail(self.errors)}"
                f"\n--- messages:\n{tail(self.messages)}\n(work dir {self.workdir})")

    def check(self, expected_returncode: int = 0) -> SippResult:
        """Raise AssertionError with SIPp's logs unless it exited with ``expected_returncode``."""
        if self.returncode != expected_returncode:
            raise AssertionError(self.report())
        return self


@dataclass
class SippProcess:
    """A SIPp started in the background (a UAS waiting for calls, or a long UAC); ``wait()`` collects it."""

    proc: subprocess.Popen[str]
    port: int
    workdir: Path
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def uri_host(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    def wait(self, timeout: float = 30.0) -> SippResult:
        try:
            stdout, stderr = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            stdout, stderr = self.proc.communicate()
            stderr += f"\n(killed by the test after {timeout:g}s)"
        return SippResult(self.proc.returncode, stdout, stderr, _read_stats(self.files["stats"]),
                          _read(self.files["errors"]), _read(self.files["messages"]), self.port, self.workdir)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


def start_sipp(scenario_file: str | Path, remote: str | None = None, *, transport: str = "udp", calls: int = 1,
               timeout: float = 10.0, service: str | None = None, variables: dict[str, str] | None = None,
               extra_args: Iterable[str] = (), workdir: str | Path | None = None,
               port: int | None = None) -> SippProcess:
    """Start SIPp on 127.0.0.1 with free SIP/media/control ports; ``remote`` "host:port" makes it a UAC."""
    directory = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="sipp-"))
    directory.mkdir(parents=True, exist_ok=True)
    sip_port = port or free_port()
    media_port = free_port(tcp=False, span=4)
    files = {"stats": directory / "stats.csv", "errors": directory / "errors.log",
             "messages": directory / "messages.log"}
    for path in files.values():
        path.unlink(missing_ok=True)
    argv = [sipp_binary(), "-sf", str(scenario_file), "-i", LOOPBACK, "-p", str(sip_port),
            "-t", TRANSPORTS[transport], "-m", str(calls), "-timeout", f"{timeout:g}s", "-timeout_error",
            "-nostdin", "-cp", str(free_port(tcp=False)), "-mi", LOOPBACK, "-mp", str(media_port),
            "-trace_stat", "-stf", str(files["stats"]), "-fd", "1",
            "-trace_err", "-error_file", str(files["errors"]),
            "-trace_msg", "-message_file", str(files["messages"])]
    if service:
        argv += ["-s", service]
    for key, value in (variables or {}).items():
        argv += ["-key", key, value]
    argv += list(extra_args)
    if remote:
        argv.append(remote)
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=directory)
    handle = SippProcess(proc, sip_port, directory, files)
    if not remote:
        _wait_listening(handle, transport)
    return handle


def run_sipp(scenario_file: str | Path, remote: str | None = None, *, timeout: float = 10.0,
             **kwargs: object) -> SippResult:
    """Run SIPp to completion (bounded by its own -timeout plus a margin) and return its result."""
    handle = start_sipp(scenario_file, remote, timeout=timeout, **kwargs)  # type: ignore[arg-type]
    return handle.wait(timeout + 10.0)


def _wait_listening(handle: SippProcess, transport: str, limit: float = 5.0) -> None:
    """A UAS is usable once its SIP socket is bound: watch /proc/net (a probe bind could steal the port)."""
    table = Path("/proc/net/udp" if transport == "udp" else "/proc/net/tcp")
    wanted = f"0100007F:{handle.port:04X}"
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and handle.proc.poll() is None:
        for line in _read(table).splitlines()[1:]:
            fields = line.split()
            if len(fields) > 3 and fields[1] == wanted and (transport == "udp" or fields[3] == "0A"):
                return
        time.sleep(0.02)


def _read(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def _read_stats(path: Path) -> list[dict[str, str]]:
    """SIPp's statistics file: ';'-separated with a header row (and a trailing ';' on every line)."""
    if not path.exists():
        return []
    rows = list(csv.reader(path.read_text(errors="replace").splitlines(), delimiter=";"))
    if not rows:
        return []
    header = [h.strip() for h in rows[0]]
    return [{k: v.strip() for k, v in zip(header, row) if k} for row in rows[1:] if row]
