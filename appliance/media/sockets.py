"""Binding an endpoint's RTP/RTCP sockets to the event loop, in one of two ways measured in bench.media_relay.

- "reader" (default): `loop.add_reader` on each non-blocking socket; the callback does one `recvfrom` and calls
  the endpoint's handler, and sends are plain `socket.sendto` calls.  This skips the transport layer's
  per-datagram bookkeeping (Handle, `_read_ready`, write-buffer checks) on both asyncio and uvloop.  A send that
  would block is dropped: for real-time media a late packet is worth nothing, and queueing it would only delay
  the next ones.
- "transport": the standard `create_datagram_endpoint` protocol/transport pair, for comparison and for loops
  that lack `add_reader` (none that we ship on).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

__all__ = ["IO_MODES", "SocketPair", "open_pair"]

IO_MODES = ("reader", "transport")
MAX_DATAGRAM = 2048


class SocketPair:
    """The RTP and RTCP sockets of one endpoint as the loop sees them: two send functions and a close."""

    rtp_sendto: Callable[[bytes, Any], Any]
    rtcp_sendto: Callable[[bytes, Any], Any]
    rtp_fd: int | None = None  # set when the RTP socket can be lent to a relay worker (reader mode)

    def pause_rtp(self) -> None:
        raise NotImplementedError

    def resume_rtp(self) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError


class _ReaderPair(SocketPair):
    def __init__(self, loop: asyncio.AbstractEventLoop, socks: list[socket.socket],
                 handlers: tuple[Callable[[bytes, Any], None], Callable[[bytes, Any], None]]) -> None:
        self.loop = loop
        self.socks = socks
        self.rtp_sendto = socks[0].sendto
        self.rtcp_sendto = socks[1].sendto
        self.rtp_fd = socks[0].fileno()
        self._rtp_reader = _reader(socks[0].recvfrom, handlers[0])
        loop.add_reader(self.rtp_fd, self._rtp_reader)
        loop.add_reader(socks[1].fileno(), _reader(socks[1].recvfrom, handlers[1]))
        self.paused = False

    def pause_rtp(self) -> None:
        """Stop reading the RTP socket (a relay worker reads it meanwhile, D-engine-7)."""
        if not self.paused:
            self.loop.remove_reader(self.rtp_fd)
            self.paused = True

    def resume_rtp(self) -> None:
        if self.paused:
            self.loop.add_reader(self.rtp_fd, self._rtp_reader)
            self.paused = False

    async def close(self) -> None:
        for sock in self.socks:
            self.loop.remove_reader(sock.fileno())
            sock.close()


def _reader(recvfrom: Callable[[int], tuple[bytes, Any]],
            handler: Callable[[bytes, Any], None]) -> Callable[[], None]:
    """One datagram per readiness callback: with 50 packets/s per socket a second recvfrom would nearly always
    be a wasted EAGAIN system call."""
    def on_readable() -> None:
        try:
            data, addr = recvfrom(MAX_DATAGRAM)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as err:  # e.g. ICMP errors reported on the socket
            log.debug("RTP socket receive error: %s", err)
            return
        handler(data, addr)
    return on_readable


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, handler: Callable[[bytes, Any], None]) -> None:
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        # The transport looks `datagram_received` up on the instance: bind the handler directly.
        self.datagram_received = handler  # type: ignore[method-assign]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)

    def error_received(self, exc: Exception) -> None:
        log.debug("RTP socket error: %s", exc)


class _TransportPair(SocketPair):
    def __init__(self, transports: list[asyncio.DatagramTransport], protocols: list[_Protocol]) -> None:
        self.transports = transports
        self.protocols = protocols
        self.rtp_sendto = transports[0].sendto
        self.rtcp_sendto = transports[1].sendto

    async def close(self) -> None:
        for transport in self.transports:
            transport.close()
        # The loop closes the socket a little later; wait so that the port can be bound again at once.
        await asyncio.wait([p.closed for p in self.protocols], timeout=1.0)


async def open_pair(loop: asyncio.AbstractEventLoop, socks: list[socket.socket], mode: str,
                    rtp_handler: Callable[[bytes, Any], None],
                    rtcp_handler: Callable[[bytes, Any], None]) -> SocketPair:
    """Attach two bound non-blocking sockets to the loop; the handlers get (data, addr) per datagram."""
    if mode == "reader":
        return _ReaderPair(loop, socks, (rtp_handler, rtcp_handler))
    if mode != "transport":
        raise ValueError(f"unknown socket mode {mode!r}; use one of {', '.join(IO_MODES)}")
    transports, protocols = [], []
    try:
        for sock, handler in zip(socks, (rtp_handler, rtcp_handler)):
            transport, protocol = await loop.create_datagram_endpoint(lambda h=handler: _Protocol(h), sock=sock)
            transports.append(transport)
            protocols.append(protocol)
    except BaseException:
        for transport in transports:
            transport.close()
        raise
    return _TransportPair(transports, protocols)  # type: ignore[arg-type]
