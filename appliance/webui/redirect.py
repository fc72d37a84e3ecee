"""Plain HTTP: a tiny WSGI application that sends every request to the HTTPS address of the same host.

Run by `appliance web` as its own small process on an already bound socket (`python -m
appliance.webui.redirect --fd N --https-port P`): gunicorn's TLS setting covers all of its listeners,
so the plain port cannot be one of them. The process ends when its parent does.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import re
import socket
import socketserver
import sys
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
_HOSTNAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?")


def _hostname(host_header: str) -> str | None:
    """The host part of a Host header when it is a plain name or address (never anything that could
    smuggle a path, credentials or a header into the Location)."""
    host = host_header.strip()
    if host.startswith("["):  # [IPv6]:port
        end = host.find("]")
        candidate = host[1:end] if end > 0 else ""
        try:
            return f"[{ipaddress.IPv6Address(candidate)}]"
        except ValueError:
            return None
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    return name if _HOSTNAME.fullmatch(name) else None


def redirect_app(https_port: int) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    """WSGI app answering 302 to https://<same host>[:https_port]<same path and query>."""
    suffix = "" if https_port == 443 else f":{https_port}"

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        host = _hostname(environ.get("HTTP_HOST", "")) or _hostname(environ.get("SERVER_NAME", "")) or "localhost"
        path = quote(environ.get("PATH_INFO", "") or "/", safe="/%:@!$&'()*+,;=-._~")
        query = environ.get("QUERY_STRING", "")
        location = f"https://{host}{suffix}{path}" + (f"?{quote(query, safe='=&%+/:;,@')}" if query else "")
        body = f"The web interface is at {location}\n".encode()
        start_response("302 Found", [
            ("Location", location), ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(body))), ("Cache-Control", "no-store"),
        ])
        return [body]

    return app


class _Handler(WSGIRequestHandler):
    timeout = 10  # a client that sends nothing does not hold a thread for long

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        log.debug("redirect %s: " + format, self.client_address[0], *args)


class _ParentGone(Exception):
    """Raised out of the serve loop when the parent process has ended."""


class _Server(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True

    def __init__(self, sock: socket.socket) -> None:
        self.parent_pid = os.getppid()
        super().__init__(sock.getsockname()[:2], _Handler, bind_and_activate=False)
        self.socket.close()
        self.socket = sock
        self.server_address = sock.getsockname()
        self.server_name = socket.getfqdn(self.server_address[0]) if self.server_address[0] else "localhost"
        self.server_port = self.server_address[1]
        self.setup_environ()

    def service_actions(self) -> None:
        if os.getppid() != self.parent_pid:  # `appliance web` is gone: so are we
            raise _ParentGone


def serve(sock: socket.socket, https_port: int) -> None:
    """Serve redirects on `sock` until the parent process ends or SIGTERM."""
    server = _Server(sock)
    server.set_app(redirect_app(https_port))
    try:
        server.serve_forever(poll_interval=0.5)
    except _ParentGone:
        log.info("redirect server: parent exited, stopping")
    finally:
        server.server_close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m appliance.webui.redirect")
    parser.add_argument("--fd", type=int, required=True, help="listening socket inherited from the parent")
    parser.add_argument("--https-port", type=int, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    sock = socket.socket(fileno=args.fd)
    try:
        serve(sock, args.https_port)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
