"""RFC 3261 §17 transactions, with RFC 6026's Accepted states, as a sans-I/O layer.

`TransactionLayer` is fed received messages, timer ticks and TU requests with an explicit `now`
and queues `Output` events (messages to send, messages for the TU, timeouts). It owns no socket
and no clock; the asyncio adapter drains `take_outputs()` and arms one timer at `next_timer()`.

Beyond the RFC's transaction state machines this layer also does two things RFC 3261 assigns to
the TU core, because every TU would otherwise repeat them: the UAS retransmits its 2xx to INVITE
until the ACK arrives (§13.3.1.4), and the UAC re-sends its ACK when a 2xx is retransmitted
(§13.2.2.4).
"""

from __future__ import annotations

import heapq
import itertools
import secrets
from dataclasses import dataclass
from enum import Enum
from typing import Any, Callable

from .message import Request, Response, make_response

MAGIC_COOKIE = "z9hG4bK"
RELIABLE_TRANSPORTS = frozenset({"tcp", "tls", "ws", "wss"})


@dataclass(frozen=True)
class Timers:
    """RFC 3261 §17.1.1.1 timer values, in seconds."""

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0


@dataclass(frozen=True)
class Peer:
    """Where a message comes from or goes to. `flow` names a stream connection when there is one."""

    transport: str  # udp, tcp, tls, ws, wss
    host: str
    port: int
    flow: int | None = None

    @property
    def reliable(self) -> bool:
        return self.transport in RELIABLE_TRANSPORTS


def new_branch() -> str:
    return MAGIC_COOKIE + secrets.token_hex(8)


class State(Enum):
    CALLING = "calling"
    TRYING = "trying"
    PROCEEDING = "proceeding"
    ACCEPTED = "accepted"
    COMPLETED = "completed"
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


# --- outputs -------------------------------------------------------------------------------------

@dataclass
class SendMessage:
    """Bytes to put on the wire to `peer` (already the resolved destination of a response).

    `message` is the object that was serialized, or None for a retransmission of a transaction that has
    released its messages (completed non-INVITE transactions keep only the bytes, see `_compact`).
    """

    data: bytes
    peer: Peer
    transaction: Transaction | None = None
    message: Request | Response | None = None

    @property
    def first_line(self) -> str:
        return self.data.split(b"\r\n", 1)[0].decode("utf-8", "replace")


def response_target(response: Response, origin: Peer) -> Peer:
    """Where a response goes (RFC 3261 §18.2.2, RFC 3581 §4): the flow if reliable, else by the top Via."""
    if origin.transport != "udp":
        return origin
    via = response.vias[0]
    host = via.params.get("received") or via.host
    rport = via.params.get("rport")
    if rport:
        return Peer("udp", host, int(rport))
    return Peer("udp", host, via.port or 5060)


def wire(message: Request | Response, peer: Peer, txn: Transaction | None = None) -> SendMessage:
    """Serialize once: retransmissions reuse these bytes."""
    target = response_target(message, peer) if isinstance(message, Response) else peer
    return SendMessage(message.serialize(), target, txn, message)


@dataclass
class RequestReceived:
    """A new request for the TU. `transaction` is None for an ACK to a 2xx and stray ACKs."""

    request: Request
    peer: Peer
    transaction: ServerTransaction | None


@dataclass
class ResponseReceived:
    response: Response
    transaction: ClientTransaction


@dataclass
class TransactionTimeout:
    """Timer B/F fired, or the ACK to a 2xx never came (timer L of the UAS's retransmissions)."""

    transaction: Transaction


@dataclass
class StrayResponse:
    response: Response
    peer: Peer


Output = SendMessage | RequestReceived | ResponseReceived | TransactionTimeout | StrayResponse


class Transaction:
    """Common part of the four state machines. `owner` is free for the TU (e.g. the leg it belongs to)."""

    invite: bool
    key: tuple

    def __init__(self, layer: TransactionLayer, request: Request, peer: Peer):
        self.layer = layer
        self.request: Request = request  # released (None) once a non-INVITE transaction is completed
        self.method = request.method
        self.peer = peer
        self.state = State.TRYING
        self.owner: Any = None
        self._deadlines: dict[str, float] = {}

    def _arm(self, name: str, at: float) -> None:
        self._deadlines[name] = at
        self.layer._schedule(at, self, name)

    def _disarm(self, *names: str) -> None:
        for name in names:
            self._deadlines.pop(name, None)

    def _terminate(self) -> None:
        self.state = State.TERMINATED
        self._deadlines.clear()
        self.layer._forget(self)

    def _fire(self, name: str, at: float, now: float) -> None:
        if self._deadlines.get(name) != at:
            return  # disarmed or re-armed since it was scheduled
        del self._deadlines[name]
        self.on_timer(name, now)

    def on_timer(self, name: str, now: float) -> None:
        raise NotImplementedError

    def _retransmission(self) -> SendMessage:
        wire_ = self._wire  # type: ignore[attr-defined]
        assert wire_ is not None
        return SendMessage(wire_.data, wire_.peer, self)

    def _compact(self) -> None:
        """A completed non-INVITE transaction only absorbs retransmissions: keep the bytes, drop the objects.

        Under load thousands of these linger for timer J/K (32 s on UDP); releasing their parsed messages
        keeps the heap small and Python's full garbage collections short.
        """
        self.request = None  # type: ignore[assignment]
        self.last_response = None  # type: ignore[attr-defined]
        wire_ = getattr(self, "_wire", None)
        if wire_ is not None:
            self._wire = SendMessage(wire_.data, wire_.peer, None)  # type: ignore[attr-defined]


class ClientTransaction(Transaction):
    """§17.1.1 (INVITE) and §17.1.2 (non-INVITE) client transactions."""

    def __init__(self, layer: TransactionLayer, request: Request, peer: Peer):
        super().__init__(layer, request, peer)
        self.invite = request.method == "INVITE"
        self.branch = request.vias[0].branch or ""
        self.key = (self.branch, "INVITE" if self.invite else request.method)
        self.state = State.CALLING if self.invite else State.TRYING
        self.last_response: Response | None = None
        self.ack: SendMessage | None = None  # the TU's ACK to a 2xx, re-sent on 2xx retransmissions
        self._interval = layer.timers.t1
        self._wire: SendMessage | None = None

    def start(self, now: float) -> None:
        t = self.layer.timers
        self._wire = wire(self.request, self.peer, self)
        self.layer._emit(self._wire)
        if not self.peer.reliable:
            self._arm("A" if self.invite else "E", now + t.t1)
        self._arm("B" if self.invite else "F", now + 64 * t.t1)

    def send_ack(self, ack: Request) -> None:
        """Send (and remember, for 2xx retransmissions) the TU's ACK to a 2xx (§13.2.2.4)."""
        self.ack = wire(ack, self.peer, self)
        self.layer._emit(self.ack)

    def receive(self, response: Response, now: float) -> None:
        t = self.layer.timers
        status = response.status
        if self.state in (State.COMPLETED, State.TERMINATED):
            if self.invite and self.state == State.COMPLETED and status >= 300 and self.ack is not None:
                self.layer._emit(self.ack)
            return
        if self.state == State.ACCEPTED:
            if 200 <= status < 300:
                if self.ack is not None:
                    self.layer._emit(self.ack)
                # A 2xx from another fork is new to the TU; a retransmission of a known one is not.
                if response.to.tag != (self.last_response.to.tag if self.last_response else None):
                    self.layer._emit(ResponseReceived(response, self))
            return
        self.last_response = response
        if status < 200:
            if self.state in (State.CALLING, State.TRYING):
                self.state = State.PROCEEDING
                if self.invite:
                    self._disarm("A")
                # Non-INVITE: timer E keeps running and is reset to T2 when it next fires (§17.1.2.2).
            self.layer._emit(ResponseReceived(response, self))
            return
        self._disarm("A", "B", "E", "F")
        self.layer._emit(ResponseReceived(response, self))
        if self.invite:
            if status < 300:
                self.state = State.ACCEPTED
                self._arm("M", now + 64 * t.t1)
            else:
                self.state = State.COMPLETED
                self.ack = wire(self._non2xx_ack(response), self.peer, self)
                self.layer._emit(self.ack)
                self._arm("D", now + (0 if self.peer.reliable else 32.0))
        else:
            self.state = State.COMPLETED
            self._arm("K", now + (0 if self.peer.reliable else t.t4))
            self._compact()

    def _non2xx_ack(self, response: Response) -> Request:
        """The ACK to a non-2xx final response belongs to the transaction (§17.1.1.3)."""
        return self._sibling("ACK", response.headers.get("To") or "")

    def cancel_request(self) -> Request:
        """The CANCEL for this INVITE (§9.1): same Request-URI, Call-ID, From, To, CSeq number, top Via."""
        return self._sibling("CANCEL", self.request.headers.get("To") or "")

    def _sibling(self, method: str, to: str) -> Request:
        """A request that shares the INVITE's identity and top Via (hop-by-hop ACK, CANCEL)."""
        req = self.request
        sibling = Request(method, req.uri_text)
        h = sibling.headers
        h.add("Via", req.headers.get_list("Via")[0])
        for route in req.headers.get_fields("Route"):
            h.add("Route", route)
        h.add("Max-Forwards", "70")
        h.add("From", req.headers.get("From") or "")
        h.add("To", to)
        h.add("Call-ID", req.call_id)
        h.add("CSeq", f"{req.cseq.number} {method}")
        return sibling

    def on_timer(self, name: str, now: float) -> None:
        t = self.layer.timers
        if name in ("A", "E"):
            assert self._wire is not None
            self.layer._emit(self._retransmission())
            if name == "A":
                self._interval *= 2  # timer A doubles without bound until B fires
            elif self.state == State.PROCEEDING:
                self._interval = t.t2
            else:
                self._interval = min(self._interval * 2, t.t2)
            self._arm(name, now + self._interval)
        elif name in ("B", "F"):
            self._terminate()
            self.layer._emit(TransactionTimeout(self))
        elif name in ("D", "K", "M"):
            self._terminate()

    def transport_failed(self) -> None:
        """The transport could not send the request (§17.1.4): the TU sees a 503, as for a timeout."""
        if self.state in (State.CALLING, State.TRYING, State.PROCEEDING):
            self._terminate()
            self.layer._emit(TransactionTimeout(self))


class ServerTransaction(Transaction):
    """§17.2.1 (INVITE) and §17.2.2 (non-INVITE) server transactions."""

    def __init__(self, layer: TransactionLayer, request: Request, peer: Peer, key: tuple):
        super().__init__(layer, request, peer)
        self.invite = request.method == "INVITE"
        self.key = key
        self.state = State.PROCEEDING if self.invite else State.TRYING
        self.last_response: Response | None = None
        self.to_tag = secrets.token_hex(6)  # used by the TU for the responses it creates
        self.acked = False
        self._interval = layer.timers.t1
        self._wire: SendMessage | None = None  # the last response as sent, for retransmissions

    def respond(self, status: int, reason: str | None = None, headers: tuple | list = (),
                body: bytes = b"") -> Response:
        """Build a response to this transaction's request with its To-tag, and send it."""
        response = make_response(self.request, status, reason, to_tag=self.to_tag, headers=headers, body=body)
        self.send(response)
        return response

    def send(self, response: Response, now: float | None = None) -> None:
        """Send a response the TU built; only the first final response is sent."""
        now = self.layer.clock() if now is None else now
        t = self.layer.timers
        if self.state in (State.COMPLETED, State.CONFIRMED, State.TERMINATED, State.ACCEPTED):
            return  # a final response was already sent
        self.last_response = response
        self._wire = wire(response, self.peer, self)
        self.layer._emit(self._wire)
        status = response.status
        if status < 200:
            if not self.invite:
                self.state = State.PROCEEDING
            return
        if self.invite:
            if status < 300:
                self.state = State.ACCEPTED
                self.layer._index_accepted(self)
                # Retransmit the 2xx until the ACK arrives (§13.3.1.4), give up after 64*T1 (§13.3.1.4, timer L).
                if not self.peer.reliable:
                    self._arm("G2xx", now + t.t1)
                self._arm("L", now + 64 * t.t1)
            else:
                self.state = State.COMPLETED
                if not self.peer.reliable:
                    self._arm("G", now + t.t1)
                self._arm("H", now + 64 * t.t1)
        else:
            self.state = State.COMPLETED
            self._arm("J", now + (0 if self.peer.reliable else 64 * t.t1))
            self._compact()

    def receive_retransmission(self, request: Request, now: float) -> None:
        if request.method == "ACK":
            if self.state == State.COMPLETED:
                self.state = State.CONFIRMED
                self._disarm("G", "H")
                self._arm("I", now + (0 if self.peer.reliable else self.layer.timers.t4))
            return
        if self._wire is not None and self.state != State.TERMINATED:
            self.layer._emit(self._retransmission())

    def ack_received(self, now: float) -> None:
        """The ACK to our 2xx arrived: stop retransmitting; linger to absorb INVITE retransmissions."""
        self.acked = True
        self._disarm("G2xx")

    def on_timer(self, name: str, now: float) -> None:
        t = self.layer.timers
        if name in ("G", "G2xx"):
            self.layer._emit(self._retransmission())
            self._interval = min(self._interval * 2, t.t2)
            self._arm(name, now + self._interval)
        elif name == "H":
            self._terminate()
            self.layer._emit(TransactionTimeout(self))
        elif name == "L":
            self._terminate()
            if not self.acked:
                self.layer._emit(TransactionTimeout(self))
        elif name in ("I", "J"):
            self._terminate()


class TransactionLayer:
    """All transactions of one SIP endpoint, their matching (§17.1.3, §17.2.3) and their timers."""

    def __init__(self, clock: Callable[[], float], timers: Timers = Timers()):
        self.timers = timers
        self.clock = clock
        self.wakeup: Callable[[], None] | None = None  # the adapter's "outputs are waiting" hook
        self._client: dict[tuple, ClientTransaction] = {}
        self._server: dict[tuple, ServerTransaction] = {}
        self._accepted: dict[tuple, ServerTransaction] = {}
        self._heap: list[tuple[float, int, Transaction, str]] = []
        self._counter = itertools.count()
        self._outputs: list[Output] = []

    # --- TU interface ------------------------------------------------------------------------
    def send_request(self, request: Request, peer: Peer, now: float | None = None) -> ClientTransaction:
        """Start a client transaction. The top Via must carry a fresh RFC 3261 branch."""
        now = self.clock() if now is None else now
        txn = ClientTransaction(self, request, peer)
        if not txn.branch.startswith(MAGIC_COOKIE):
            raise ValueError("client transactions need an RFC 3261 branch in the top Via")
        self._client[txn.key] = txn
        txn.start(now)
        return txn

    def send_stateless(self, message: Request | Response, peer: Peer) -> None:
        """Send outside any transaction (ACK to 2xx from a TU without the client transaction, stray answers)."""
        self._emit(wire(message, peer))

    def find_invite(self, cancel: Request) -> ServerTransaction | None:
        """The INVITE server transaction a CANCEL refers to (§9.2)."""
        key = self._server_key(cancel, method="INVITE")
        return self._server.get(key) if key else None

    # --- input -----------------------------------------------------------------------------------
    def receive(self, message: Request | Response, peer: Peer, now: float) -> None:
        if isinstance(message, Response):
            self._receive_response(message, peer, now)
        else:
            self._receive_request(message, peer, now)

    def _receive_response(self, response: Response, peer: Peer, now: float) -> None:
        vias = response.vias
        if not vias:
            return
        method = response.cseq.method
        key = (vias[0].branch or "", "INVITE" if method in ("INVITE", "ACK") else method)
        txn = self._client.get(key)
        if txn is None or (method == "ACK"):
            self._emit(StrayResponse(response, peer))
            return
        txn.receive(response, now)

    def _receive_request(self, request: Request, peer: Peer, now: float) -> None:
        key = self._server_key(request) or self._legacy_key(request)
        txn = self._server.get(key)
        if request.method == "ACK":
            if txn is not None and txn.state in (State.COMPLETED, State.CONFIRMED):
                txn.receive_retransmission(request, now)  # ACK to a non-2xx: absorbed
                return
            accepted = self._accepted.get(self._dialog_key(request))
            if accepted is not None:
                accepted.ack_received(now)
            self._emit(RequestReceived(request, peer, None))
            return
        if txn is not None:
            txn.receive_retransmission(request, now)
            return
        txn = ServerTransaction(self, request, peer, key)
        self._server[key] = txn
        if txn.invite:
            # Send 100 Trying at once: our TUs answer INVITEs asynchronously (§17.2.1 allows it).
            txn.last_response = make_response(request, 100)
            txn._wire = wire(txn.last_response, peer, txn)
            self._emit(txn._wire)
        self._emit(RequestReceived(request, peer, txn))

    def handle_timer(self, now: float) -> None:
        heap = self._heap
        while heap and heap[0][0] <= now:
            at, _, txn, name = heapq.heappop(heap)
            txn._fire(name, at, now)

    def next_timer(self) -> float | None:
        heap = self._heap
        while heap:
            at, _, txn, name = heap[0]
            if txn._deadlines.get(name) == at:
                return at
            heapq.heappop(heap)  # stale entry
        return None

    def take_outputs(self) -> list[Output]:
        out, self._outputs = self._outputs, []
        return out

    @property
    def counts(self) -> dict[str, int]:
        return {"client": len(self._client), "server": len(self._server)}

    # --- internals ----------------------------------------------------------------------------------
    def _emit(self, output: Output) -> None:
        self._outputs.append(output)
        if self.wakeup is not None:
            self.wakeup()

    def _schedule(self, at: float, txn: Transaction, name: str) -> None:
        heapq.heappush(self._heap, (at, next(self._counter), txn, name))

    def _forget(self, txn: Transaction) -> None:
        table = self._client if isinstance(txn, ClientTransaction) else self._server
        if table.get(txn.key) is txn:
            del table[txn.key]
        if isinstance(txn, ServerTransaction):
            dkey = self._dialog_key_of_response(txn)
            if dkey is not None and self._accepted.get(dkey) is txn:
                del self._accepted[dkey]

    def _index_accepted(self, txn: ServerTransaction) -> None:
        dkey = self._dialog_key_of_response(txn)
        if dkey is not None:
            self._accepted[dkey] = txn

    @staticmethod
    def _dialog_key(request: Request) -> tuple:
        return (request.call_id, request.cseq.number, request.from_.tag, request.to.tag)

    @staticmethod
    def _dialog_key_of_response(txn: ServerTransaction) -> tuple | None:
        resp = txn.last_response
        if resp is None or not 200 <= resp.status < 300:
            return None
        return (txn.request.call_id, txn.request.cseq.number, txn.request.from_.tag, resp.to.tag)

    @staticmethod
    def _server_key(request: Request, method: str | None = None) -> tuple | None:
        """§17.2.3: branch + sent-by + method (ACK and CANCEL map to their own method unless overridden)."""
        via = request.vias[0]
        branch = via.branch or ""
        if not branch.startswith(MAGIC_COOKIE):
            return None
        m = method or request.method
        if m == "ACK":
            m = "INVITE"
        return (branch, via.host.lower(), via.port, m)

    @staticmethod
    def _legacy_key(request: Request) -> tuple:
        """RFC 2543 matching for requests without the magic cookie (§17.2.3, second half)."""
        via = request.vias[0]
        m = "INVITE" if request.method == "ACK" else request.method
        return ("2543", request.uri_text, request.from_.tag, request.call_id, request.cseq.number,
                via.host.lower(), via.port, via.branch, m)
