"""Bad input never stops the daemon: malformed SIP gets 400 or is dropped, and the next call still works."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.sip_client import SipClient
from tests.integration.conftest import answered_call

pytestmark = pytest.mark.integration

TORTURE = Path(__file__).resolve().parents[1] / "fixtures" / "sip" / "torture"


def still_serving(pbx) -> None:
    with SipClient(pbx.sip_port) as client:
        client.request("OPTIONS", f"sip:{pbx.address}")
        client.expect_response(200)


def test_garbage_datagrams_are_dropped_without_an_answer(pbx):
    with SipClient(pbx.sip_port) as client:
        for junk in (b"\x00\xff" * 50, b"hello world\r\n\r\n", b"SIP/2.0\r\n\r\n", bytes(range(256)) * 4):
            client.send(junk)
        client.assert_silent(0.5)
    still_serving(pbx)


@pytest.mark.parametrize("mangle,reason", [
    (lambda m: m.replace("CSeq: 1 OPTIONS", "CSeq: one OPTIONS"), "bad cseq"),
    (lambda m: m.replace("CSeq: 1 OPTIONS", "CSeq: 1 INVITE"), "cseq method mismatch"),
    (lambda m: m.replace("Content-Length: 0", "Content-Length: 500"), "content-length beyond the datagram"),
    (lambda m: m.replace("Max-Forwards: 70", "Max-Forwards: seventy"), "bad max-forwards"),
    (lambda m: m.replace("To: <sip:2002@pbx.test>", "To: <sip:2002@pbx.test\r\nTo: x"), "broken To"),
    (lambda m: m.replace("\r\nContent-Length: 0", "\r\n" + "X-Pad: y\r\n" * 300 + "Content-Length: 0"),
     "300 headers"),
])
def test_malformed_requests_get_400(pbx, mangle, reason):
    with SipClient(pbx.sip_port) as client:
        message = str(client.build_request("OPTIONS", "sip:2002@pbx.test", to="<sip:2002@pbx.test>"))
        client.send(mangle(message))
        response = client.expect_response()
        assert response.status == 400, reason
    still_serving(pbx)


def test_request_without_call_id_gets_400(pbx):
    with SipClient(pbx.sip_port) as client:
        message = str(client.build_request("OPTIONS", "sip:2002@pbx.test"))
        client.send("\r\n".join(l for l in message.split("\r\n") if not l.startswith("Call-ID")))
        assert client.expect_response().status == 400


def test_unsupported_version_gets_505_and_unknown_scheme_416(pbx):
    with SipClient(pbx.sip_port) as client:
        client.send(str(client.build_request("OPTIONS", "sip:2002@pbx.test")).replace("SIP/2.0\r\n", "SIP/7.0\r\n", 1))
        assert client.expect_response().status == 505
        client.request("OPTIONS", "mailto:someone@example.com")
        assert client.expect_response().status == 416


def test_oversized_message_over_tcp_closes_that_connection_only(pbx):
    with socket.create_connection(("127.0.0.1", pbx.sip_port), timeout=5) as sock:
        sock.sendall(b"OPTIONS sip:x@pbx.test SIP/2.0\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n")
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except ConnectionResetError:
            pass
        assert b"200 OK" not in received
    still_serving(pbx)


def test_every_rfc4475_torture_message_leaves_the_daemon_serving(pbx):
    with SipClient(pbx.sip_port, timeout=0.3) as client:
        for path in sorted(TORTURE.glob("*.dat")):
            client.send(path.read_bytes())
    still_serving(pbx)
    status = pbx.control("status")
    assert status["ok"]


def test_a_call_works_after_a_barrage_of_bad_input(pbx, phone_factory):
    with SipClient(pbx.sip_port, timeout=0.2) as client:
        for path in sorted(TORTURE.glob("*.dat")):
            client.send(path.read_bytes())
        client.send(b"\xff" * 1000)
    call, incoming, alice, bob = answered_call(pbx, phone_factory)
    call.hangup()
    incoming.wait_disconnected(5)
