"""The SIP stack's asyncio adapter: transports + transaction layer + dispatch to the TU.

This is the only place where SIP meets the event loop. It parses what the transports deliver,
applies RFC 3261 §18.2.1 / RFC 3581 Via processing, feeds the sans-I/O transaction layer, drains
its outputs (sending messages, calling the TU) and keeps one timer armed at the layer's next
deadline. Malformed input is answered 400 when it can be, and dropped otherwise; it never stops
the stack.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from .message import (
    Request,
    Response,
    SipParseError,
    make_response,
    parse_message,
    validate_request,
    validate_response,
)
from .transaction import (
    ClientTransaction,
    Peer,
    RequestReceived,
    ResponseReceived,
    SendMessage,
    ServerTransaction,
    StrayResponse,
    Timers,
    TransactionLayer,
    TransactionTimeout,
    new_branch,
)
from .transport import StreamTransport, UdpTransport
from .transport_ws import Admit, WsTransport
from .uri import SipUri, format_host

log = logging.getLogger(__name__)

ResponseCallback = Callable[[Response, ClientTransaction], None]


class RequestHandler(Protocol):
    """The transaction user: the registrar, subscriptions and calls behind one dispatcher."""

    def on_request(self, request: Request, txn: ServerTransaction, peer: Peer) -> None: ...

    def on_ack(self, request: Request, peer: Peer) -> None: ...

    def on_server_timeout(self, txn: ServerTransaction) -> None: ...


@dataclass
class StackConfig:
    host: str = "127.0.0.1"
    udp_port: int | None = 5060
    tcp_port: int | None = 5060
    tls_port: int | None = 5061
    certfile: str | None = None
    keyfile: str | None = None
    advertised_host: str | None = None  # what goes in Via/Contact when bound to 0.0.0.0 behind NAT
    user_agent: str = "Appliance-PBX"
    timers: Timers = field(default_factory=Timers)
    flow_idle_timeout: float = 900.0
    ws_port: int | None = None  # SIP over WebSocket (RFC 7118) for browsers; WSS uses certfile/keyfile
    wss_port: int | None = None
    ws_admit: Admit | None = None  # checks a WebSocket handshake's query (the browser phone's token)


@dataclass
class StackStats:
    received: int = 0
    sent: int = 0
    parse_errors: int = 0
    rejected: int = 0


class SipStack:
    def __init__(self, config: StackConfig, handler: RequestHandler, clock: Callable[[], float] | None = None):
        self.config = config
        self.handler = handler
        self._loop: asyncio.AbstractEventLoop | None = None
        self._clock = clock
        self.layer = TransactionLayer(self._now, config.timers)
        self.layer.wakeup = self._wakeup
        self.udp: UdpTransport | None = None
        self.streams: dict[str, StreamTransport | WsTransport] = {}
        self.stats = StackStats()
        self._flush_pending = False
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._local_ip_cache: dict[str, str] = {}
        self.keep_flow: Callable[[int], bool] = lambda flow: False
        self._housekeeping: asyncio.Task | None = None
        self._unreachable: weakref.WeakSet[ClientTransaction] = weakref.WeakSet()  # failed to send: 503, not 408

    def _now(self) -> float:
        if self._clock is not None:
            return self._clock()
        assert self._loop is not None
        return self._loop.time()

    # --- life cycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        cfg = self.config
        if cfg.udp_port is not None:
            self.udp = UdpTransport(self._on_data)
            await self.udp.start(cfg.host, cfg.udp_port)
        if cfg.tcp_port is not None:
            tcp = StreamTransport("tcp", self._on_data)
            await tcp.start(cfg.host, cfg.tcp_port)
            self.streams["tcp"] = tcp
        if cfg.tls_port is not None and cfg.certfile and cfg.keyfile:
            server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            server_ctx.load_cert_chain(cfg.certfile, cfg.keyfile)
            client_ctx = ssl.create_default_context()
            # Phones present self-signed certificates; we only ever connect back to them on their own flows.
            client_ctx.check_hostname = False
            client_ctx.verify_mode = ssl.CERT_NONE
            tls = StreamTransport("tls", self._on_data, server_ctx, client_ctx)
            await tls.start(cfg.host, cfg.tls_port)
            self.streams["tls"] = tls
        if cfg.ws_port is not None:
            await self._start_ws(WsTransport("ws", self._on_data, admit=cfg.ws_admit), cfg.ws_port)
        if cfg.wss_port is not None and cfg.certfile and cfg.keyfile:
            wss_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            wss_ctx.load_cert_chain(cfg.certfile, cfg.keyfile)
            await self._start_ws(WsTransport("wss", self._on_data, wss_ctx, admit=cfg.ws_admit), cfg.wss_port)
        self._housekeeping = asyncio.create_task(self._close_idle_flows())

    async def _start_ws(self, transport: WsTransport, port: int) -> None:
        """The browser phone's listeners are optional: a port held by another program is an error in the log,
        not a reason for the telephone system to stay down."""
        try:
            await transport.start(self.config.host, port)
        except OSError as err:
            log.error("SIP over %s not available: cannot listen on %s:%s: %s", transport.name.upper(),
                      self.config.host, port, err)
            return
        self.streams[transport.name] = transport

    async def close(self) -> None:
        if self._housekeeping is not None:
            self._housekeeping.cancel()
        if self._timer is not None:
            self._timer.cancel()
        if self.udp is not None:
            self.udp.close()
        for stream in self.streams.values():
            stream.close()

    async def _close_idle_flows(self) -> None:
        while True:
            await asyncio.sleep(60)
            for stream in self.streams.values():
                stream.close_idle(self._now(), self.config.flow_idle_timeout, self.keep_flow)

    def local_address(self, transport: str) -> tuple[str, int]:
        """Our bound address for a transport (port resolved when bound to 0)."""
        if transport == "udp" and self.udp is not None:
            return self.udp.local
        stream = self.streams.get(transport)
        if stream is None:
            raise ValueError(f"transport {transport} is not enabled")
        return stream.local

    def sent_by(self, peer: Peer) -> tuple[str, int]:
        """The host:port to put in Via and Contact for messages to `peer`."""
        host, port = self.local_address("tcp" if peer.transport == "tcp" else peer.transport)
        if self.config.advertised_host:
            host = self.config.advertised_host
        elif host in ("0.0.0.0", "::"):
            host = self._local_ip_towards(peer.host)
        return host, port

    def _local_ip_towards(self, remote: str) -> str:
        cached = self._local_ip_cache.get(remote)
        if cached:
            return cached
        family = socket.AF_INET6 if ":" in remote else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            try:
                s.connect((remote, 9))
                ip = s.getsockname()[0]
            except OSError:
                ip = "127.0.0.1"
        if len(self._local_ip_cache) < 4096:
            self._local_ip_cache[remote] = ip
        return ip

    def contact_uri(self, peer: Peer, user: str | None = None) -> SipUri:
        host, port = self.sent_by(peer)
        params: dict[str, str | None] = {}
        scheme = "sip"
        if peer.transport in ("ws", "wss"):
            params["transport"] = "ws"  # RFC 7118 §5.2: one URI transport value for WS and WSS
        elif peer.transport == "tcp":
            params["transport"] = peer.transport
        elif peer.transport == "tls":
            params["transport"] = "tls"
        return SipUri(scheme, user, None, host, port, params)

    # --- sending ------------------------------------------------------------------------------
    def stamp_via(self, request: Request, peer: Peer) -> None:
        """Push our Via (new branch, rport) and fill Max-Forwards/User-Agent on an outgoing request."""
        host, port = self.sent_by(peer)
        transport = peer.transport.upper()
        request.headers.add_first("Via", f"SIP/2.0/{transport} {format_host(host)}:{port};rport;branch={new_branch()}")
        request._vias = None
        if "Max-Forwards" not in request.headers:
            request.headers.add("Max-Forwards", "70")
        if "User-Agent" not in request.headers:
            request.headers.add("User-Agent", self.config.user_agent)

    def send_request(self, request: Request, peer: Peer, on_response: ResponseCallback,
                     add_via: bool = True) -> ClientTransaction:
        """Start a client transaction; `on_response` gets every response, and a 408/503 on failure.

        `add_via=False` is for CANCEL, which must carry the INVITE's own top Via (RFC 3261 §9.1).
        """
        if add_via:
            self.stamp_via(request, peer)
        txn = self.layer.send_request(request, peer)
        txn.owner = on_response
        self._flush()
        return txn

    def send_stateless(self, message: Request | Response, peer: Peer) -> None:
        self.layer.send_stateless(message, peer)
        self._flush()

    # --- receiving ----------------------------------------------------------------------------
    def _on_data(self, data: bytes, peer: Peer) -> None:
        self.stats.received += 1
        try:
            message = parse_message(data)
            if isinstance(message, Request):
                problem = validate_request(message)
                if problem is not None:
                    self._reject(message, peer, *problem)
                    return
                _process_via(message, peer)
            else:
                problem_text = validate_response(message)
                if problem_text is not None:
                    raise ValueError(problem_text)
        except (SipParseError, ValueError) as err:
            self.stats.parse_errors += 1
            log.info("malformed SIP from %s:%s (%s): %s", peer.host, peer.port, peer.transport, err)
            partial = getattr(err, "request", None)
            if isinstance(err, SipParseError) and err.response_possible and partial is not None:
                self._reject(partial, peer, 400, "Bad Request")
            return
        self.layer.receive(message, peer, self._now())
        self._flush()

    def _reject(self, request: Request, peer: Peer, status: int, reason: str) -> None:
        self.stats.rejected += 1
        log.info("rejecting %s from %s:%s with %d: %s", request.method, peer.host, peer.port, status, reason)
        if request.method == "ACK":
            return
        try:
            _process_via(request, peer)
        except ValueError:
            return
        self.send_stateless(make_response(request, status, reason), peer)

    # --- the drain ----------------------------------------------------------------------------
    def _wakeup(self) -> None:
        if not self._flush_pending and self._loop is not None:
            self._flush_pending = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_pending = False
        layer = self.layer
        while True:
            outputs = layer.take_outputs()
            if not outputs:
                break
            for out in outputs:
                try:
                    self._dispatch(out)
                except Exception:
                    log.exception("error while handling %s", type(out).__name__)
        self._rearm()

    def _dispatch(self, out: object) -> None:
        if isinstance(out, SendMessage):
            self._transmit(out)
        elif isinstance(out, RequestReceived):
            if out.transaction is None:
                self.handler.on_ack(out.request, out.peer)
            else:
                self.handler.on_request(out.request, out.transaction, out.peer)
        elif isinstance(out, ResponseReceived):
            callback = out.transaction.owner
            if callback is not None:
                callback(out.response, out.transaction)
        elif isinstance(out, TransactionTimeout):
            txn = out.transaction
            if isinstance(txn, ClientTransaction):
                # §8.1.3.1: a timeout is a 408; a transport failure (§17.1.4, e.g. a refused connection) a 503.
                status = 503 if txn in self._unreachable else 408
                self._unreachable.discard(txn)
                if txn.owner is not None:
                    txn.owner(make_response(txn.request, status), txn)
            else:
                self.handler.on_server_timeout(txn)  # type: ignore[arg-type]
        elif isinstance(out, StrayResponse):
            log.debug("stray response %s from %s:%s", out.response.status, out.peer.host, out.peer.port)

    def _rearm(self) -> None:
        at = self.layer.next_timer()
        if at == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = at
        if at is not None and self._loop is not None:
            self._timer = self._loop.call_at(at, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        self.layer.handle_timer(self._now())
        self._flush()

    def _transmit(self, out: SendMessage) -> None:
        peer = out.peer
        try:
            self._send_raw(out.data, peer, out.transaction)
        except (ConnectionError, OSError) as err:
            log.info("cannot send to %s:%s over %s: %s", peer.host, peer.port, peer.transport, err)
            self._transport_failed(out.transaction)

    def _send_raw(self, data: bytes, peer: Peer, txn: object = None) -> None:
        self.stats.sent += 1
        if peer.transport == "udp":
            if self.udp is None:
                raise ConnectionError("UDP is not enabled")
            self.udp.send(data, peer)
            return
        stream = self.streams.get(peer.transport)
        if stream is None:
            raise ConnectionError(f"transport {peer.transport} is not enabled")
        if not stream.send_now(data, peer):
            asyncio.ensure_future(self._connect_and_send(stream, data, peer, txn))

    async def _connect_and_send(self, stream: StreamTransport, data: bytes, peer: Peer, txn: object) -> None:
        try:
            await stream.connect_and_send(data, peer)
        except (OSError, asyncio.TimeoutError) as err:
            log.info("cannot connect to %s:%s over %s: %s", peer.host, peer.port, peer.transport, err)
            self._transport_failed(txn)
            self._flush()

    def _transport_failed(self, txn: object) -> None:
        if isinstance(txn, ClientTransaction):
            self._unreachable.add(txn)
            txn.transport_failed()


def _process_via(request: Request, peer: Peer) -> None:
    """RFC 3261 §18.2.1 `received` and RFC 3581 `rport` on the top Via."""
    vias = request.vias
    if not vias:
        raise ValueError("request without Via")
    top = vias[0]
    changed = False
    if "rport" in top.params and top.params["rport"] is None:
        top.params["rport"] = str(peer.port)
        top.params["received"] = peer.host
        changed = True
    elif top.host != peer.host:
        top.params["received"] = peer.host
        changed = True
    if changed:
        request.set_vias(vias)
