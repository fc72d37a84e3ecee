"""The installer console on the serial UART: `appliance console --device /dev/ttyS0 --data /data`.

Layers (as in zigpy-znp's uart/frames/api split): `terminal` turns raw bytes into clean lines,
`menu` is the sans-I/O state machine, `session` glues them, `transport` owns the port and the clock,
and `services` is everything the menu may do to the box.
"""

from __future__ import annotations

import argparse
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from appliance.console.factory_reset import FactoryResetError, resume_interrupted_reset
from appliance.console.menu import Menu
from appliance.console.pin import PinLimiter
from appliance.console.services import BoxServices, ConsoleConfig, ConsoleServices, StoreSettings
from appliance.console.session import Session
from appliance.console.transport import POLL_INTERVAL, serve_device

log = logging.getLogger(__name__)

__all__ = ["BoxServices", "ConsoleConfig", "ConsoleServices", "Menu", "Session", "build_services", "run_console"]


def build_services(config: ConsoleConfig) -> BoxServices:
    """The real services for a data directory: settings store, netlink, I2C, box commands."""
    from appliance.datadir import DataDir
    from appliance.network import NetContext, NetworkManager

    settings = StoreSettings(config.database_path or DataDir(config.data_dir).database_path)
    return BoxServices(config, settings, NetworkManager(settings, NetContext()))


def run_console(
    args: argparse.Namespace,
    *,
    config: ConsoleConfig | None = None,
    services: ConsoleServices | None = None,
    stop: threading.Event | None = None,
    clock: Callable[[], float] = time.monotonic,
    poll_interval: float = POLL_INTERVAL,
) -> int:
    """Serve the menu on `args.device` at `args.baud` for the data directory `args.data`, until stopped."""
    import serial

    config = config or ConsoleConfig(data_dir=Path(args.data))
    try:
        if resume_interrupted_reset(config.data_dir, config.init_command):
            log.warning("an interrupted factory reset of %s was completed", config.data_dir)
    except FactoryResetError as err:
        log.error("finishing the interrupted factory reset failed: %s", err)
    services = services or build_services(config)
    pins = PinLimiter()  # shared by every session, so reopening the port does not reset a lockout

    def open_port() -> serial.SerialBase:
        return serial.serial_for_url(args.device, baudrate=args.baud, timeout=poll_interval)

    def make_session() -> Session:
        return Session(Menu(services, pin_limiter=pins))

    log.info("installer console on %s at %d baud", args.device, args.baud)
    serve_device(open_port, make_session, clock=clock, stop=stop, poll_interval=poll_interval)
    return 0
