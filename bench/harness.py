"""Shared pieces of the SIP benchmarks: a pbxd under test, SIPp runs, process CPU/RSS, a pcap writer."""

from __future__ import annotations

import os
import random
import socket
import sqlite3
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = Path(__file__).resolve().parent / "scenarios"
DOMAIN = "bench.test"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A UDP+TCP free port above the RTP ranges the benchmarks give pbxd (20000-32000)."""
    for _ in range(100):
        port = random.randint(33000, 60000)
        try:
            for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                with socket.socket(socket.AF_INET, kind) as s:
                    s.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
    raise RuntimeError("no free port")


@dataclass
class ProcSample:
    cpu_seconds: float
    rss_kib: int
    at: float


def sample(pid: int) -> ProcSample:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK
    rss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    return ProcSample(cpu, rss, time.monotonic())


def children(pid: int) -> list[int]:
    """Direct child processes of `pid` (pbxd's relay workers, D-engine-7)."""
    found: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                found += [int(child) for child in f.read().split()]
    except OSError:
        pass
    return found


def sample_tree(pid: int) -> ProcSample:
    """CPU and RSS of pbxd together with its relay workers: a relayed call's cost is in the worker."""
    total = sample(pid)
    for child in children(pid):
        try:
            part = sample(child)
        except OSError:  # the worker ended between the listing and the read
            continue
        total = ProcSample(total.cpu_seconds + part.cpu_seconds, total.rss_kib + part.rss_kib, total.at)
    return total


def cpu_percent(a: ProcSample, b: ProcSample) -> float:
    return 100.0 * (b.cpu_seconds - a.cpu_seconds) / max(1e-9, b.at - a.at)


class BenchPbx:
    """pbxd in its own process on loopback, with `users` extensions (300000…) sharing one secret pattern."""

    def __init__(self, users: int, rtp_range: tuple[int, int] = (20000, 32000)):
        self.dir = Path(tempfile.mkdtemp(prefix="pbx-bench-"))
        self.data = self.dir / "data"
        self.users = [str(300000 + i) for i in range(users)]
        self.sip_port = free_port()
        self.rtp_range = rtp_range
        self.proc: subprocess.Popen | None = None
        subprocess.run([sys.executable, "-m", "appliance", "init", "--data", str(self.data)], check=True,
                       capture_output=True, cwd=ROOT)
        conn = sqlite3.connect(self.data / "pbx.sqlite3")
        with conn:
            now = time.time()
            conn.executemany(
                "INSERT INTO extensions (number, name, secret, enabled, created_at, updated_at) VALUES (?,?,?,1,?,?)",
                [(u, f"Bench {u}", self.secret(u), now, now) for u in self.users])
            conn.execute("INSERT OR REPLACE INTO settings (key, value, updated_at) VALUES ('digest_algorithms', ?, ?)",
                         ('"MD5"', now))
        conn.close()

    @staticmethod
    def secret(user: str) -> str:
        return f"bench-{user}-pw"

    def add_binding(self, user: str, host: str, port: int) -> None:
        """A stored registration: a SIPp UAS (which cannot register itself) becomes reachable as `user`."""
        conn = sqlite3.connect(self.data / "pbx.sqlite3")
        with conn:
            conn.execute(
                "INSERT INTO registrations (aor, contact, expires_at, call_id, cseq, received, updated_at) "
                "VALUES (?, ?, ?, ?, 1, ?, ?)",
                (user, f"sip:{user}@{host}:{port}", time.time() + 3600, f"bench-{user}", f"udp:{host}:{port}",
                 time.time()))
        conn.close()

    def injection_file(self, users: list[str]) -> Path:
        path = self.dir / f"users-{len(users)}.csv"
        lines = ["SEQUENTIAL"] + [
            f"{u};[authentication username={u} password={self.secret(u)}];{DOMAIN}" for u in users]
        path.write_text("\n".join(lines) + "\n")
        return path

    def start(self) -> BenchPbx:
        log = open(self.dir / "pbxd.log", "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "appliance", "run", "--data", str(self.data), "--bind", "127.0.0.1",
             "--sip-port", str(self.sip_port), "--tls-port", str(free_port()), "--realm", DOMAIN,
             "--rtp-ports", f"{self.rtp_range[0]}-{self.rtp_range[1]}", "--log-level", "WARNING"],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                self.control("ping")
                return self
            except Exception:
                time.sleep(0.2)
        raise RuntimeError(f"pbxd did not start, see {self.dir / 'pbxd.log'}")

    def control(self, cmd: str, **params: object) -> dict:
        from appliance.control import request  # noqa: PLC0415

        return request(self.data / "run" / "control.sock", cmd, timeout=30, **params)

    def sample(self) -> ProcSample:
        """pbxd and its relay workers together."""
        assert self.proc is not None
        return sample_tree(self.proc.pid)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@dataclass
class SippRun:
    returncode: int
    successful: int
    failed: int
    rtts_ms: list[float]
    elapsed: float
    stderr: str


def sipp(args: list[str], workdir: Path, timeout: float) -> SippRun:
    """Run SIPp with stats and response-time traces in `workdir`; returns counts and response times."""
    workdir.mkdir(parents=True, exist_ok=True)
    stats = workdir / "stats.csv"
    started = time.monotonic()
    proc = subprocess.run(["sipp", "-nostdin", "-i", "127.0.0.1", "-trace_stat", "-stf", str(stats), "-fd", "1",
                           "-trace_rtt", "-rtt_freq", "1", "-trace_err", "-error_file", str(workdir / "errors.log"),
                           *args],
                          cwd=workdir, capture_output=True, text=True, timeout=timeout)
    elapsed = time.monotonic() - started
    successful = failed = 0
    if stats.exists():
        lines = stats.read_text().splitlines()
        if len(lines) >= 2:
            head = lines[0].split(";")
            last = lines[-1].split(";")
            row = dict(zip(head, last))
            successful = int(row.get("SuccessfulCall(C)", 0) or 0)
            failed = int(row.get("FailedCall(C)", 0) or 0)
    rtts: list[float] = []
    for path in workdir.glob("*_rtt.csv"):
        for line in path.read_text().splitlines()[1:]:
            parts = line.split(";")
            if len(parts) >= 2:
                try:
                    rtts.append(float(parts[1]))
                except ValueError:
                    pass
        path.unlink()
    return SippRun(proc.returncode, successful, failed, rtts, elapsed, proc.stderr[-2000:])


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def write_ulaw_pcap(path: Path, seconds: float, freq: float = 1000.0) -> Path:
    """A pcap of RTP/PCMU packets (20 ms, a tone) for SIPp's play_pcap_audio.

    µ-law because SIPp's built-in UAS answers PCMU whatever it is offered: both legs then share the
    codec and the box relays without decoding, which is the case this benchmark measures.
    """
    from appliance.media.g711 import ulaw_encode  # noqa: PLC0415

    n = int(seconds * 50)
    t = np.arange(160 * n) / 8000.0
    pcm = (np.sin(2 * np.pi * freq * t) * 8000).astype(np.int16)
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    ssrc = 0x12345678
    for i in range(n):
        rtp = struct.pack("!BBHII", 0x80, 0, i & 0xFFFF, (i * 160) & 0xFFFFFFFF, ssrc) + \
            ulaw_encode(pcm[i * 160:(i + 1) * 160])
        udp = struct.pack("!HHHH", 6000, 6002, 8 + len(rtp), 0) + rtp
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i & 0xFFFF, 0, 64, 17, 0,
                         bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1])) + udp
        frame = b"\x00" * 12 + b"\x08\x00" + ip
        ts = i * 0.020
        out += struct.pack("<IIII", int(ts), int((ts % 1) * 1e6), len(frame), len(frame)) + frame
    path.write_bytes(bytes(out))
    return path
