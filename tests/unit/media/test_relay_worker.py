"""The relay worker's messages to pbxd (D-engine-7): stats are dropped, never waited for, when pbxd is behind."""

from __future__ import annotations

import pickle
import socket
import time

from appliance.media import relay_worker
from appliance.media.relay_worker import Worker


def _full_pair() -> tuple[socket.socket, socket.socket]:
    ours, pbxd = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    ours.setblocking(False)
    try:
        while True:
            ours.send(b"x" * 1000)
    except BlockingIOError:
        pass
    return ours, pbxd


def test_a_stats_snapshot_to_a_pbxd_that_is_not_reading_is_dropped_at_once() -> None:
    ours, pbxd = _full_pair()
    ours.settimeout(0.5)  # whatever the socket was, the worker must not wait for room on a stats send
    with ours, pbxd:
        worker = Worker(ours)
        started = time.monotonic()
        worker.send(("stats", []), droppable=True)
        assert time.monotonic() - started < 0.05
        worker.poller.close()


def test_a_final_state_waits_for_pbxd_to_read_then_arrives(monkeypatch) -> None:
    monkeypatch.setattr(relay_worker, "SEND_TIMEOUT", 0.05)
    ours, pbxd = _full_pair()
    with ours, pbxd:
        worker = Worker(ours)
        started = time.monotonic()
        worker.send(("released", 1, None, None))  # nobody reads: given up after SEND_TIMEOUT
        assert 0.04 < time.monotonic() - started < 0.5
        pbxd.recv(2048)  # room for one more message
        worker.send(("released", 2, None, None))
        messages = []
        pbxd.setblocking(False)
        try:
            while True:
                messages.append(pbxd.recv(2048))
        except BlockingIOError:
            pass
        assert pickle.loads(messages[-1]) == ("released", 2, None, None)
        worker.poller.close()
