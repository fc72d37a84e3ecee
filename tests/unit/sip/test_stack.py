"""The SIP stack's asyncio adapter: parsing and Via processing on arrival, dispatch to the TU, timers, close.

A real SipStack listens on 127.0.0.1 (UDP and TCP, kernel-chosen ports); the phones are plain sockets written
here, and what they receive is read with the test client's own parser (tests/sip_client.py), not the stack's.
Timer tests use short RFC 3261 timers (T1 = 5 ms: timer F, 64*T1, fires after 0.32 s).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from appliance.datadir import DataDir
from appliance.sip.message import Request, Response, parse_message
from appliance.sip.stack import SipStack, StackConfig
from appliance.sip.transaction import ClientTransaction, Peer, ServerTransaction, Timers
from tests.sip_client import SipMessage
from tests.sip_client import parse_message as parse_wire

LOOPBACK = "127.0.0.1"
FAST = Timers(t1=0.005, t2=0.04, t4=0.05)


class Handler:
    """The transaction user: records what the stack hands it and answers requests with `status`."""

    def __init__(self) -> None:
        self.status: int | None = 200
        self.raise_on: str | None = None
        self.requests: list[tuple[Request, ServerTransaction, Peer]] = []
        self.acks: list[tuple[Request, Peer]] = []
        self.server_timeouts: list[ServerTransaction] = []

    def on_request(self, request: Request, txn: ServerTransaction, peer: Peer) -> None:
        self.requests.append((request, txn, peer))
        if request.method == self.raise_on:
            raise RuntimeError("TU bug")
        if self.status is not None:
            txn.respond(self.status)

    def on_ack(self, request: Request, peer: Peer) -> None:
        self.acks.append((request, peer))

    def on_server_timeout(self, txn: ServerTransaction) -> None:
        self.server_timeouts.append(txn)


def run(body: Callable[[SipStack, Handler], Awaitable[None]], **config: Any) -> None:
    config = {"host": LOOPBACK, "udp_port": 0, "tcp_port": 0, "tls_port": None, **config}

    async def main() -> None:
        handler = Handler()
        stack = SipStack(StackConfig(**config), handler)
        await stack.start()
        try:
            await asyncio.wait_for(body(stack, handler), 5)
        finally:
            await stack.close()
    asyncio.run(main())


def request(method: str = "OPTIONS", via: str = "SIP/2.0/UDP 127.0.0.1:5999;rport", branch: str = "z9hG4bKs1",
            cseq: int = 1, extra: str = "", to_tag: str | None = None) -> bytes:
    to = "<sip:2002@pbx.test>" + (f";tag={to_tag}" if to_tag else "")
    return (
        f"{method} sip:2002@pbx.test SIP/2.0\r\n"
        f"Via: {via};branch={branch}\r\n"
        "Max-Forwards: 70\r\n"
        "From: <sip:2001@pbx.test>;tag=a1\r\n"
        f"To: {to}\r\n"
        "Call-ID: s1@127.0.0.1\r\n"
        f"CSeq: {cseq} {method}\r\n"
        f"{extra}"
        "Content-Length: 0\r\n\r\n"
    ).encode()


class Phone(asyncio.DatagramProtocol):
    """A UDP phone on its own loopback port."""

    def __init__(self) -> None:
        self.inbox: asyncio.Queue[tuple[SipMessage, tuple]] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None

    @classmethod
    async def open(cls) -> Phone:
        phone = cls()
        await asyncio.get_running_loop().create_datagram_endpoint(lambda: phone, local_addr=(LOOPBACK, 0))
        return phone

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        self.inbox.put_nowait((parse_wire(data, addr), addr))

    @property
    def port(self) -> int:
        assert self.transport is not None
        return self.transport.get_extra_info("sockname")[1]

    def send(self, data: bytes, stack: SipStack) -> None:
        assert self.transport is not None
        self.transport.sendto(data, stack.local_address("udp"))

    async def receive(self, timeout: float = 1.0) -> SipMessage:
        return (await asyncio.wait_for(self.inbox.get(), timeout))[0]

    async def assert_silent(self, seconds: float = 0.05) -> None:
        await asyncio.sleep(seconds)
        assert self.inbox.empty(), self.inbox.get_nowait()[0].first_line

    def close(self) -> None:
        assert self.transport is not None
        self.transport.close()


async def still_serving(stack: SipStack, branch: str = "z9hG4bKalive") -> None:
    phone = await Phone.open()
    phone.send(request(branch=branch), stack)
    assert (await phone.receive()).status == 200
    phone.close()


async def read_message(reader: asyncio.StreamReader) -> SipMessage:
    return parse_wire(await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 1))


# --- requests in (RFC 3261 §18.2.1, RFC 3581) -------------------------------------------------------

def test_a_udp_request_reaches_the_handler_and_its_response_returns_to_the_source_port_by_rport():
    async def body(stack: SipStack, handler: Handler) -> None:
        phone = await Phone.open()
        phone.send(request(via="SIP/2.0/UDP 192.0.2.1:5999;rport"), stack)  # a NATed phone's private address
        response = await phone.receive()
        assert response.status == 200
        via_params = (response.header("Via") or "").split(";")[1:]
        assert sorted(via_params) == sorted([f"rport={phone.port}", "received=127.0.0.1", "branch=z9hG4bKs1"])
        [(req, _, peer)] = handler.requests
        assert req.method == "OPTIONS" and peer == Peer("udp", LOOPBACK, phone.port)
        assert (req.vias[0].params["rport"], req.vias[0].params["received"]) == (str(phone.port), LOOPBACK)
        phone.close()
    run(body)


def test_without_rport_the_response_goes_to_the_received_address_and_the_via_port():
    async def body(stack: SipStack, handler: Handler) -> None:
        sender, listener = await Phone.open(), await Phone.open()
        sender.send(request(via=f"SIP/2.0/UDP phone.invalid:{listener.port}"), stack)
        response = await listener.receive()
        assert response.status == 200
        via = f"SIP/2.0/UDP phone.invalid:{listener.port};branch=z9hG4bKs1;received=127.0.0.1"  # §18.2.1
        assert response.header("Via") == via
        await sender.assert_silent()
        sender.close()
        listener.close()
    run(body)


def test_a_retransmitted_request_is_absorbed_and_gets_the_same_response_again():
    async def body(stack: SipStack, handler: Handler) -> None:
        phone = await Phone.open()
        phone.send(request(), stack)
        first = await phone.receive()
        phone.send(request(), stack)
        again = await phone.receive()
        assert (first.status, again.status, again.tag()) == (200, 200, first.tag())
        assert len(handler.requests) == 1
        phone.close()
    run(body)


def test_an_invite_gets_100_trying_at_once_and_its_retransmission_does_not_reach_the_handler():
    async def body(stack: SipStack, handler: Handler) -> None:
        handler.status = None  # the TU answers later, as a ringing call does
        phone = await Phone.open()
        phone.send(request("INVITE", branch="z9hG4bKinv"), stack)
        assert (await phone.receive()).status == 100
        phone.send(request("INVITE", branch="z9hG4bKinv"), stack)
        assert (await phone.receive()).status == 100
        assert len(handler.requests) == 1
        phone.close()
    run(body)


def test_a_2xx_to_an_invite_is_retransmitted_by_the_stacks_timer_until_the_ack_which_goes_to_the_handler():
    async def body(stack: SipStack, handler: Handler) -> None:
        phone = await Phone.open()
        phone.send(request("INVITE", branch="z9hG4bKinv"), stack)
        assert (await phone.receive()).status == 100
        ok = await phone.receive()
        retransmitted = await phone.receive(0.5)  # timer G2xx: T1 later
        assert (ok.status, retransmitted.status, retransmitted.tag()) == (200, 200, ok.tag())
        phone.send(request("ACK", branch="z9hG4bKack", to_tag=ok.tag()), stack)
        await asyncio.sleep(0.05)
        while not phone.inbox.empty():  # what was already on its way
            phone.inbox.get_nowait()
        await phone.assert_silent(0.1)  # several T1: retransmissions have stopped
        [(ack, peer)] = handler.acks
        assert ack.method == "ACK" and ack.to.tag == ok.tag() and peer.port == phone.port
        assert handler.server_timeouts == []
        phone.close()
    run(body, timers=FAST)


def test_a_2xx_never_acknowledged_is_reported_to_the_handler_after_64_t1():
    async def body(stack: SipStack, handler: Handler) -> None:
        phone = await Phone.open()
        phone.send(request("INVITE", branch="z9hG4bKinv"), stack)
        loop = asyncio.get_running_loop()
        started = loop.time()
        while not handler.server_timeouts:
            await asyncio.sleep(0.01)
        assert loop.time() - started >= 64 * FAST.t1 - 0.01
        [(_, txn, _)] = handler.requests
        assert handler.server_timeouts == [txn]
        phone.close()
    run(body, timers=FAST)


# --- malformed input ----------------------------------------------------------------------------------

@pytest.mark.parametrize("mangle", [
    lambda m: m.replace(b"CSeq: 1 OPTIONS", b"CSeq: one OPTIONS"),  # validate_request says 400
    lambda m: m.replace(b"CSeq: 1 OPTIONS", b"CSeq: 1 INVITE"),
    lambda m: m.replace(b"Content-Length: 0", b"Content-Length: 500"),  # parse error, headers readable
    lambda m: m.replace(b"Max-Forwards: 70", b"Max-Forwards: seventy"),
], ids=["bad-cseq", "cseq-method", "short-body", "bad-max-forwards"])
def test_a_malformed_request_with_readable_headers_gets_400_at_its_source_and_the_stack_keeps_serving(mangle):
    async def body(stack: SipStack, handler: Handler) -> None:
        phone = await Phone.open()
        phone.send(mangle(request(via="SIP/2.0/UDP 192.0.2.1:5999;rport")), stack)
        response = await phone.receive()
        assert response.status == 400 and "received=127.0.0.1" in (response.header("Via") or "")
        assert handler.requests == [] and stack.stats.rejected == 1
        await still_serving(stack)
        phone.close()
    run(body)


@pytest.mark.parametrize("junk", [
    b"\x00\xff" * 50,
    b"hello world\r\n\r\n",
    b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n",  # a response without Via
    request("ACK").replace(b"CSeq: 1 ACK", b"CSeq: one ACK"),  # an ACK is never answered
    request().replace(b"Via: SIP/2.0/UDP 127.0.0.1:5999;rport;branch=z9hG4bKs1\r\n", b""),  # nowhere to answer
    request().replace(b"From: <sip:2001@pbx.test>;tag=a1\r\n", b"").replace(b"Length: 0", b"Length: 9"),
], ids=["binary", "text", "response-without-via", "bad-ack", "no-via", "unparseable-without-from"])
def test_an_unanswerable_datagram_is_dropped_and_the_stack_keeps_serving(junk):
    async def body(stack: SipStack, handler: Handler) -> None:
        phone = await Phone.open()
        phone.send(junk, stack)
        await phone.assert_silent()
        assert handler.requests == [] and handler.acks == []
        await still_serving(stack)
        phone.close()
    run(body)


def test_a_handler_that_raises_does_not_stop_the_stack():
    async def body(stack: SipStack, handler: Handler) -> None:
        handler.raise_on = "INFO"
        phone = await Phone.open()
        phone.send(request("INFO", branch="z9hG4bKboom"), stack)
        await phone.assert_silent()
        await still_serving(stack)
        assert [r.method for r, _, _ in handler.requests] == ["INFO", "OPTIONS"]
        phone.close()
    run(body)


# --- TCP ----------------------------------------------------------------------------------------------

def test_a_tcp_request_is_answered_on_its_own_connection_whatever_its_via_says():
    async def body(stack: SipStack, handler: Handler) -> None:
        reader, writer = await asyncio.open_connection(*stack.local_address("tcp"))
        writer.write(request(via="SIP/2.0/TCP 192.0.2.1:5999"))
        response = await read_message(reader)
        assert response.status == 200
        [(_, _, peer)] = handler.requests
        assert peer.transport == "tcp" and peer.flow is not None
        assert peer.port == writer.get_extra_info("sockname")[1]
        writer.close()
    run(body)


def test_an_oversized_tcp_message_closes_that_connection_without_a_response_and_others_keep_working():
    async def body(stack: SipStack, handler: Handler) -> None:
        address = stack.local_address("tcp")
        reader, writer = await asyncio.open_connection(*address)
        writer.write(request(via="SIP/2.0/TCP 127.0.0.1:5999").replace(b"Content-Length: 0", b"Content-Length: 70000"))
        assert await asyncio.wait_for(reader.read(), 1) == b""  # closed, nothing answered
        writer.close()
        reader, writer = await asyncio.open_connection(*address)
        writer.write(request(via="SIP/2.0/TCP 127.0.0.1:5999"))
        assert (await read_message(reader)).status == 200
        assert len(handler.requests) == 1
        writer.close()
    run(body)


def test_a_malformed_tcp_request_gets_400_on_its_connection():
    async def body(stack: SipStack, handler: Handler) -> None:
        reader, writer = await asyncio.open_connection(*stack.local_address("tcp"))
        writer.write(request(via="SIP/2.0/TCP 127.0.0.1:5999").replace(b"CSeq: 1 OPTIONS", b"CSeq: 1 BYE"))
        assert (await read_message(reader)).status == 400
        writer.write(request(via="SIP/2.0/TCP 127.0.0.1:5999", branch="z9hG4bKs2"))
        assert (await read_message(reader)).status == 200  # framing was fine: the connection stays
        writer.close()
    run(body)


# --- requests out: client transactions ------------------------------------------------------------------

def outgoing(method: str = "OPTIONS") -> Request:
    """A request the box starts; SipStack.send_request adds the Via."""
    message = parse_message((
        f"{method} sip:2002@127.0.0.1 SIP/2.0\r\n"
        "From: <sip:pbx@pbx.test>;tag=box1\r\n"
        "To: <sip:2002@pbx.test>\r\n"
        "Call-ID: out1@pbx.test\r\n"
        f"CSeq: 1 {method}\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode())
    assert isinstance(message, Request)
    return message


class Results:
    """The `on_response` callback of a client transaction: what it got, awaitable."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[Response, ClientTransaction]] = asyncio.Queue()

    def __call__(self, response: Response, txn: ClientTransaction) -> None:
        self.queue.put_nowait((response, txn))

    async def get(self, timeout: float = 1.0) -> Response:
        return (await asyncio.wait_for(self.queue.get(), timeout))[0]


def reply(req: SipMessage, status: int, reason: str) -> bytes:
    lines = [f"SIP/2.0 {status} {reason}"]
    lines += [f"{name}: {value}" for name, value in req.headers if name in ("Via", "From", "To", "Call-ID", "CSeq")]
    return ("\r\n".join(lines) + "\r\nContent-Length: 0\r\n\r\n").encode()


def test_a_request_we_send_carries_our_via_and_its_response_reaches_the_callback():
    async def body(stack: SipStack, handler: Handler) -> None:
        phone = await Phone.open()
        results = Results()
        txn = stack.send_request(outgoing(), Peer("udp", LOOPBACK, phone.port), results)
        received = await phone.receive()
        via = received.header("Via") or ""
        assert via.startswith(f"SIP/2.0/UDP 127.0.0.1:{stack.local_address('udp')[1]};rport;branch=z9hG4bK")
        assert received.header("Max-Forwards") == "70" and received.header("User-Agent") == "Appliance-PBX"
        phone.transport.sendto(reply(received, 200, "OK"), stack.local_address("udp"))  # type: ignore[union-attr]
        response = await results.get()
        assert response.status == 200 and txn.branch in via
        phone.close()
    run(body)


def test_a_udp_request_nobody_answers_is_retransmitted_then_reported_as_408_after_timer_f():
    async def body(stack: SipStack, handler: Handler) -> None:
        phone = await Phone.open()  # never answers
        results = Results()
        loop = asyncio.get_running_loop()
        started = loop.time()
        stack.send_request(outgoing(), Peer("udp", LOOPBACK, phone.port), results)
        response = await results.get()
        assert (response.status, response.reason) == (408, "Request Timeout")
        assert loop.time() - started >= 64 * FAST.t1 - 0.01
        assert phone.inbox.qsize() >= 4  # timer E retransmissions (T1, 2T1, 4T1, … capped at T2)
        phone.close()
    run(body, timers=FAST)


def test_a_tcp_request_that_is_never_answered_is_reported_as_408():
    async def body(stack: SipStack, handler: Handler) -> None:
        connections: list[asyncio.StreamWriter] = []

        async def silent_phone(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            connections.append(writer)
        server = await asyncio.start_server(silent_phone, LOOPBACK, 0)
        results = Results()
        stack.send_request(outgoing(), Peer("tcp", LOOPBACK, server.sockets[0].getsockname()[1]), results)
        response = await results.get()
        assert (response.status, response.reason) == (408, "Request Timeout")  # timer F, no retransmission
        assert len(connections) == 1
        for writer in connections:
            writer.close()
        server.close()
    run(body, timers=FAST)


def test_a_tcp_request_to_a_port_that_refuses_connections_is_reported_as_503():
    # RFC 3261 §8.1.3.1 / §17.1.4: a transport failure is treated as a 503 (Service Unavailable).
    async def body(stack: SipStack, handler: Handler) -> None:
        with socket.socket() as s:
            s.bind((LOOPBACK, 0))  # bound, never listening: the connection is refused
            results = Results()
            stack.send_request(outgoing(), Peer("tcp", LOOPBACK, s.getsockname()[1]), results)
            response = await results.get()
        assert (response.status, response.reason) == (503, "Service Unavailable")
    run(body)


# --- life cycle -------------------------------------------------------------------------------------------

def test_closing_the_stack_releases_its_sockets_and_closes_its_connections():
    async def main() -> None:
        stack = SipStack(StackConfig(host=LOOPBACK, udp_port=0, tcp_port=0, tls_port=None), Handler())
        await stack.start()
        udp_port, tcp_address = stack.local_address("udp")[1], stack.local_address("tcp")
        reader, writer = await asyncio.open_connection(*tcp_address)
        writer.write(request(via="SIP/2.0/TCP 127.0.0.1:5999"))
        await read_message(reader)
        await stack.close()
        assert await asyncio.wait_for(reader.read(), 1) == b""
        writer.close()
        await asyncio.sleep(0.01)  # the UDP socket is closed on the next loop iteration
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind((LOOPBACK, udp_port))  # free again
        with pytest.raises(OSError):
            await asyncio.open_connection(*tcp_address)
    asyncio.run(asyncio.wait_for(main(), 5))


def test_tls_is_served_with_the_configured_certificate(tmp_path: Path):
    files = DataDir(tmp_path / "data").ensure_tls_certificate()

    async def body(stack: SipStack, handler: Handler) -> None:
        phone_tls = ssl.create_default_context(cafile=str(files.cert))
        reader, writer = await asyncio.open_connection(*stack.local_address("tls"), ssl=phone_tls,
                                                       server_hostname=LOOPBACK)
        writer.write(request(via="SIP/2.0/TLS 192.0.2.1:5999"))
        assert (await read_message(reader)).status == 200
        assert handler.requests[0][2].transport == "tls"
        writer.close()
    run(body, tls_port=0, certfile=str(files.cert), keyfile=str(files.key))


def test_tls_is_not_offered_without_a_certificate():
    async def body(stack: SipStack, handler: Handler) -> None:
        assert "tls" not in stack.streams
        with pytest.raises(ValueError, match="not enabled"):
            stack.local_address("tls")
    run(body, tls_port=0)
