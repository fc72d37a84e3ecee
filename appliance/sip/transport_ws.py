"""SIP over WebSocket (RFC 7118): WS and WSS listeners whose connections are flows, like TCP's.

A browser (JsSIP, SIP.js) opens one WebSocket with the "sip" subprotocol and sends every SIP message as
one WebSocket message. Each connection gets a flow number from the same counter as TCP/TLS flows, so the
registrar stores `Peer("wss", host, port, flow)` and every later request to that browser (an INVITE, a
BYE, a NOTIFY) goes back through the very connection it opened: a browser has no address to connect to.

RFC 6455 itself is the `websockets` library's sans-I/O `ServerProtocol`; this module is the asyncio
adapter around it (an `asyncio.Protocol`, so sending is synchronous like the TCP flows' and the stack's
`send_now` contract holds). Browsers get two accommodations, both for JsSIP:

- its Via names a made-up `*.invalid` host: nothing here reads it, responses go back over the flow
  (`transaction.response_target` returns the flow for every reliable transport);
- it keeps only the *last* WWW-/Proxy-Authenticate header of a response and gives up unless that one is
  MD5 (SIP.js, for its part, takes the first), so on WebSocket flows a 401/407 that offers MD5 offers
  MD5 alone (D-webrtc-2).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.frames import Frame, Opcode
from websockets.http11 import Request as HttpRequest
from websockets.protocol import State
from websockets.server import ServerProtocol

from .message import MAX_MESSAGE_SIZE
from .transaction import Peer
from .transport import FlowListener, Sink, _flow_ids

log = logging.getLogger(__name__)
# websockets logs every frame at DEBUG; the SIP stack already logs the messages those frames carry.
logging.getLogger("websockets").setLevel(max(logging.INFO, logging.getLogger("websockets").level))

SUBPROTOCOL = "sip"  # RFC 7118 §4.1
_PING = b"\r\n\r\n"  # SIP.js keep-alive; answered with one CRLF like RFC 5626's
_CHALLENGES = (b"www-authenticate:", b"proxy-authenticate:")

#: Called with the handshake's query parameters; returns what to remember about the flow (for instance the
#: extension a token admitted), or raises PermissionError to refuse the connection with 403.
Admit = Callable[[dict[str, str]], Any]


class _WsConnection(asyncio.Protocol):
    """One WebSocket connection: the opening handshake, then one SIP message per WebSocket message."""

    def __init__(self, owner: WsTransport):
        self._owner = owner
        self._ws = ServerProtocol(subprotocols=[SUBPROTOCOL], max_size=MAX_MESSAGE_SIZE)
        self._transport: asyncio.Transport | None = None
        self._fragments: list[bytes] = []
        self.flow = next(_flow_ids)
        self.peer: Peer | None = None
        self.credential: Any = None  # what `admit` returned at the handshake
        self.last_activity = 0.0

    # --- asyncio.Protocol -------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        host, port = transport.get_extra_info("peername")[:2]
        self.peer = Peer(self._owner.name, host, port, self.flow)
        self.last_activity = asyncio.get_running_loop().time()

    def data_received(self, data: bytes) -> None:
        self.last_activity = asyncio.get_running_loop().time()
        self._ws.receive_data(data)
        self._drain_events()

    def eof_received(self) -> bool:
        self._ws.receive_eof()
        self._drain_events()
        return False  # let asyncio close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self._owner._unregister(self)

    # --- events from the sans-I/O protocol ----------------------------------------------------------
    def _drain_events(self) -> None:
        for event in self._ws.events_received():
            try:
                if isinstance(event, HttpRequest):
                    self._handshake(event)
                elif isinstance(event, Frame):
                    self._frame(event)
            except Exception:  # the reader must survive whatever the upper layer does
                log.exception("error handling WebSocket data from %s:%s", *self._address())
        self._flush()

    def _handshake(self, request: HttpRequest) -> None:
        response = self._ws.accept(request)
        if response.status_code == 101 and response.headers.get("Sec-WebSocket-Protocol") != SUBPROTOCOL:
            # RFC 7118 §4.1: a SIP WebSocket server refuses clients that do not speak the "sip" subprotocol.
            response = self._ws.reject(400, "The WebSocket subprotocol must be \"sip\" (RFC 7118).\n")
        if response.status_code == 101 and self._owner.admit is not None:
            query = {k: v[0] for k, v in parse_qs(urlsplit(request.path).query).items()}
            try:
                self.credential = self._owner.admit(query)
            except PermissionError as err:
                log.info("refusing WebSocket from %s:%s: %s", *self._address(), err)
                response = self._ws.reject(403, f"{err}\n")
        self._ws.send_response(response)
        if response.status_code == 101:
            self._owner._register(self)
            log.debug("%s flow %d open from %s:%s", self._owner.name, self.flow, *self._address())

    def _frame(self, frame: Frame) -> None:
        if frame.opcode in (Opcode.TEXT, Opcode.BINARY):
            self._fragments = [frame.data]
        elif frame.opcode is Opcode.CONT:
            self._fragments.append(frame.data)
        else:
            return  # ping, pong and close are answered by the protocol itself
        if not frame.fin:
            return
        message, self._fragments = b"".join(self._fragments), []
        if not message.strip(b"\r\n"):
            if message == _PING:
                self.send(b"\r\n")
            return
        assert self.peer is not None
        self._owner._sink(message, self.peer)

    # --- sending --------------------------------------------------------------------------------------
    def send(self, data: bytes) -> None:
        """Send one SIP message as one WebSocket message: text when it is UTF-8 (RFC 7118 §5.1), else binary."""
        if self._transport is None or self._transport.is_closing() or self._ws.state is not State.OPEN:
            raise ConnectionError("flow closed")
        if data[:8] == b"SIP/2.0 " and data[8:11] in (b"401", b"407"):
            data = md5_challenges_only(data)
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            self._ws.send_binary(data)
        else:
            self._ws.send_text(data)
        self._flush()

    def _flush(self) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        for chunk in self._ws.data_to_send():
            if chunk:
                transport.write(chunk)
            else:  # the protocol wants the connection half-closed: TLS cannot, so close it
                transport.close()
                return
        if self._ws.close_expected():
            transport.close()

    def close(self) -> None:
        if self._transport is None or self._transport.is_closing():
            return
        if self._ws.state is State.OPEN:
            self._ws.send_close(1001)  # going away
            for chunk in self._ws.data_to_send():
                if chunk:
                    self._transport.write(chunk)
        self._transport.close()

    def _address(self) -> tuple[str, int]:
        return (self.peer.host, self.peer.port) if self.peer else ("?", 0)


class WsTransport(FlowListener):
    """A WS or WSS listener and its flows, with the interface `SipStack` expects of stream transports."""

    def __init__(self, name: str, sink: Sink, ssl_server: ssl.SSLContext | None = None, admit: Admit | None = None):
        if name not in ("ws", "wss"):
            raise ValueError(f"unknown WebSocket transport {name!r}")
        if (name == "wss") != (ssl_server is not None):
            raise ValueError("wss needs a TLS context and ws must not have one")
        super().__init__(name, sink, ssl_server)
        self.admit = admit

    def _new_connection(self) -> _WsConnection:
        return _WsConnection(self)

    def credential(self, flow: int | None) -> Any:
        """What `admit` returned when the flow was opened (None for flows admitted without one)."""
        conn = self._flows.get(flow) if flow is not None else None
        return conn.credential if conn is not None else None

    def send_now(self, data: bytes, peer: Peer) -> bool:
        """Send over the peer's own flow; False when it is gone (a browser cannot be called back)."""
        conn = self._flows.get(peer.flow) if peer.flow is not None else None
        if conn is None:
            return False
        conn.send(data)
        return True

    async def connect_and_send(self, data: bytes, peer: Peer) -> Peer:
        """Browsers accept no connections: a request to a closed flow fails like a refused connection."""
        raise ConnectionRefusedError(f"no open WebSocket flow to {peer.host}:{peer.port}")


def md5_challenges_only(data: bytes) -> bytes:
    """Drop the non-MD5 digest challenges of a 401/407 that offers MD5 too; every other line stays as it was.

    Browser SIP stacks answer MD5 only, and pick the challenge to answer by position (JsSIP: the last
    header, SIP.js: the first), so a browser must see nothing but MD5. Responses without an MD5 challenge
    are left alone (an administrator who switched MD5 off has switched browsers off with it).
    """
    head, sep, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    challenges = [line for line in lines if line[:20].lower().startswith(_CHALLENGES)]
    md5 = [line for line in challenges if _is_md5(line)]
    if not md5 or len(md5) == len(challenges):
        return data
    kept = [line for line in lines if line not in challenges or line in md5]
    return b"\r\n".join(kept) + sep + body


def _is_md5(line: bytes) -> bool:
    compact = line.lower().replace(b" ", b"")
    return b"algorithm=md5," in compact + b"," or b"algorithm=" not in compact  # no algorithm means MD5
