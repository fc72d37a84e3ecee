"""The thin serial transport: read bytes, feed the session, write its output, drive its timer.

Only this module touches the port and the clock. It survives the port going away (a USB serial
adapter unplugged, a pty closed): the error is logged and the port reopened after a pause.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import serial

from appliance.console.session import Session

log = logging.getLogger(__name__)

POLL_INTERVAL = 0.2
REOPEN_DELAY = 2.0


def serve(
    port: serial.SerialBase,
    session: Session,
    *,
    clock: Callable[[], float] = time.monotonic,
    stop: threading.Event | None = None,
    poll_interval: float = POLL_INTERVAL,
) -> None:
    """Run the session on an open port until `stop` is set (or forever)."""
    stop = stop or threading.Event()
    port.write(session.start(clock()))
    while not stop.is_set():
        now = clock()
        due = session.next_timer()
        if due is not None and due <= now:
            output = session.handle_timer(now)
            if output:
                port.write(output)
            continue
        wait = poll_interval if due is None else min(poll_interval, max(0.0, due - now))
        port.timeout = wait
        data = port.read(1)
        if data and port.in_waiting:
            data += port.read(port.in_waiting)
        if data:
            output = session.receive(data, clock())
            if output:
                port.write(output)


def serve_device(
    open_port: Callable[[], serial.SerialBase],
    make_session: Callable[[], Session],
    *,
    clock: Callable[[], float] = time.monotonic,
    stop: threading.Event | None = None,
    poll_interval: float = POLL_INTERVAL,
    reopen_delay: float = REOPEN_DELAY,
) -> None:
    """Open the port, serve a session, and start over (new port, new locked session) on port errors."""
    stop = stop or threading.Event()
    while not stop.is_set():
        try:
            with open_port() as port:
                serve(port, make_session(), clock=clock, stop=stop, poll_interval=poll_interval)
        except (serial.SerialException, OSError) as err:
            log.error("serial console port failed: %s; reopening in %g s", err, reopen_delay)
            stop.wait(reopen_delay)
