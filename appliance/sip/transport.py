"""asyncio transports for SIP: UDP, TCP and TLS (RFC 3261 §18), with stream flows kept for reuse.

These classes only move bytes. Every received message goes to `sink(data, peer)`; sending takes a
`Peer`. A stream connection is a *flow* with a number: a phone registered over TCP is reached again
through the very connection it opened (RFC 5626 flow reuse), which is what makes TCP work behind NAT.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import ssl
from collections.abc import Callable
from typing import Any

from .message import SipParseError, StreamFramer
from .transaction import Peer

log = logging.getLogger(__name__)

Sink = Callable[[bytes, Peer], None]
_flow_ids = itertools.count(1)


class UdpTransport(asyncio.DatagramProtocol):
    """One UDP socket serving requests and responses alike."""

    name = "udp"

    def __init__(self, sink: Sink):
        self._sink = sink
        self._transport: asyncio.DatagramTransport | None = None
        self.local: tuple[str, int] = ("", 0)

    async def start(self, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: self, local_addr=(host, port), reuse_port=False)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        sockname = transport.get_extra_info("sockname")
        self.local = (sockname[0], sockname[1])

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        if len(data) <= 4 and not data.strip(b"\r\n\x00 "):
            return  # CRLF / NUL keep-alives from phones behind NAT
        try:
            self._sink(data, Peer("udp", addr[0], addr[1]))
        except Exception:  # the reader must survive whatever the upper layer does
            log.exception("error handling a datagram from %s:%s", addr[0], addr[1])

    def error_received(self, exc: Exception) -> None:
        log.debug("UDP error: %s", exc)  # ICMP unreachable from a phone that went away: not our problem

    def send(self, data: bytes, peer: Peer) -> None:
        if self._transport is None:
            raise ConnectionError("UDP transport not started")
        self._transport.sendto(data, (peer.host, peer.port))

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


class _StreamConnection(asyncio.Protocol):
    """One TCP/TLS connection: frames messages and remembers itself as a flow."""

    def __init__(self, owner: StreamTransport):
        self._owner = owner
        self._framer = StreamFramer()
        self._transport: asyncio.Transport | None = None
        self.flow = next(_flow_ids)
        self.peer: Peer | None = None
        self.last_activity = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        host, port = transport.get_extra_info("peername")[:2]
        self.peer = Peer(self._owner.name, host, port, self.flow)
        self.last_activity = asyncio.get_running_loop().time()
        self._owner._register(self)

    def data_received(self, data: bytes) -> None:
        assert self.peer is not None and self._transport is not None
        self.last_activity = asyncio.get_running_loop().time()
        try:
            messages = self._framer.feed(data)
        except SipParseError as err:
            # Framing is lost for good on a stream: say so and close (RFC 3261 §18.3).
            log.info("closing %s flow from %s:%s: %s", self._owner.name, self.peer.host, self.peer.port, err)
            self._transport.close()
            return
        for message in messages:
            if message == b"\r\n\r\n":
                self._transport.write(b"\r\n")  # RFC 5626 §3.5.1 pong
                continue
            try:
                self._owner._sink(message, self.peer)
            except Exception:
                log.exception("error handling a message from %s:%s", self.peer.host, self.peer.port)

    def connection_lost(self, exc: Exception | None) -> None:
        self._owner._unregister(self)

    def send(self, data: bytes) -> None:
        if self._transport is None or self._transport.is_closing():
            raise ConnectionError("flow closed")
        self._transport.write(data)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


class FlowListener:
    """What the stream listeners (TCP/TLS here, WS/WSS in transport_ws) share: a server and its numbered flows.

    Subclasses make one connection object per accepted socket (`_new_connection`); a connection has `flow`,
    `last_activity` and `close()`, and calls `_register`/`_unregister` as it opens and closes.
    """

    def __init__(self, name: str, sink: Sink, ssl_server: ssl.SSLContext | None = None):
        self.name = name
        self._sink = sink
        self._ssl_server = ssl_server
        self._server: asyncio.base_events.Server | None = None
        self._flows: dict[int, Any] = {}
        self.local: tuple[str, int] = ("", 0)

    def _new_connection(self) -> asyncio.Protocol:
        raise NotImplementedError

    async def start(self, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._new_connection, host, port, ssl=self._ssl_server,
                                                reuse_address=True)
        sockname = self._server.sockets[0].getsockname()
        self.local = (sockname[0], sockname[1])

    def _register(self, conn: Any) -> None:
        self._flows[conn.flow] = conn

    def _unregister(self, conn: Any) -> None:
        self._flows.pop(conn.flow, None)

    def has_flow(self, flow: int | None) -> bool:
        return flow is not None and flow in self._flows

    def close_idle(self, now: float, idle: float, keep: Callable[[int], bool]) -> None:
        """Close flows silent for `idle` seconds that nobody (a registration) still needs."""
        for conn in list(self._flows.values()):
            if now - conn.last_activity > idle and not keep(conn.flow):
                conn.close()

    @property
    def flow_count(self) -> int:
        return len(self._flows)

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for conn in list(self._flows.values()):
            conn.close()


class StreamTransport(FlowListener):
    """A TCP or TLS listener plus the outgoing connections it makes; flows by number and by address."""

    def __init__(self, name: str, sink: Sink, ssl_server: ssl.SSLContext | None = None,
                 ssl_client: ssl.SSLContext | None = None):
        if name not in ("tcp", "tls"):
            raise ValueError(f"unknown stream transport {name!r}")
        super().__init__(name, sink, ssl_server)
        self._ssl_client = ssl_client
        self._by_address: dict[tuple[str, int], _StreamConnection] = {}

    def _new_connection(self) -> _StreamConnection:
        return _StreamConnection(self)

    def _register(self, conn: _StreamConnection) -> None:
        assert conn.peer is not None
        super()._register(conn)
        self._by_address[(conn.peer.host, conn.peer.port)] = conn

    def _unregister(self, conn: _StreamConnection) -> None:
        super()._unregister(conn)
        if conn.peer is not None and self._by_address.get((conn.peer.host, conn.peer.port)) is conn:
            del self._by_address[(conn.peer.host, conn.peer.port)]

    def find(self, peer: Peer) -> _StreamConnection | None:
        """The flow a message to `peer` should use: its own if alive, else any to the same address."""
        conn = self._flows.get(peer.flow) if peer.flow is not None else None
        return conn or self._by_address.get((peer.host, peer.port))

    def send_now(self, data: bytes, peer: Peer) -> bool:
        """Send over an existing flow; False when none is open (the caller may connect)."""
        conn = self.find(peer)
        if conn is None:
            return False
        conn.send(data)
        return True

    async def connect_and_send(self, data: bytes, peer: Peer) -> Peer:
        """Open a new connection to peer (RFC 3261 §18.1.1) and send; returns the flow's peer."""
        loop = asyncio.get_running_loop()
        server_hostname = peer.host if self._ssl_client is not None else None
        _, conn = await asyncio.wait_for(
            loop.create_connection(lambda: _StreamConnection(self), peer.host, peer.port,
                                   ssl=self._ssl_client, server_hostname=server_hostname),
            timeout=10.0,
        )
        conn.send(data)
        assert conn.peer is not None
        return conn.peer
