"""Relay benchmark: N two-party calls relayed by the media engine, 50 packets/s each way, on loopback.

    python -m bench.media_relay                 # default figures + search for the 0.1 % loss capacity
    python -m bench.media_relay --calls 200 --no-search --loops uvloop

The server under test runs in its own process pinned to one core (CPU 0); the load generator runs in this
process pinned to the other core.  It sends every stream from one UDP socket with evenly spread phases and
receives every relayed packet on the same socket, so the generator costs far less per packet than the server
and the server is what saturates.  Each packet carries its stream number, sequence and send time, so loss,
latency and added jitter are measured end to end.

Servers: "engine" (MediaEngine endpoints connected by engine.connect), "bare" (an asyncio DatagramProtocol per
socket that forwards with transport.sendto: the reference), "reader" (loop.add_reader draining each socket with
recvfrom until EAGAIN and forwarding with socket.sendto: what a hand-rolled batching reader gains).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import select
import signal
import socket
import struct
import subprocess
import sys
import time
from dataclasses import dataclass

PERIOD = 0.020
SERVERS = ["bare", "reader1", "reader", "engine", "engine-tp"]
_PAYLOAD = struct.Struct("!IId")  # stream, sequence, send time (monotonic)
_RTP = struct.Struct("!BBHII")


# --------------------------------------------------------------------------------------------- server side

def _raise_fd_limit() -> None:
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class _Forward:
    def __init__(self, gen: tuple[str, int]) -> None:
        self.gen = gen
        self.transports: dict[socket.socket, asyncio.DatagramTransport] = {}


class _ForwardProtocol(asyncio.DatagramProtocol):
    """The reference: forward every datagram through the other socket's transport, nothing else."""

    def __init__(self, forward: _Forward, other: socket.socket) -> None:
        self.forward, self.other, self.send = forward, other, None

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        send = self.send
        if send is None:
            send = self.send = self.forward.transports[self.other].sendto
        send(data, self.forward.gen)


async def _serve(kind: str, calls: int, gen: tuple[str, int], base: int, rewrite: bool) -> None:
    loop = asyncio.get_running_loop()
    pairs: list[tuple[int, int]] = []
    keep: list[object] = []
    if kind.startswith("engine"):
        from appliance.media.engine import MediaEngine
        engine = MediaEngine("127.0.0.1", base, base + 4 * calls + 200,
                             io="transport" if kind == "engine-tp" else "reader")
        await engine.start()
        keep.append(engine)
        for _ in range(calls):
            a, b = await engine.create_endpoint(), await engine.create_endpoint()
            for ep in (a, b):
                ep.set_remote(*gen)
                ep.timeout = 0
            a.set_codec("PCMU", 0, 101)
            b.set_codec("PCMU", 0, 96 if rewrite else 101)
            engine.connect(a, b)
            pairs.append((a.local_port, b.local_port))
    else:
        port = base
        for _ in range(calls):
            socks = []
            while len(socks) < 2:
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                try:
                    sock.bind(("127.0.0.1", port))
                except OSError:
                    sock.close()
                    port += 2
                    continue
                sock.setblocking(False)
                socks.append(sock)
                port += 2
            a, b = socks
            pairs.append((a.getsockname()[1], b.getsockname()[1]))
            if kind == "bare":
                forward = _Forward(gen)
                for me, other in ((a, b), (b, a)):
                    transport, _ = await loop.create_datagram_endpoint(
                        lambda me=me, other=other: _ForwardProtocol(forward, other), sock=me)
                    forward.transports[me] = transport
                transports = forward
                keep.append(transports)
            elif kind == "reader1":
                def one(me: socket.socket, other: socket.socket) -> None:
                    try:
                        data, _ = me.recvfrom(2048)
                        other.sendto(data, gen)
                    except BlockingIOError:
                        pass
                loop.add_reader(a.fileno(), one, a, b)
                loop.add_reader(b.fileno(), one, b, a)
                keep.append((a, b))
            else:
                def drain(me: socket.socket, other: socket.socket) -> None:
                    recvfrom, sendto = me.recvfrom, other.sendto
                    while True:
                        try:
                            data, _ = recvfrom(2048)
                        except BlockingIOError:
                            return
                        try:
                            sendto(data, gen)
                        except BlockingIOError:
                            pass
                loop.add_reader(a.fileno(), drain, a, b)
                loop.add_reader(b.fileno(), drain, b, a)
                keep.append((a, b))
    print("READY " + json.dumps(pairs), flush=True)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()


def serve_main(args: argparse.Namespace) -> None:
    os.sched_setaffinity(0, {0})
    _raise_fd_limit()
    gen = (args.gen_host, args.gen_port)
    coro = _serve(args.serve, args.calls, gen, args.base_port, args.rewrite)
    if args.loop == "uvloop":
        import uvloop
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(coro)
    else:
        asyncio.run(coro)


# --------------------------------------------------------------------------------------------- load generator

@dataclass
class Result:
    kind: str
    loop: str
    calls: int
    sent: int
    received: int
    seconds: float
    cpu_percent: float
    rss_mb: float
    latency_p50_ms: float
    latency_p99_ms: float
    jitter_ms: float
    gen_late_ms: float
    gen_drops: int

    @property
    def loss(self) -> float:
        return max(0.0, 1 - self.received / self.sent) if self.sent else 0.0

    @property
    def pps(self) -> float:
        """Packets per second handled by the server (each one received and sent once)."""
        return self.received / self.seconds

    @property
    def cpu_us_per_packet(self) -> float:
        return self.cpu_percent / 100 / self.pps * 1e6 if self.pps else 0.0


def _proc_cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _proc_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _udp_drops(port: int) -> int:
    """The kernel's drop counter of the UDP socket bound to 127.0.0.1:port (/proc/net/udp)."""
    wanted = f"0100007F:{port:04X}"
    with open("/proc/net/udp") as f:
        for line in f.readlines()[1:]:
            parts = line.split()
            if parts[1] == wanted:
                return int(parts[-1])
    return 0


def measure(kind: str, loop: str, calls: int, duration: float, rewrite: bool = False) -> Result:
    """Start a server process, drive `calls` calls through it for `duration` s, and measure."""
    os.sched_setaffinity(0, {1} if os.cpu_count() and os.cpu_count() > 1 else {0})
    gen = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        gen.setsockopt(socket.SOL_SOCKET, 33, 16 * 1024 * 1024)  # SO_RCVBUFFORCE (root)
    except OSError:
        gen.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024 * 1024)
    gen.bind(("127.0.0.1", 0))
    gen.setblocking(False)
    gen_port = gen.getsockname()[1]
    base = random.randrange(20000, 40000, 2)
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.media_relay", "--serve", kind, "--loop", loop, "--calls", str(calls),
         "--gen-port", str(gen_port), "--base-port", str(base)] + (["--rewrite"] if rewrite else []),
        stdout=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()  # type: ignore[union-attr]
        if not line.startswith("READY "):
            raise RuntimeError(f"server did not start: {line!r}")
        pairs = json.loads(line[6:])
        return _drive(kind, loop, calls, duration, gen, server.pid, pairs, gen_port)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(5)
        except subprocess.TimeoutExpired:
            server.kill()
        gen.close()


def _drive(kind: str, loop: str, calls: int, duration: float, gen: socket.socket, pid: int,
           pairs: list[list[int]], gen_port: int) -> Result:
    dests = [("127.0.0.1", port) for pair in pairs for port in pair]
    n = len(dests)
    phases = sorted((random.random() * PERIOD, i) for i in range(n))
    ssrcs = [random.getrandbits(32) for _ in range(n)]
    padding = bytes(160 - _PAYLOAD.size)
    sent = [0] * n
    got = [0] * n
    last_transit = [0.0] * n
    jitter = [0.0] * n
    buckets = [0] * 2001  # latency histogram, 0.1 ms buckets up to 200 ms
    late_total = 0.0
    warmup = 1.0
    buf = bytearray(2048)
    recv_into, sendto, clock = gen.recv_into, gen.sendto, time.monotonic
    drops_before = _udp_drops(gen_port)

    start = clock() + 0.1
    end_send = start + warmup + duration
    measuring = False
    cpu0 = wall0 = 0.0
    k = pos = 0
    while True:
        now = clock()
        if not measuring and now >= start + warmup:
            measuring = True
            cpu0, wall0 = _proc_cpu(pid), now
            sent = [0] * n
            got = [0] * n
            buckets = [0] * 2001
            late_total = 0.0
        if now >= end_send:
            break
        phase, i = phases[pos]
        due = start + k * PERIOD + phase
        if now >= due:
            seq = sent[i] + 1
            header = _RTP.pack(0x80, 0, seq & 0xFFFF, (seq * 160) & 0xFFFFFFFF, ssrcs[i])
            try:
                sendto(header + _PAYLOAD.pack(i, seq, now) + padding, dests[i])
                sent[i] = seq
            except BlockingIOError:
                pass
            late_total += now - due
            pos += 1
            if pos == n:
                pos = 0
                k += 1
            if pos % 16:
                continue
        # Drain what came back, then wait for the next send or the next packet.
        while True:
            try:
                size = recv_into(buf)
            except BlockingIOError:
                break
            arrival = clock()
            if size < 12 + _PAYLOAD.size:
                continue
            stream, seq, sent_at = _PAYLOAD.unpack_from(buf, 12)
            transit = arrival - sent_at
            if got[stream]:
                d = abs(transit - last_transit[stream])
                jitter[stream] += (d - jitter[stream]) / 16
            last_transit[stream] = transit
            got[stream] += 1
            buckets[min(2000, int(transit * 10000))] += 1
        wait = start + k * PERIOD + phases[pos][0] - clock()
        if wait > 0.0002:
            select.select([gen], [], [], wait)
    cpu1, wall1 = _proc_cpu(pid), clock()
    rss = _proc_rss_mb(pid)
    # Let the packets in flight arrive, then count.
    deadline = clock() + 0.3
    while clock() < deadline:
        select.select([gen], [], [], 0.05)
        while True:
            try:
                size = recv_into(buf)
            except BlockingIOError:
                break
            stream, seq, sent_at = _PAYLOAD.unpack_from(buf, 12)
            if seq <= sent[stream]:
                got[stream] += 1
                buckets[min(2000, int((clock() - sent_at) * 10000))] += 1
    total_sent, total_got = sum(sent), sum(got)
    # Packets sent during warm-up but received after it were counted: clamp per stream.
    total_got = sum(min(g, s) for g, s in zip(got, sent))
    return Result(kind, loop, calls, total_sent, total_got, wall1 - wall0, (cpu1 - cpu0) / (wall1 - wall0) * 100,
                  rss, _percentile(buckets, 0.5), _percentile(buckets, 0.99),
                  sum(jitter) / n * 1000, late_total / max(1, total_sent) * 1000,
                  _udp_drops(gen_port) - drops_before)


def _percentile(buckets: list[int], q: float) -> float:
    total = sum(buckets)
    if not total:
        return 0.0
    acc = 0
    for i, count in enumerate(buckets):
        acc += count
        if acc >= q * total:
            return i / 10
    return 200.0


# --------------------------------------------------------------------------------------------- handler cost

def handler_cost(iterations: int = 200_000) -> dict[str, float]:
    """Python cost of the receive handler alone (no syscalls): engine relay vs a bare forwarding function."""
    async def main() -> dict[str, float]:
        from appliance.media.engine import MediaEngine
        engine = MediaEngine("127.0.0.1", 40000 + random.randrange(0, 10000, 2), 59999)
        await engine.start()
        a, b = await engine.create_endpoint(), await engine.create_endpoint()
        for ep in (a, b):
            ep.set_remote("127.0.0.1", 9)
        a.set_codec("PCMU", 0, 101)
        b.set_codec("PCMU", 0, 101)
        engine.connect(a, b)
        sink = []
        b._sendto = lambda data, addr: None
        packet = _RTP.pack(0x80, 0, 1, 160, 1234) + bytes(160)
        source = ("127.0.0.1", 9)
        results = {}
        for label, setup in (("engine relay", None), ("engine relay + PT rewrite", 96)):
            if setup is not None:
                b.set_codec("PCMU", 0, setup)
                b._sendto = lambda data, addr: None
            handler = a._on_rtp
            t0 = time.perf_counter()
            for i in range(iterations):
                handler(packet, source)
            results[label] = (time.perf_counter() - t0) / iterations * 1e6
        forward = lambda data, addr: sink.clear()  # noqa: E731
        def bare(data: bytes, addr: tuple[str, int]) -> None:
            forward(data, source)
        t0 = time.perf_counter()
        for i in range(iterations):
            bare(packet, source)
        results["bare forward"] = (time.perf_counter() - t0) / iterations * 1e6
        await engine.close()
        return results
    return asyncio.run(main())


def tick_cost(endpoints: int = 300, ticks: int = 250) -> dict[str, float]:
    """Cost of the clocked paths per endpoint and 20 ms tick (receive handler + jitter buffer + decode + mix +
    encode + send, without syscalls), from which the clocked capacity of one core follows."""
    import numpy as np

    from appliance.media import g711
    from appliance.media.codecs import supported_codecs

    async def scenario(name: str) -> float:
        from appliance.media.engine import MediaEngine
        fake = [1000.0]
        engine = MediaEngine("127.0.0.1", 40000 + random.randrange(0, 8000, 2), 59999, clock=lambda: fake[0])
        await engine.start()
        engine._clock_task.cancel()  # ticks are driven by hand below
        eps = [await engine.create_endpoint() for _ in range(endpoints)]
        for i, ep in enumerate(eps):
            ep.set_remote("127.0.0.1", 9)
            ep.timeout = 0
            g722 = name == "transcode PCMU<->G722" and i % 2 == 1
            ep.set_codec("G722" if g722 else "PCMU", 9 if g722 else 0, 101)
            ep._sendto = lambda data, addr: None
        if name == "conference of 3":
            for i in range(0, endpoints - 2, 3):
                mixer = engine.create_mixer()
                for ep in eps[i:i + 3]:
                    mixer.add(ep)
        elif name == "tone player":
            for ep in eps:
                ep.play(engine.tones.ringback)
        else:
            for a, b in zip(eps[::2], eps[1::2]):
                engine.connect(a, b)
        payload_u = g711.ulaw_encode((np.sin(np.arange(160) / 5) * 8000).astype(np.int16))
        from appliance.media.codecs import new_codec
        payload_g = new_codec("G722").encode(np.zeros(160, dtype=np.int16)) if "G722" in supported_codecs() else b""
        source = ("127.0.0.1", 9)
        elapsed = 0.0
        feed = name != "tone player"
        for t in range(ticks):
            fake[0] += PERIOD
            start = time.perf_counter()
            if feed:
                for i, ep in enumerate(eps):
                    pt = ep.payload_type
                    ep._on_rtp(_RTP.pack(0x80, pt, t, t * 160, 1000 + i) + (payload_g if pt == 9 else payload_u),
                               source)
            engine._tick(fake[0])
            engine.clock.advance()
            elapsed += time.perf_counter() - start
        await engine.close()
        return elapsed / ticks / endpoints * 1e6

    names = ["relay PCMU (no clock work)", "transcode PCMU<->PCMA", "conference of 3", "tone player"]
    if "G722" in supported_codecs():
        names.insert(2, "transcode PCMU<->G722")
    results = {}
    for name in names:
        if name == "transcode PCMU<->PCMA":
            continue  # relayed by table in the receive handler: same cost class as the relay line
        results[name] = asyncio.run(scenario(name))
    return results


# --------------------------------------------------------------------------------------------- report

def _row(r: Result, reference: Result | None) -> str:
    ratio = f"{r.cpu_percent / reference.cpu_percent:5.2f}" if reference and reference.cpu_percent else "  -  "
    return (f"{r.kind:9} {r.loop:8} {r.calls:6d} {r.pps:9.0f} {r.cpu_percent:6.1f} {r.cpu_us_per_packet:7.1f} "
            f"{r.rss_mb:7.1f} {r.loss * 100:7.3f} {r.latency_p50_ms:6.1f} {r.latency_p99_ms:6.1f} "
            f"{r.jitter_ms:6.3f} {ratio}")


HEADER = ("server    loop      calls  pkts/s   CPU%  µs/pkt  RSS MB  loss %  p50ms  p99ms jit ms  vs bare\n"
          + "-" * 102)


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def best_of(repeat: int, kind: str, loop: str, calls: int, duration: float, rewrite: bool = False) -> Result:
    """The run with the lowest CPU cost per packet: other load on the host only ever adds to it."""
    runs = [measure(kind, loop, calls, duration, rewrite) for _ in range(max(1, repeat))]
    return min(runs, key=lambda r: (r.loss > 0.001, r.cpu_us_per_packet))


def find_capacity(loop: str, duration: float, start: int = 100, limit: int = 4000) -> tuple[int, Result | None]:
    """Largest call count (to within ~10 %) with loss < 0.1 % and the server core not saturated."""
    good, good_result, bad = 0, None, None
    calls = start
    while calls <= limit:
        r = measure("engine", loop, calls, duration)
        ok = r.loss < 0.001 and r.cpu_percent < 97
        print(_row(r, None), "ok" if ok else "FAIL", flush=True)
        if ok:
            good, good_result = calls, r
            if bad is None:
                calls = int(calls * 1.5)
                continue
        else:
            bad = calls
        if bad is not None and (bad - good) <= max(10, good // 10):
            break
        calls = (good + bad) // 2 if bad is not None else calls
    return good, good_result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--duration", type=float, default=4.0)
    parser.add_argument("--loops", default="asyncio,uvloop")
    parser.add_argument("--no-search", action="store_true", help="skip the capacity search")
    parser.add_argument("--servers", default="bare,reader1,engine,engine-tp")
    parser.add_argument("--repeat", type=int, default=1, help="runs per configuration; the best one is shown")
    parser.add_argument("--rewrite", action="store_true", help=argparse.SUPPRESS)
    # Server mode (internal).
    parser.add_argument("--serve", choices=SERVERS)
    parser.add_argument("--loop", default="asyncio")
    parser.add_argument("--gen-host", default="127.0.0.1")
    parser.add_argument("--gen-port", type=int)
    parser.add_argument("--base-port", type=int, default=20000)
    args = parser.parse_args()
    if args.serve:
        serve_main(args)
        return

    loops = args.loops.split(",")
    print(f"media relay benchmark: {args.calls} calls × 2 directions × 50 pkt/s, {args.duration:.0f} s per run, "
          f"best of {args.repeat}; server pinned to CPU 0, generator to CPU 1; load average {_load()}\n")
    print(HEADER)
    for loop in loops:
        reference = None
        for kind in args.servers.split(","):
            r = best_of(args.repeat, kind, loop, args.calls, args.duration)
            reference = reference or (r if kind == "bare" else None)
            print(_row(r, reference), flush=True)
        r = best_of(args.repeat, "engine", loop, args.calls, args.duration, rewrite=True)
        r.kind = "eng+pt"
        print(_row(r, reference), flush=True)
    print(f"load average after: {_load()}")
    print("\nhandler cost without syscalls (µs per packet, default loop):")
    for label, cost in handler_cost().items():
        print(f"  {label:28} {cost:6.2f}")
    print(f"\nclocked work, µs per endpoint per 20 ms tick (handler + clock, no syscalls; {PERIOD * 1e6:.0f} µs budget):")
    for label, cost in tick_cost().items():
        print(f"  {label:28} {cost:6.2f}   → ~{PERIOD * 1e6 / cost:5.0f} endpoints per core")
    if args.no_search:
        return
    print("\ncapacity search: relayed calls one core holds with < 0.1 % loss")
    print(HEADER)
    for loop in loops:
        calls, result = find_capacity(loop, args.duration)
        print(f"==> {loop}: {calls} concurrent relayed calls "
              f"({result.pps:.0f} pkt/s, CPU {result.cpu_percent:.0f} %)" if result else f"==> {loop}: none")


if __name__ == "__main__":
    main()
