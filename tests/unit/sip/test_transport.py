"""SIP transports (RFC 3261 §18): UDP datagrams, TCP/TLS stream framing, keep-alives and flows.

The transports are driven over real loopback sockets (127.0.0.1, ports chosen by the kernel); the other end
is a plain asyncio client or server written here, independent of the code under test.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from appliance.datadir import DataDir
from appliance.sip.transaction import Peer
from appliance.sip.transport import StreamTransport, UdpTransport

LOOPBACK = "127.0.0.1"
OK = b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n"


def options(branch: str = "z9hG4bKt1", body: bytes = b"", extra: str = "") -> bytes:
    head = (
        "OPTIONS sip:2002@pbx.test SIP/2.0\r\n"
        f"Via: SIP/2.0/TCP 127.0.0.1:5999;branch={branch}\r\n"
        "Max-Forwards: 70\r\n"
        "From: <sip:2001@pbx.test>;tag=a1\r\n"
        "To: <sip:2002@pbx.test>\r\n"
        "Call-ID: t1@127.0.0.1\r\n"
        "CSeq: 1 OPTIONS\r\n"
        f"{extra}"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class Inbox:
    """The transport's sink: every (message, peer) it delivers, awaitable."""

    def __init__(self) -> None:
        self.items: list[tuple[bytes, Peer]] = []
        self._queue: asyncio.Queue[tuple[bytes, Peer]] = asyncio.Queue()

    def __call__(self, data: bytes, peer: Peer) -> None:
        self.items.append((data, peer))
        self._queue.put_nowait((data, peer))

    async def get(self, timeout: float = 1.0) -> tuple[bytes, Peer]:
        return await asyncio.wait_for(self._queue.get(), timeout)

    async def assert_empty(self, seconds: float = 0.05) -> None:
        await asyncio.sleep(seconds)
        assert self.items == []


def run(body: Callable[[], Awaitable[None]]) -> None:
    async def main() -> None:
        await asyncio.wait_for(body(), 5)
    asyncio.run(main())


async def tcp_listener(inbox: Inbox) -> StreamTransport:
    transport = StreamTransport("tcp", inbox)
    await transport.start(LOOPBACK, 0)
    return transport


async def read_eof(reader: asyncio.StreamReader) -> bytes:
    """Everything until the other side closes (fails the test by timeout if it never does)."""
    return await asyncio.wait_for(reader.read(), 1.0)


async def settle() -> None:
    """Let the loop run the callbacks of a write or a close on loopback."""
    for _ in range(5):
        await asyncio.sleep(0.005)


# --- UDP -----------------------------------------------------------------------------------------

class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[bytes, tuple]] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        self.queue.put_nowait((data, addr))


async def udp_socket() -> tuple[asyncio.DatagramTransport, _Datagrams]:
    loop = asyncio.get_running_loop()
    return await loop.create_datagram_endpoint(_Datagrams, local_addr=(LOOPBACK, 0))  # type: ignore[return-value]


def test_a_datagram_is_delivered_with_the_address_it_came_from():
    async def body() -> None:
        inbox = Inbox()
        udp = UdpTransport(inbox)
        await udp.start(LOOPBACK, 0)
        client, _ = await udp_socket()
        client.sendto(options(), udp.local)
        data, peer = await inbox.get()
        assert data == options()
        assert peer == Peer("udp", LOOPBACK, client.get_extra_info("sockname")[1])
        client.close()
        udp.close()
    run(body)


def test_udp_send_reaches_the_peer_from_the_listening_port():
    async def body() -> None:
        udp = UdpTransport(Inbox())
        await udp.start(LOOPBACK, 0)
        client, received = await udp_socket()
        udp.send(b"SIP/2.0 200 OK\r\n\r\n", Peer("udp", LOOPBACK, client.get_extra_info("sockname")[1]))
        data, addr = await asyncio.wait_for(received.queue.get(), 1)
        assert data == b"SIP/2.0 200 OK\r\n\r\n" and addr == udp.local
        client.close()
        udp.close()
    run(body)


@pytest.mark.parametrize("keepalive", [b"\r\n\r\n", b"\r\n", b"\x00", b"\x00\x00\x00\x00"])
def test_udp_keepalives_from_phones_behind_nat_are_not_delivered(keepalive):
    async def body() -> None:
        inbox = Inbox()
        udp = UdpTransport(inbox)
        await udp.start(LOOPBACK, 0)
        client, _ = await udp_socket()
        client.sendto(keepalive, udp.local)
        client.sendto(options(), udp.local)
        assert (await inbox.get())[0] == options()
        assert len(inbox.items) == 1
        client.close()
        udp.close()
    run(body)


def test_udp_reader_survives_a_sink_that_raises():
    async def body() -> None:
        delivered: list[bytes] = []

        def sink(data: bytes, peer: Peer) -> None:
            delivered.append(data)
            if len(delivered) == 1:
                raise RuntimeError("upper layer bug")
        udp = UdpTransport(sink)
        await udp.start(LOOPBACK, 0)
        client, _ = await udp_socket()
        client.sendto(b"first", udp.local)
        client.sendto(b"second", udp.local)
        await settle()
        assert delivered == [b"first", b"second"]
        client.close()
        udp.close()
    run(body)


def test_sending_on_a_udp_transport_that_was_never_started_is_a_connection_error():
    with pytest.raises(ConnectionError):
        UdpTransport(Inbox()).send(b"x", Peer("udp", LOOPBACK, 9))


# --- TCP framing (RFC 3261 §18.3) ----------------------------------------------------------------

def test_a_message_split_across_segments_is_delivered_once_complete():
    async def body() -> None:
        inbox = Inbox()
        tcp = await tcp_listener(inbox)
        _, writer = await asyncio.open_connection(*tcp.local)
        message = options(body=b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n", extra="Content-Type: application/sdp\r\n")
        blank = message.index(b"\r\n\r\n")
        cuts = [0, 10, blank + 2, blank + 4, len(message) - 3, len(message)]  # inside the blank line and the body
        for start, end in itertools.pairwise(cuts):
            writer.write(message[start:end])
            await writer.drain()
            await asyncio.sleep(0.01)  # separate reads on the server side
            if end < len(message):
                assert inbox.items == []
        data, _ = await inbox.get()
        assert data == message
        writer.close()
        tcp.close()
    run(body)


def test_a_message_fed_one_byte_at_a_time_is_delivered_once():
    async def body() -> None:
        inbox = Inbox()
        tcp = await tcp_listener(inbox)
        _, writer = await asyncio.open_connection(*tcp.local)
        message = options(body=b"hello")
        for i in range(len(message)):
            writer.write(message[i : i + 1])
            await writer.drain()
        assert (await inbox.get())[0] == message
        await settle()
        assert len(inbox.items) == 1
        writer.close()
        tcp.close()
    run(body)


def test_coalesced_messages_are_cut_by_content_length():
    async def body() -> None:
        inbox = Inbox()
        tcp = await tcp_listener(inbox)
        _, writer = await asyncio.open_connection(*tcp.local)
        first, second, third = options("z9hG4bK1", b"abc"), options("z9hG4bK2"), options("z9hG4bK3", b"\r\n\r\n")
        writer.write(first + second + third[:20])
        await writer.drain()
        assert [(await inbox.get())[0] for _ in range(2)] == [first, second]
        writer.write(third[20:])
        assert (await inbox.get())[0] == third  # a body that looks like a ping is still body
        writer.close()
        tcp.close()
    run(body)


def test_messages_on_one_connection_share_one_flow_and_other_connections_get_their_own():
    async def body() -> None:
        inbox = Inbox()
        tcp = await tcp_listener(inbox)
        _, w1 = await asyncio.open_connection(*tcp.local)
        _, w2 = await asyncio.open_connection(*tcp.local)
        w1.write(options("z9hG4bKa") + options("z9hG4bKb"))
        w2.write(options("z9hG4bKc"))
        peers = [(await inbox.get())[1] for _ in range(3)]
        by_port = {p.port: p for p in peers}
        assert len(by_port) == 2 and all(p.transport == "tcp" and p.host == LOOPBACK for p in peers)
        assert peers.count(by_port[w1.get_extra_info("sockname")[1]]) == 2
        assert len({p.flow for p in peers}) == 2 and tcp.flow_count == 2
        w1.close()
        w2.close()
        tcp.close()
    run(body)


def test_broken_framing_closes_that_connection():
    async def body() -> None:
        inbox = Inbox()
        tcp = await tcp_listener(inbox)
        reader, writer = await asyncio.open_connection(*tcp.local)
        writer.write(options().replace(b"Content-Length: 0", b"Content-Length: many"))
        assert await read_eof(reader) == b""
        writer.close()
        await settle()
        assert inbox.items == [] and tcp.flow_count == 0
        tcp.close()
    run(body)


def test_an_oversized_message_is_refused_by_closing_before_its_body_arrives():
    # RFC 3261 §18.3 leaves no way to resynchronise a stream: the connection is closed, nothing is answered.
    async def body() -> None:
        inbox = Inbox()
        tcp = await tcp_listener(inbox)
        reader, writer = await asyncio.open_connection(*tcp.local)
        writer.write(options().replace(b"Content-Length: 0", b"Content-Length: 70000"))
        assert await read_eof(reader) == b""
        writer.close()
        # The other connections are not affected.
        _, other = await asyncio.open_connection(*tcp.local)
        other.write(options())
        assert (await inbox.get())[0] == options()
        other.close()
        tcp.close()
    run(body)


def test_tcp_reader_survives_a_sink_that_raises():
    async def body() -> None:
        delivered: list[bytes] = []

        def sink(data: bytes, peer: Peer) -> None:
            delivered.append(data)
            raise RuntimeError("upper layer bug")
        tcp = StreamTransport("tcp", sink)
        await tcp.start(LOOPBACK, 0)
        _, writer = await asyncio.open_connection(*tcp.local)
        writer.write(options("z9hG4bK1") + options("z9hG4bK2"))
        await settle()
        assert delivered == [options("z9hG4bK1"), options("z9hG4bK2")] and tcp.flow_count == 1
        writer.close()
        tcp.close()
    run(body)


# --- keep-alives (RFC 5626 §3.5.1) ---------------------------------------------------------------

def test_a_crlf_crlf_ping_is_answered_with_a_crlf_pong():
    async def body() -> None:
        inbox = Inbox()
        tcp = await tcp_listener(inbox)
        reader, writer = await asyncio.open_connection(*tcp.local)
        writer.write(b"\r\n\r\n")
        assert await asyncio.wait_for(reader.readexactly(2), 1) == b"\r\n"
        await inbox.assert_empty()
        writer.close()
        tcp.close()
    run(body)


def test_a_ping_split_across_segments_is_still_answered():
    async def body() -> None:
        tcp = await tcp_listener(Inbox())
        reader, writer = await asyncio.open_connection(*tcp.local)
        writer.write(b"\r\n")
        await writer.drain()
        await asyncio.sleep(0.02)
        writer.write(b"\r\n")
        assert await asyncio.wait_for(reader.readexactly(2), 1) == b"\r\n"
        writer.close()
        tcp.close()
    run(body)


def test_a_lone_crlf_is_a_pong_and_gets_no_answer():
    async def body() -> None:
        inbox = Inbox()
        tcp = await tcp_listener(inbox)
        reader, writer = await asyncio.open_connection(*tcp.local)
        writer.write(b"\r\n" + options())
        assert (await inbox.get())[0] == options()
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(reader.read(1), 0.05)
        writer.close()
        tcp.close()
    run(body)


# --- flows (RFC 5626 flow reuse) -------------------------------------------------------------------

def test_a_reply_goes_back_on_the_connection_the_request_came_on():
    async def body() -> None:
        inbox = Inbox()
        tcp = await tcp_listener(inbox)
        reader, writer = await asyncio.open_connection(*tcp.local)
        writer.write(options())
        _, peer = await inbox.get()
        assert tcp.has_flow(peer.flow)
        assert tcp.send_now(OK, peer)
        assert await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 1) == OK
        writer.close()
        tcp.close()
    run(body)


def test_a_peer_without_flow_number_is_reached_on_a_connection_from_its_address():
    async def body() -> None:
        inbox = Inbox()
        tcp = await tcp_listener(inbox)
        reader, writer = await asyncio.open_connection(*tcp.local)
        writer.write(options())
        _, peer = await inbox.get()
        assert tcp.send_now(b"PING-BY-ADDRESS", Peer("tcp", peer.host, peer.port))
        assert await asyncio.wait_for(reader.readexactly(15), 1) == b"PING-BY-ADDRESS"
        writer.close()
        tcp.close()
    run(body)


def test_a_closed_flow_is_forgotten_and_send_now_says_so():
    async def body() -> None:
        inbox = Inbox()
        tcp = await tcp_listener(inbox)
        _, writer = await asyncio.open_connection(*tcp.local)
        writer.write(options())
        _, peer = await inbox.get()
        writer.close()
        await writer.wait_closed()
        await settle()
        assert not tcp.has_flow(peer.flow) and tcp.flow_count == 0
        assert tcp.send_now(b"x", peer) is False
        assert not tcp.has_flow(None)
        tcp.close()
    run(body)


def test_an_outgoing_connection_becomes_a_flow_that_answers_come_back_on():
    async def body() -> None:
        accepted: list[asyncio.StreamWriter] = []
        got: asyncio.Queue[bytes] = asyncio.Queue()

        async def phone(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            accepted.append(writer)
            while data := await reader.readuntil(b"\r\n\r\n"):
                await got.put(data)
                writer.write(OK)
        server = await asyncio.start_server(phone, LOOPBACK, 0)
        port = server.sockets[0].getsockname()[1]
        inbox = Inbox()
        tcp = await tcp_listener(inbox)
        flow_peer = await tcp.connect_and_send(options(), Peer("tcp", LOOPBACK, port))
        assert (flow_peer.transport, flow_peer.port) == ("tcp", port) and tcp.has_flow(flow_peer.flow)
        assert await asyncio.wait_for(got.get(), 1) == options()
        _, answered_on = await inbox.get()
        assert answered_on == flow_peer
        assert tcp.send_now(options("z9hG4bK2"), Peer("tcp", LOOPBACK, port))  # reused, not reconnected
        assert await asyncio.wait_for(got.get(), 1) == options("z9hG4bK2")
        assert len(accepted) == 1
        tcp.close()
        server.close()
    run(body)


def test_connecting_to_a_closed_port_raises_an_os_error():
    async def body() -> None:
        with socket.socket() as s:
            s.bind((LOOPBACK, 0))
            closed_port = s.getsockname()[1]  # bound, never listening: connections are refused
            tcp = await tcp_listener(Inbox())
            with pytest.raises(OSError):
                await tcp.connect_and_send(options(), Peer("tcp", LOOPBACK, closed_port))
            assert tcp.flow_count == 0
            tcp.close()
    run(body)


def test_idle_flows_are_closed_unless_still_needed():
    async def body() -> None:
        inbox = Inbox()
        tcp = await tcp_listener(inbox)
        _, w1 = await asyncio.open_connection(*tcp.local)
        r2, w2 = await asyncio.open_connection(*tcp.local)
        w1.write(options("z9hG4bK1"))
        w2.write(options("z9hG4bK2"))
        flows = {peer.port: peer.flow for _, peer in [await inbox.get(), await inbox.get()]}
        registered = flows[w1.get_extra_info("sockname")[1]]
        now = asyncio.get_running_loop().time()
        tcp.close_idle(now, 900.0, keep=lambda flow: False)  # nobody idle yet
        await settle()
        assert tcp.flow_count == 2
        tcp.close_idle(now + 901.0, 900.0, keep=lambda flow: flow == registered)
        assert await read_eof(r2) == b""
        await settle()
        assert tcp.flow_count == 1 and tcp.has_flow(registered)
        w1.close()
        w2.close()
        tcp.close()
    run(body)


def test_closing_the_transport_closes_the_listener_and_every_flow():
    async def body() -> None:
        inbox = Inbox()
        tcp = await tcp_listener(inbox)
        reader, writer = await asyncio.open_connection(*tcp.local)
        writer.write(options())
        await inbox.get()
        tcp.close()
        assert await read_eof(reader) == b""
        writer.close()
        with pytest.raises(OSError):
            await asyncio.open_connection(*tcp.local)
    run(body)


def test_only_tcp_and_tls_are_stream_transports():
    with pytest.raises(ValueError, match="unknown stream transport"):
        StreamTransport("sctp", Inbox())


# --- TLS (RFC 3261 §26.2) with the box's self-signed certificate --------------------------------------

@pytest.fixture(scope="module")
def box_certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    files = DataDir(tmp_path_factory.mktemp("data")).ensure_tls_certificate()
    return files.cert, files.key


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


def test_a_phone_that_trusts_the_box_certificate_completes_the_handshake_and_is_answered(box_certificate):
    cert, key = box_certificate

    async def body() -> None:
        inbox = Inbox()
        tls = StreamTransport("tls", inbox, ssl_server=server_context(cert, key))
        await tls.start(LOOPBACK, 0)
        phone = ssl.create_default_context(cafile=str(cert))  # verifies the chain and 127.0.0.1 in the SAN
        reader, writer = await asyncio.open_connection(*tls.local, ssl=phone, server_hostname=LOOPBACK)
        writer.write(options())
        data, peer = await inbox.get()
        assert data == options() and peer.transport == "tls" and peer.reliable
        assert tls.send_now(OK, peer)
        assert await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 1) == OK
        writer.write(b"\r\n\r\n")
        assert await asyncio.wait_for(reader.readexactly(2), 1) == b"\r\n"
        writer.close()
        tls.close()
    run(body)


def test_a_plain_tcp_client_on_the_tls_port_never_becomes_a_flow(box_certificate):
    cert, key = box_certificate

    async def body() -> None:
        inbox = Inbox()
        tls = StreamTransport("tls", inbox, ssl_server=server_context(cert, key))
        await tls.start(LOOPBACK, 0)
        reader, writer = await asyncio.open_connection(*tls.local)
        writer.write(options())
        await read_eof(reader)
        writer.close()
        assert inbox.items == [] and tls.flow_count == 0
        tls.close()
    run(body)


def test_an_outgoing_tls_connection_accepts_a_phones_self_signed_certificate(box_certificate):
    cert, key = box_certificate

    async def body() -> None:
        got: asyncio.Queue[bytes] = asyncio.Queue()

        async def phone(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await got.put(await reader.readuntil(b"\r\n\r\n"))
        server = await asyncio.start_server(phone, LOOPBACK, 0, ssl=server_context(cert, key))
        port = server.sockets[0].getsockname()[1]
        client = ssl.create_default_context()
        client.check_hostname = False
        client.verify_mode = ssl.CERT_NONE  # as SipStack configures it: phones' certificates are self-signed
        tls = StreamTransport("tls", Inbox(), ssl_server=server_context(cert, key), ssl_client=client)
        await tls.start(LOOPBACK, 0)
        flow_peer = await tls.connect_and_send(options(), Peer("tls", LOOPBACK, port))
        assert flow_peer.transport == "tls" and tls.has_flow(flow_peer.flow)
        assert await asyncio.wait_for(got.get(), 1) == options()
        tls.close()
        server.close()
    run(body)
