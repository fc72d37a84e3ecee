"""Serving the web UI: gunicorn over HTTPS with the box certificate, plus the plain-HTTP redirector.

`appliance web` binds both sockets itself (so a busy port is reported before anything starts, and
port 0 yields a real port to print), hands the HTTPS one to gunicorn as `fd://N` and the HTTP one to
the redirect process. Settings for a small two-core ARM box: 2 gthread workers x 4 threads, the app
preloaded in the arbiter (copy-on-write memory), the TLS context cached per worker and rebuilt when
the certificate files change (an uploaded certificate is used without a restart).
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import signal
import socket
import ssl
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

BACKLOG = 128


@dataclass
class Listeners:
    """The bound listening sockets: HTTPS always, plain HTTP (redirecting) when asked for."""

    https: socket.socket
    http: socket.socket | None = None

    @property
    def https_port(self) -> int:
        return int(self.https.getsockname()[1])

    @property
    def http_port(self) -> int | None:
        return int(self.http.getsockname()[1]) if self.http is not None else None

    def close(self) -> None:
        for sock in (self.https, self.http):
            if sock is not None:
                sock.close()


def bind_listener(address: str, port: int) -> socket.socket:
    """A listening TCP socket on address:port (IPv4 or IPv6; port 0 picks a free one)."""
    family = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, port))
        sock.listen(BACKLOG)
    except BaseException:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def open_listeners(address: str, https_port: int, http_port: int | None) -> Listeners:
    """Bind the HTTPS port and, unless `http_port` is None, the redirecting HTTP port."""
    https = bind_listener(address, https_port)
    try:
        http = bind_listener(address, http_port) if http_port is not None else None
    except BaseException:
        https.close()
        raise
    return Listeners(https, http)


def cached_ssl_context(cert: Path, key: Path) -> Callable[[Any, Callable[[], ssl.SSLContext]], ssl.SSLContext]:
    """gunicorn's `ssl_context` hook: one context per worker, rebuilt when the files change.

    gunicorn otherwise builds a context (and parses the key) for every connection.
    """
    cache: dict[str, Any] = {"stamp": None, "context": None}

    def stamp() -> tuple[int, ...]:
        try:
            c, k = cert.stat(), key.stat()
        except OSError:
            return ()
        return (c.st_mtime_ns, c.st_size, c.st_ino, k.st_mtime_ns, k.st_size, k.st_ino)

    def hook(_config: Any, default_factory: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
        current = stamp()
        if cache["context"] is None or current != cache["stamp"]:
            try:
                cache["context"] = default_factory()
                cache["stamp"] = current
            except (OSError, ssl.SSLError) as err:
                if cache["context"] is None:
                    raise
                log.error("cannot load the new TLS certificate (%s); keeping the previous one", err)
        return cache["context"]

    return hook


def gunicorn_options(data_dir: Path, listeners: Listeners, *, workers: int, threads: int,
                     log_level: str, access_log: bool) -> dict[str, Any]:
    """The gunicorn settings used by `run` (separate for tests)."""
    cert, key = data_dir / "tls" / "server.crt", data_dir / "tls" / "server.key"
    return {
        "bind": [f"fd://{listeners.https.fileno()}"],
        "workers": workers,
        "worker_class": "gthread",
        "threads": threads,
        "preload_app": True,
        "certfile": str(cert),
        "keyfile": str(key),
        "ssl_context": cached_ssl_context(cert, key),
        "timeout": 30,
        "graceful_timeout": 10,
        "keepalive": 5,
        "limit_request_line": 8190,
        "limit_request_fields": 100,
        "accesslog": "-" if access_log else None,
        "errorlog": "-",
        "loglevel": log_level.lower(),
        "proc_name": "appliance-web",
        # gunicorn >= 25 opens a management socket under $HOME by default; the box has no use for it.
        "control_socket_disable": True,
    }


def start_redirector(listeners: Listeners) -> subprocess.Popen[bytes] | None:
    """The plain-HTTP redirect process on the already bound socket (None without an HTTP port)."""
    if listeners.http is None:
        return None
    fd = listeners.http.fileno()
    return subprocess.Popen(
        [sys.executable, "-m", "appliance.webui.redirect", "--fd", str(fd),
         "--https-port", str(listeners.https_port)],
        pass_fds=(fd,),
    )


def stop_process(proc: subprocess.Popen[bytes] | None, timeout: float = 5.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def run(data_dir: str | os.PathLike[str], listeners: Listeners, *, workers: int = 2, threads: int = 4,
        log_level: str = "info", access_log: bool = False) -> int:
    """Serve until SIGTERM/SIGINT; returns gunicorn's exit status. The listeners are consumed."""
    from gunicorn.app.base import BaseApplication  # noqa: PLC0415 - only the server needs gunicorn

    from appliance.webui.app import create_app  # noqa: PLC0415

    data = Path(data_dir).absolute()
    options = gunicorn_options(data, listeners, workers=workers, threads=threads, log_level=log_level,
                               access_log=access_log)

    class Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for name, value in options.items():
                if name in self.cfg.settings:  # older gunicorn (the image's) lacks some settings
                    self.cfg.set(name, value)
                else:
                    log.debug("this gunicorn has no setting %r", name)

        def load(self) -> Any:
            return create_app({"DATA_DIR": str(data)})

    redirector = start_redirector(listeners)
    if listeners.http is not None:
        listeners.http.close()  # the redirect process has its own copy
    try:
        Server().run()
    except SystemExit as exit_:
        return int(exit_.code or 0)
    finally:
        stop_process(redirector)
        with contextlib.suppress(OSError):
            listeners.https.close()
    return 0
