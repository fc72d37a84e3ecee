"""pbxd's side of the relay workers (D-engine-7): handing settled two-party relays to other cores and back.

A pair is handed over when, unchanged for SETTLE seconds, both endpoints relay
from each other and nothing else touches their audio (no tap, player, recorder, DTMF sender, in-band detector,
monitor), both send and receive, neither uses rtcp-mux (WebRTC bridge legs) and the engine reads with
add_reader.  pbxd removes its readers of the two RTP sockets and sends the descriptors (SCM_RIGHTS) with the
relay parameters; RTCP sockets stay with pbxd.  Any change that re-plans the pair's component, a new remote
address, or a close takes the pair back synchronously (`reclaim`): "release", then wait up to
RELEASE_TIMEOUT for the final state, then pbxd's readers are added again.  Each datagram is read by exactly one
reader, so the switch may lose nothing but never duplicates.  See relay_worker.py for the messages.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import pickle
import select
import socket
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

from appliance.media.relay_worker import MAX_MESSAGE, TAKE_BATCH

if TYPE_CHECKING:
    from appliance.media.endpoint import Endpoint
    from appliance.media.engine import MediaEngine

log = logging.getLogger(__name__)

__all__ = ["RELEASE_TIMEOUT", "RelayWorkers", "default_worker_count"]

RELEASE_TIMEOUT = 0.1   # seconds pbxd waits for a worker's final state before it takes a pair back without it
SETTLE = 0.4           # seconds a pair must stay unchanged before it is handed over (call set-up settles)
CHECK_TICKS = 10       # the engine looks for pairs to hand over every 10 ticks (200 ms)
RESTART_DELAY = 1.0     # a dead worker is replaced after this (not in a tight loop if it keeps dying)


def default_worker_count() -> int:
    """One worker per CPU pbxd may run on, minus the one pbxd's own loop uses."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(0, cpus - 1)


class _Worker:
    """One worker process and pbxd's end of its socketpair."""

    def __init__(self, slot: int) -> None:
        self.slot = slot
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock = ours
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "appliance.media.relay_worker", "--fd", str(theirs.fileno())],
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, close_fds=True)
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        ours.setblocking(False)
        self.pairs: dict[int, tuple[Endpoint, Endpoint]] = {}
        self.alive = True

    def send(self, message: tuple[Any, ...], fds: list[int] | None = None) -> bool:
        """Send one message; False when the worker cannot take it now (buffer full, or it is gone)."""
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            if fds:
                socket.send_fds(self.sock, [data], fds)
            else:
                self.sock.send(data)
        except OSError as err:
            log.warning("relay worker %s: cannot send %s: %s", self.proc.pid, message[0], err)
            return False
        return True


def _leg(ep: Endpoint) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The state and the relay parameters of one endpoint, as relay_worker.Leg takes them."""
    state = (ep._latched, ep._remote, ep.packets_in, ep.bytes_in, ep.packets_out, ep.bytes_out, ep.dropped,
             ep._base_seq, ep._max_seq, ep._cycles, ep._transit, ep._jitter_ts, ep._remote_ssrc)
    config = {"rate": ep._rate, "te_pt": ep._te_pt, "relay_dtmf": ep.relay_dtmf, "map": ep._relay_map,
              "rx_since": ep._rx_mark[1]}
    return state, config


def _apply(ep: Endpoint, state: tuple[Any, ...]) -> None:
    (latched, remote, ep.packets_in, ep.bytes_in, ep.packets_out, ep.bytes_out, ep.dropped, ep._base_seq,
     ep._max_seq, ep._cycles, ep._transit, ep._jitter_ts, ep._remote_ssrc) = state
    _set_latch(ep, latched)


def _set_latch(ep: Endpoint, latched: Any) -> None:
    if latched == ep._latched:
        return
    if latched is None:
        ep._latched = None
        return
    ep._latched = None
    ep._latch(latched)  # adopts the address for sending and RTCP exactly as the in-process handler does


class RelayWorkers:
    """The pool of relay workers of one engine."""

    def __init__(self, engine: MediaEngine, count: int) -> None:
        self.engine = engine
        self.count = count
        self.workers: list[_Worker | None] = [None] * count
        self._pids = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = False
        self._candidates: dict[Endpoint, float] = {}  # endpoint -> when it last changed
        self.handed_over = 0   # counters for diagnostics and tests
        self.taken_back = 0
        self.release_timeouts = 0

    # ------------------------------------------------------------------ lifecycle

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        for slot in range(self.count):
            self._spawn(slot)

    def _spawn(self, slot: int) -> None:
        if self._closing or self._loop is None:
            return
        try:
            worker = _Worker(slot)
        except OSError as err:
            log.error("cannot start relay worker %d: %s; relaying in pbxd meanwhile", slot, err)
            self._loop.call_later(RESTART_DELAY, self._spawn, slot)
            return
        self.workers[slot] = worker
        self._loop.add_reader(worker.sock.fileno(), self._readable, worker)
        log.info("relay worker %d started (pid %d)", slot, worker.proc.pid)

    async def close(self) -> None:
        """Take every pair back without asking (the workers are about to exit), then stop the workers."""
        self._closing = True
        log.info("relay workers: %d pairs handed over, %d taken back (%d without the worker's answer)",
                 self.handed_over, self.taken_back, self.release_timeouts)
        procs = []
        for worker in self.workers:
            if worker is None:
                continue
            for pid in list(worker.pairs):
                self._take_back(worker, pid, None)
            if worker.alive:
                worker.send(("stop",))
                self._forget(worker)
            procs.append(worker.proc)
        self.workers = [None] * self.count
        deadline = time.monotonic() + 2.0
        for proc in procs:
            while proc.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            if proc.poll() is None:
                log.warning("relay worker %d did not stop; killing it", proc.pid)
                proc.kill()
                proc.wait()

    def _forget(self, worker: _Worker) -> None:
        worker.alive = False
        if self._loop is not None:
            self._loop.remove_reader(worker.sock.fileno())
        worker.sock.close()

    def _died(self, worker: _Worker) -> None:
        """EOF from a worker: pbxd still holds every descriptor, so its pairs simply come home."""
        if not worker.alive:
            return
        self._forget(worker)
        for pid in list(worker.pairs):
            self._take_back(worker, pid, None)
        code = worker.proc.poll()
        if self._closing:
            return
        log.warning("relay worker %d (pid %d) ended (exit %s); its calls are relayed by pbxd, restarting it",
                    worker.slot, worker.proc.pid, code)
        if code is None:
            worker.proc.kill()
        if self.workers[worker.slot] is worker:
            self.workers[worker.slot] = None
            assert self._loop is not None
            self._loop.call_later(RESTART_DELAY, self._spawn, worker.slot)
        self._loop.call_later(1.0, worker.proc.poll)  # reap

    # ------------------------------------------------------------------ hand over

    def housekeeping(self, now: float) -> None:
        """Every few ticks: hand over the pairs that are eligible and have not changed for SETTLE seconds.

        Only endpoints changed since they were last looked at are candidates: everything that can make a pair
        eligible (connect, codec, direction, player/recorder/DTMF end, remote address) goes through `reclaim`."""
        if self._closing or not self._candidates:
            return
        if not any(w is not None and w.alive for w in self.workers):
            return  # the candidates wait for a (re)started worker
        ready: list[tuple[Endpoint, Endpoint]] = []
        for ep, changed in list(self._candidates.items()):
            if now - changed < SETTLE or ep not in self._candidates:  # (or already handled with its peer)
                continue
            del self._candidates[ep]
            peer = ep._relay
            if ep._offload is not None or peer is None or peer._offload is not None:
                continue
            if peer in self._candidates:
                if now - self._candidates[peer] < SETTLE:
                    continue  # the peer's own turn will come
                del self._candidates[peer]
            if _eligible(ep, peer):
                ready.append((ep, peer))
        if ready:
            self._hand_over(ready)

    def _hand_over(self, pairs: list[tuple[Endpoint, Endpoint]]) -> None:
        """Give pairs to the least-loaded workers, up to TAKE_BATCH pairs (2 descriptors each) per message."""
        live = [w for w in self.workers if w is not None and w.alive]
        for start in range(0, len(pairs), TAKE_BATCH):
            batch = pairs[start:start + TAKE_BATCH]
            worker = min(live, key=lambda w: len(w.pairs))
            items, fds = [], []
            for a, b in batch:
                assert a._sockets is not None and b._sockets is not None
                a._sockets.pause_rtp()
                b._sockets.pause_rtp()
                items.append((next(self._pids), _leg(a), _leg(b)))
                fds += [a._sockets.rtp_fd, b._sockets.rtp_fd]
            if not worker.send(("take", items), fds):
                now = self.engine.now()
                for a, b in batch:
                    a._sockets.resume_rtp()  # type: ignore[union-attr]
                    b._sockets.resume_rtp()  # type: ignore[union-attr]
                    self._candidates[a] = self._candidates[b] = now  # tried again at a later check
                continue
            for (pid, _, _), (a, b) in zip(items, batch):
                worker.pairs[pid] = (a, b)
                a._offload = b._offload = (worker, pid)
            self.handed_over += len(batch)

    # ------------------------------------------------------------------ take back

    def reclaim(self, endpoints: Any) -> None:
        """Take back every pair among `endpoints` before something about them changes (waits for the ack)."""
        now = self.engine.now()
        candidates = self._candidates
        for ep in endpoints:
            if not ep.closed:
                candidates[ep] = now  # a change restarts the wait before the next hand-over
            held = ep._offload
            if held is None:
                continue
            worker, pid = held
            if pid not in worker.pairs:
                continue
            if not worker.alive or not worker.send(("release", pid)):
                self._take_back(worker, pid, None)
                continue
            final = self._wait_released(worker, pid)
            if pid not in worker.pairs:
                continue  # the worker died while we waited: _died took the pair back
            if final is None:
                self.release_timeouts += 1
                log.warning("relay worker %s did not release pair %s within %.0f ms; taking it back anyway",
                            worker.proc.pid, pid, RELEASE_TIMEOUT * 1000)
            self._take_back(worker, pid, final)

    def _wait_released(self, worker: _Worker, pid: int) -> tuple[Any, Any] | None:
        """Read the worker's messages synchronously (they are ordered) until pair `pid`'s final state."""
        deadline = time.monotonic() + RELEASE_TIMEOUT
        while worker.alive:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            ready, _, _ = select.select([worker.sock], [], [], remaining)
            if not ready:
                return None
            message = self._receive(worker)
            if message is None:
                continue
            if message[0] == "released" and message[1] == pid:
                return (message[2], message[3]) if message[2] is not None else None
            self._dispatch(worker, message, deferred=True)
        return None

    def _take_back(self, worker: _Worker, pid: int, final: tuple[Any, Any] | None) -> None:
        pair = worker.pairs.pop(pid, None)
        if pair is None:
            return
        for i, ep in enumerate(pair):
            ep._offload = None
            if not ep.closed:
                self._candidates[ep] = self.engine.now()
            else:
                self._candidates.pop(ep, None)
            if final is not None:
                _apply(ep, final[i])
            if ep._sockets is not None and not ep.closed:
                ep._sockets.resume_rtp()
        self.taken_back += 1

    # ------------------------------------------------------------------ messages from the workers

    def _receive(self, worker: _Worker) -> tuple[Any, ...] | None:
        try:
            data = worker.sock.recv(MAX_MESSAGE)
        except (BlockingIOError, InterruptedError):
            return None
        except OSError as err:
            log.warning("relay worker %s: control socket failed: %s", worker.proc.pid, err)
            data = b""
        if not data:
            self._died(worker)
            return None
        return pickle.loads(data)

    def _readable(self, worker: _Worker) -> None:
        message = self._receive(worker)
        if message is not None:
            self._dispatch(worker, message, deferred=False)

    def _dispatch(self, worker: _Worker, message: tuple[Any, ...], deferred: bool) -> None:
        kind = message[0]
        if kind == "stats":
            pairs = worker.pairs
            for pid, a, b in message[1]:
                pair = pairs.get(pid)
                if pair is not None:
                    _apply(pair[0], a)
                    _apply(pair[1], b)
            return
        pair = worker.pairs.get(message[1])
        if pair is None:
            return  # about a pair taken back meanwhile (a late "released" after a timeout, say)
        ep = pair[message[2]]
        if kind == "ev":
            # During a synchronous release the B2BUA's callback must not run inside the change being made.
            if deferred:
                assert self._loop is not None
                self._loop.call_soon(ep._on_event, message[3])
            else:
                ep._on_event(message[3])
        elif kind == "rtcp":
            ep.rtcp.receive(message[3], ep._time())
        elif kind == "latch":
            _set_latch(ep, message[3])
        else:
            log.warning("relay worker %s: unexpected message %r", worker.proc.pid, kind)


def _eligible(a: Endpoint, b: Endpoint) -> bool:
    """Both legs are a plain relay to each other and nothing else (see the module docstring)."""
    for ep, peer in ((a, b), (b, a)):
        if (ep._relay is not peer or ep._tap or not ep._receiving or ep.player is not None
                or ep.recorder is not None or ep._dtmf_out is not None or ep._detect_inband or ep.rtcp_mux
                or ep.closed or ep._sockets is None or getattr(ep._sockets, "rtp_fd", None) is None):
            return False
    return True
