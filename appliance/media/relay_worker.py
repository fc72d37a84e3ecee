"""The relay worker process: forwards the RTP of pure two-party relays that pbxd hands over (D-engine-7).

    python -m appliance.media.relay_worker --fd N      (started by appliance.media.offload, never by hand)

pbxd and the worker share one AF_UNIX SOCK_SEQPACKET socketpair (fd N here).  pbxd sends pickled tuples,
with the pair's two RTP sockets attached as SCM_RIGHTS on a "take":

    ("take", [(pid, leg_a, leg_b), ...]) + fds [rtp_a, rtp_b, ...]    relay each a <-> b from now on
    ("release", pid)                                          stop; answer ("released", pid, state_a, state_b)
    ("stop",)                                                 exit (so does EOF)

and the worker answers with

    ("released", pid, state_a, state_b)   final counters and latch state; the worker has closed its fd copies
    ("stats", [(pid, state_a, state_b), ...])   every SNAPSHOT_INTERVAL, in chunks
    ("ev", pid, side, packet)             an RFC 4733 packet received on side 0 (a) or 1 (b), for pbxd's DTMF
    ("rtcp", pid, side, packet)           RTCP that arrived on an RTP port (RFC 5761 demultiplexing)
    ("latch", pid, side, addr)            the leg latched to addr, or re-opened its latch (None)

The per-packet code is `Leg.on_readable`, a transcription of `Endpoint._on_rtp`'s relay path: same latching
(D-engine-6), same inline RFC 3550 statistics, same payload-type/law rewrite.  This module imports nothing
from the rest of the appliance so the worker starts in a few tens of milliseconds and stays small.
"""

from __future__ import annotations

import argparse
import logging
import os
import pickle
import select
import signal
import socket
import struct
import sys
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger("appliance.media.relay_worker")

MAX_DATAGRAM = 2048
MAX_MESSAGE = 1 << 18     # a take of TAKE_BATCH law-swapping pairs is ~50 KB
SNAPSHOT_INTERVAL = 0.5   # stats to pbxd; its housekeeping reads them once a second
LATCH_REOPEN = 2.0        # as Endpoint._housekeeping: a source silent this long lets the next one latch
SEND_TIMEOUT = 0.5        # a message other than stats waits this long for a pbxd that has stopped reading
STATS_CHUNK = 150         # pairs per stats message: stays far below the socket's send buffer
TAKE_BATCH = 50           # most pairs pbxd puts in one "take" (two descriptors each; SCM_MAX_FD is 253)
_U32 = struct.Struct("!I")  # the RTP timestamp (offset 4) and SSRC (offset 8)

# Indexes of the state tuple exchanged with pbxd (offload.py builds and applies it).
STATE_FIELDS = ("latched", "remote", "packets_in", "bytes_in", "packets_out", "bytes_out", "dropped", "base_seq",
                "max_seq", "cycles", "transit", "jitter_ts", "remote_ssrc")


class Leg:
    """One relayed RTP socket: the receive side of one endpoint and the send side towards its phone."""

    __slots__ = ("base_seq", "bytes_in", "bytes_out", "cycles", "dropped", "jitter_ts", "latched", "map",
                 "max_seq", "packets_in", "packets_out", "peer", "pid", "rate", "recvfrom", "relay_dtmf",
                 "remote", "remote_ssrc", "report", "rx_count", "rx_since", "sendto", "side", "sock", "te_pt",
                 "transit", "time")

    def __init__(self, pid: int, side: int, sock: socket.socket, state: tuple[Any, ...], config: dict[str, Any],
                 report: Callable[[tuple[Any, ...]], None]) -> None:
        self.pid, self.side, self.sock = pid, side, sock
        self.recvfrom, self.sendto = sock.recvfrom, sock.sendto
        (self.latched, self.remote, self.packets_in, self.bytes_in, self.packets_out, self.bytes_out,
         self.dropped, self.base_seq, self.max_seq, self.cycles, self.transit, self.jitter_ts,
         self.remote_ssrc) = state
        self.rate: float = config["rate"]
        self.te_pt: int = config["te_pt"]
        self.relay_dtmf: bool = config["relay_dtmf"]
        self.map: dict[int, tuple[int, bytes | None]] | None = config["map"]
        self.rx_count, self.rx_since = self.packets_in, config["rx_since"]
        self.report = report
        self.time = time.monotonic
        self.peer: Leg | None = None

    def state(self) -> tuple[Any, ...]:
        return (self.latched, self.remote, self.packets_in, self.bytes_in, self.packets_out, self.bytes_out,
                self.dropped, self.base_seq, self.max_seq, self.cycles, self.transit, self.jitter_ts,
                self.remote_ssrc)

    def on_readable(self) -> None:
        """One datagram per readiness (D-engine-5), relayed as Endpoint._on_rtp would."""
        try:
            data, addr = self.recvfrom(MAX_DATAGRAM)
        except OSError:  # EAGAIN (another reader got it), or an ICMP error reported on the socket
            return
        if addr != self.latched:
            if self.latched is not None:
                self.dropped += 1
                return
            self.latched = self.remote = addr
            self.report(("latch", self.pid, self.side, addr))
        if len(data) < 12 or data[0] & 0xC0 != 0x80:
            self.dropped += 1
            return
        b1 = data[1]
        if 191 < b1 < 224:  # RFC 5761 §4: RTCP on the RTP port, terminated in pbxd
            self.report(("rtcp", self.pid, self.side, data))
            return
        self.packets_in += 1
        self.bytes_in += len(data)
        # RFC 3550 A.1 and A.8 on raw bytes, exactly as Endpoint._on_rtp.
        seq = (data[2] << 8) | data[3]
        delta = (seq - self.max_seq) & 0xFFFF
        if self.base_seq < 0 or 3000 <= delta <= 65436:
            self._restart_seq(data, seq)
        elif delta < 3000:
            if seq < self.max_seq:
                self.cycles += 65536
            self.max_seq = seq
            transit = self.time() * self.rate - _U32.unpack_from(data, 4)[0]
            d = abs(transit - self.transit)
            self.transit = transit
            if d < self.rate:
                self.jitter_ts += (d - self.jitter_ts) * 0.0625
        pt = b1 & 0x7F
        if pt == self.te_pt:
            self.report(("ev", self.pid, self.side, data))
            if not self.relay_dtmf:
                return
        table = self.map
        if table is not None:
            entry = table.get(pt)
            if entry is None:
                return
            data = _rewrite(data, b1, entry)
        peer = self.peer
        if peer is not None and peer.remote is not None:
            try:
                peer.sendto(data, peer.remote)
            except OSError:
                peer.dropped += 1
            else:
                peer.packets_out += 1
                peer.bytes_out += len(data)

    def _restart_seq(self, data: bytes, seq: int) -> None:
        expected = self.cycles + self.max_seq - self.base_seq + 1 if self.base_seq >= 0 else 0
        lost_before = max(0, expected - (self.packets_in - 1))
        self.remote_ssrc = _U32.unpack_from(data, 8)[0]
        self.base_seq = seq + 1 - (self.packets_in + lost_before)
        self.max_seq = seq
        self.cycles = 0
        self.transit = self.time() * self.rate - _U32.unpack_from(data, 4)[0]

    def housekeeping(self, now: float) -> None:
        """Re-open a latch whose source went silent (NAT rebinding), as pbxd does for its own endpoints."""
        if self.packets_in != self.rx_count:
            self.rx_count, self.rx_since = self.packets_in, now
        elif self.latched is not None and now - self.rx_since >= LATCH_REOPEN:
            self.latched = None
            self.report(("latch", self.pid, self.side, None))


def _payload_offset(data: bytes) -> int:
    offset = 12 + 4 * (data[0] & 0x0F)
    if data[0] & 0x10 and len(data) >= offset + 4:
        offset += 4 + 4 * ((data[offset + 2] << 8) | data[offset + 3])
    return offset


def _rewrite(data: bytes, b1: int, entry: tuple[int, bytes | None]) -> bytearray:
    new_pt, table = entry
    packet = bytearray(data)
    packet[1] = (b1 & 0x80) | new_pt
    if table is not None:
        start = _payload_offset(data)
        end = len(data) - (data[-1] if data[0] & 0x20 else 0)
        packet[start:end] = data[start:end].translate(table)
    return packet


class Worker:
    """The worker's state: its control socket, the pairs it relays, and the epoll loop that drives them."""

    def __init__(self, control: socket.socket) -> None:
        control.setblocking(False)  # send waits (up to SEND_TIMEOUT) only for what must not be lost
        self.control = control
        self.poller = select.epoll()
        self.handlers: dict[int, Callable[[], None]] = {control.fileno(): self.on_control}
        self.poller.register(control.fileno(), select.EPOLLIN)
        self.pairs: dict[int, tuple[Leg, Leg]] = {}
        self.running = True

    def send(self, message: tuple[Any, ...], *, droppable: bool = False) -> None:
        """A message to pbxd; a stats snapshot is dropped rather than wait when pbxd is behind.

        The control socket is non-blocking: a socket with a timeout would wait for room before every send,
        MSG_DONTWAIT or not, and stall the relaying of every pair for up to SEND_TIMEOUT per stats chunk."""
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        deadline = None
        while True:
            try:
                self.control.send(data)
                return
            except BlockingIOError:
                if droppable:
                    return
                # A final state, event or latch must reach pbxd: wait a little for it to read.
                if deadline is None:
                    deadline = time.monotonic() + SEND_TIMEOUT
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not select.select([], [self.control], [], remaining)[1]:
                    log.warning("relay worker: pbxd is not reading; message %s lost", message[0])
                    return
            except OSError as err:  # pbxd is gone: EOF on the next read ends the loop
                log.debug("relay worker: send to pbxd failed: %s", err)
                return

    def on_control(self) -> None:
        try:
            data, fds, _flags, _addr = socket.recv_fds(self.control, MAX_MESSAGE, 2 * TAKE_BATCH)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as err:  # ECONNRESET when pbxd was killed
            log.info("relay worker: control socket closed: %s", err)
            self.running = False
            return
        if not data:  # pbxd closed its end (or died)
            self.running = False
            for fd in fds:
                os.close(fd)
            return
        message = pickle.loads(data)
        kind = message[0]
        if kind == "take":
            pairs = message[1]
            if len(fds) != 2 * len(pairs):
                log.warning("relay worker: %d pairs came with %d descriptors", len(pairs), len(fds))
                for fd in fds:
                    os.close(fd)
                for pid, _, _ in pairs:
                    self.send(("released", pid, None, None))
                return
            for i, (pid, a, b) in enumerate(pairs):
                self.take(pid, a, b, fds[2 * i:2 * i + 2])
        elif kind == "release":
            self.release(message[1])
        elif kind == "stop":
            self.running = False
        else:
            log.warning("relay worker: unknown message %r", kind)
        if kind != "take":
            for fd in fds:
                os.close(fd)

    def take(self, pid: int, a: tuple[Any, ...], b: tuple[Any, ...], fds: list[int]) -> None:
        legs = []
        for side, (spec, fd) in enumerate(zip((a, b), fds)):
            sock = socket.socket(fileno=fd)
            legs.append(Leg(pid, side, sock, spec[0], spec[1], self.send))
        legs[0].peer, legs[1].peer = legs[1], legs[0]
        self.pairs[pid] = (legs[0], legs[1])
        for leg in legs:
            fd = leg.sock.fileno()
            self.handlers[fd] = leg.on_readable
            self.poller.register(fd, select.EPOLLIN)

    def release(self, pid: int) -> None:
        legs = self.pairs.pop(pid, None)
        if legs is None:
            self.send(("released", pid, None, None))
            return
        for leg in legs:
            fd = leg.sock.fileno()
            self.poller.unregister(fd)
            self.handlers.pop(fd, None)
            leg.sock.close()  # our duplicate only: pbxd's descriptor of the same socket stays open
        self.send(("released", pid, legs[0].state(), legs[1].state()))

    def snapshot(self, now: float) -> None:
        items = []
        for pid, (a, b) in self.pairs.items():
            a.housekeeping(now)
            b.housekeeping(now)
            items.append((pid, a.state(), b.state()))
        for i in range(0, len(items), STATS_CHUNK):
            self.send(("stats", items[i:i + STATS_CHUNK]), droppable=True)

    def run(self) -> None:
        poll, handlers, monotonic = self.poller.poll, self.handlers, time.monotonic
        next_snapshot = monotonic() + SNAPSHOT_INTERVAL
        while self.running:
            timeout = next_snapshot - monotonic()
            if timeout > 0:
                for fd, _ in poll(timeout):
                    handler = handlers.get(fd)
                    if handler is not None:
                        handler()
            now = monotonic()
            if now >= next_snapshot:
                self.snapshot(now)
                next_snapshot = max(next_snapshot + SNAPSHOT_INTERVAL, now)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="pbxd's RTP relay worker (internal)")
    parser.add_argument("--fd", type=int, required=True, help="the control socketpair's descriptor")
    args = parser.parse_args(argv)
    # Ctrl-C in pbxd's terminal reaches the whole process group: pbxd decides when the worker ends (EOF).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s relay-worker[%(process)d] %(levelname)s %(message)s")
    Worker(socket.socket(fileno=args.fd)).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
