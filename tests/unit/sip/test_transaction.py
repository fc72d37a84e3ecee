"""RFC 3261 §17 transaction state machines, driven by a fake clock."""

from __future__ import annotations

import pytest

from appliance.sip.message import Request, Response, make_response, parse_message
from appliance.sip.transaction import (
    ClientTransaction,
    Peer,
    RequestReceived,
    ResponseReceived,
    SendMessage,
    ServerTransaction,
    State,
    StrayResponse,
    Timers,
    TransactionLayer,
    TransactionTimeout,
    new_branch,
)

UDP = Peer("udp", "127.0.0.1", 5070)
TCP = Peer("tcp", "127.0.0.1", 5070, flow=1)
T1, T2, T4 = 0.5, 4.0, 5.0


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def layer(clock: Clock) -> TransactionLayer:
    return TransactionLayer(clock, Timers(T1, T2, T4))


def advance(layer: TransactionLayer, clock: Clock, until: float) -> list:
    """Run every timer up to `until` (absolute), in order, and return the outputs."""
    outputs = []
    while (at := layer.next_timer()) is not None and at <= until:
        clock.now = at
        layer.handle_timer(at)
        outputs += [(at, o) for o in layer.take_outputs()]
    clock.now = until
    return outputs


def request(method: str = "INVITE", branch: str | None = None, cseq: int = 1) -> Request:
    branch = branch or new_branch()
    text = (
        f"{method} sip:bob@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:5070;branch={branch}\r\n"
        "Max-Forwards: 70\r\n"
        "From: <sip:alice@127.0.0.1>;tag=a1\r\n"
        "To: <sip:bob@127.0.0.1>\r\n"
        "Call-ID: call-1\r\n"
        f"CSeq: {cseq} {method}\r\n"
        "Content-Length: 0\r\n\r\n"
    )
    return parse_message(text.encode())  # type: ignore[return-value]


def response_to(req: Request, status: int, to_tag: str = "b1") -> Response:
    return make_response(req, status, to_tag=to_tag)


def sends(outputs: list) -> list:
    return [o for o in outputs if isinstance(o, SendMessage)]


# --- client INVITE (§17.1.1) -------------------------------------------------------------------

def test_invite_client_retransmits_with_timer_a_doubling_until_timer_b(layer, clock):
    req = request()
    txn = layer.send_request(req, UDP)
    assert [type(o) for o in layer.take_outputs()] == [SendMessage]
    outputs = advance(layer, clock, 100.0 + 64 * T1)
    retransmits = [at - 100.0 for at, o in outputs if isinstance(o, SendMessage)]
    assert retransmits == [0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert isinstance(outputs[-1][1], TransactionTimeout)
    assert txn.state == State.TERMINATED


def test_invite_client_stops_retransmitting_on_provisional(layer, clock):
    req = request()
    txn = layer.send_request(req, UDP)
    layer.take_outputs()
    layer.receive(response_to(req, 180), UDP, clock.now)
    [event] = layer.take_outputs()
    assert isinstance(event, ResponseReceived) and event.response.status == 180
    assert txn.state == State.PROCEEDING
    outputs = advance(layer, clock, 100.0 + 64 * T1 - 0.01)
    assert sends([o for _, o in outputs]) == []


def test_invite_client_over_tcp_never_retransmits(layer, clock):
    layer.send_request(request(), TCP)
    layer.take_outputs()
    outputs = advance(layer, clock, 100.0 + 64 * T1)
    assert [type(o) for _, o in outputs] == [TransactionTimeout]


def test_invite_client_acks_non_2xx_and_absorbs_retransmissions_for_timer_d(layer, clock):
    req = request()
    txn = layer.send_request(req, UDP)
    layer.take_outputs()
    busy = response_to(req, 486)
    layer.receive(busy, UDP, clock.now)
    out = layer.take_outputs()
    assert isinstance(out[0], ResponseReceived) and out[0].response.status == 486
    ack = out[1].message
    assert ack.method == "ACK" and ack.cseq.method == "ACK" and ack.cseq.number == 1
    assert ack.vias[0].branch == req.vias[0].branch and ack.to.tag == "b1"
    assert txn.state == State.COMPLETED
    layer.receive(busy, UDP, clock.now + 1)  # retransmitted 486: ACK again, TU not told twice
    out = layer.take_outputs()
    assert [type(o) for o in out] == [SendMessage] and out[0].message.method == "ACK"
    advance(layer, clock, 100.0 + 31.9)
    assert txn.state == State.COMPLETED
    advance(layer, clock, 100.0 + 32.0)
    assert txn.state == State.TERMINATED


def test_invite_client_2xx_moves_to_accepted_and_resends_the_tu_ack_on_retransmission(layer, clock):
    req = request()
    txn = layer.send_request(req, UDP)
    layer.take_outputs()
    ok = response_to(req, 200)
    layer.receive(ok, UDP, clock.now)
    [event] = layer.take_outputs()
    assert isinstance(event, ResponseReceived) and txn.state == State.ACCEPTED
    ack = Request("ACK", "sip:bob@127.0.0.1")
    txn.send_ack(ack)
    assert layer.take_outputs()[0].message is ack
    layer.receive(ok, UDP, clock.now + 0.5)
    out = layer.take_outputs()
    assert [o.message for o in out if isinstance(o, SendMessage)] == [ack]
    assert not [o for o in out if isinstance(o, ResponseReceived)]
    advance(layer, clock, 100.0 + 64 * T1)
    assert txn.state == State.TERMINATED  # timer M


def test_invite_client_passes_2xx_from_a_second_fork_to_the_tu(layer, clock):
    req = request()
    layer.send_request(req, UDP)
    layer.take_outputs()
    layer.receive(response_to(req, 200, to_tag="fork1"), UDP, clock.now)
    layer.receive(response_to(req, 200, to_tag="fork2"), UDP, clock.now)
    events = [o for o in layer.take_outputs() if isinstance(o, ResponseReceived)]
    assert [e.response.to.tag for e in events] == ["fork1", "fork2"]


def test_cancel_request_copies_the_invite_identity(layer, clock):
    req = request()
    txn = layer.send_request(req, UDP)
    cancel = txn.cancel_request()
    assert cancel.method == "CANCEL" and cancel.uri_text == req.uri_text
    assert cancel.vias[0].branch == req.vias[0].branch
    assert cancel.cseq.number == 1 and cancel.cseq.method == "CANCEL"


# --- client non-INVITE (§17.1.2) ----------------------------------------------------------------

def test_non_invite_client_timer_e_caps_at_t2_and_timer_f_times_out(layer, clock):
    layer.send_request(request("OPTIONS"), UDP)
    layer.take_outputs()
    outputs = advance(layer, clock, 100.0 + 64 * T1)
    retransmits = [round(at - 100.0, 3) for at, o in outputs if isinstance(o, SendMessage)]
    assert retransmits == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert isinstance(outputs[-1][1], TransactionTimeout)


def test_non_invite_client_retransmits_at_t2_after_provisional(layer, clock):
    req = request("OPTIONS")
    layer.send_request(req, UDP)
    layer.take_outputs()
    clock.now = 100.2
    layer.receive(response_to(req, 100), UDP, clock.now)
    layer.take_outputs()
    outputs = advance(layer, clock, 100.2 + 9)
    retransmits = [round(at - 100.0, 3) for at, o in outputs if isinstance(o, SendMessage)]
    assert retransmits[:3] == [0.5, 4.5, 8.5]


def test_non_invite_client_completed_waits_timer_k(layer, clock):
    req = request("OPTIONS")
    txn = layer.send_request(req, UDP)
    layer.take_outputs()
    layer.receive(response_to(req, 200), UDP, clock.now)
    assert txn.state == State.COMPLETED
    advance(layer, clock, 100.0 + T4 - 0.01)
    assert txn.state == State.COMPLETED
    advance(layer, clock, 100.0 + T4)
    assert txn.state == State.TERMINATED


def test_non_invite_client_over_tcp_terminates_at_once_after_final(layer, clock):
    req = request("OPTIONS")
    txn = layer.send_request(req, TCP)
    layer.receive(response_to(req, 200), TCP, clock.now)
    advance(layer, clock, clock.now)
    assert txn.state == State.TERMINATED


def test_response_matching_no_transaction_is_stray(layer, clock):
    layer.receive(response_to(request("OPTIONS"), 200), UDP, clock.now)
    assert [type(o) for o in layer.take_outputs()] == [StrayResponse]


def test_client_transaction_requires_rfc3261_branch(layer):
    with pytest.raises(ValueError):
        layer.send_request(request(branch="old-style"), UDP)


def test_transport_failure_reports_timeout_to_the_tu(layer, clock):
    txn = layer.send_request(request("OPTIONS"), TCP)
    layer.take_outputs()
    txn.transport_failed()
    assert [type(o) for o in layer.take_outputs()] == [TransactionTimeout]


# --- server INVITE (§17.2.1, RFC 6026) ----------------------------------------------------------

def receive_new(layer: TransactionLayer, req: Request, peer: Peer = UDP) -> ServerTransaction:
    layer.receive(req, peer, layer.clock())
    events = [o for o in layer.take_outputs() if isinstance(o, RequestReceived)]
    assert len(events) == 1
    assert events[0].transaction is not None
    return events[0].transaction


def test_invite_server_sends_100_trying_at_once(layer, clock):
    req = request()
    layer.receive(req, UDP, clock.now)
    out = layer.take_outputs()
    assert isinstance(out[0], SendMessage) and out[0].message.status == 100
    assert isinstance(out[1], RequestReceived)


def test_invite_server_answers_retransmitted_invite_with_last_response(layer, clock):
    req = request()
    txn = receive_new(layer, req)
    txn.respond(180)
    layer.take_outputs()
    layer.receive(request(branch=req.vias[0].branch), UDP, clock.now)
    out = layer.take_outputs()
    assert [int(o.first_line.split()[1]) for o in out] == [180]


def test_invite_server_retransmits_non_2xx_with_timer_g_until_ack(layer, clock):
    req = request()
    txn = receive_new(layer, req)
    txn.respond(486)
    layer.take_outputs()
    outputs = advance(layer, clock, 100.0 + 8)
    assert [round(at - 100, 3) for at, o in outputs] == [0.5, 1.5, 3.5, 7.5]
    ack = request("ACK", branch=req.vias[0].branch)
    layer.receive(ack, UDP, clock.now)
    assert layer.take_outputs() == []  # ACK to a non-2xx is absorbed
    assert txn.state == State.CONFIRMED
    assert advance(layer, clock, 100.0 + 8 + T4) == []
    assert txn.state == State.TERMINATED  # timer I


def test_invite_server_timer_h_gives_up_waiting_for_ack(layer, clock):
    txn = receive_new(layer, request())
    txn.respond(404)
    layer.take_outputs()
    outputs = advance(layer, clock, 100.0 + 64 * T1)
    assert isinstance(outputs[-1][1], TransactionTimeout) and txn.state == State.TERMINATED


def test_invite_server_retransmits_2xx_until_the_ack_arrives(layer, clock):
    req = request()
    txn = receive_new(layer, req)
    ok = txn.respond(200)
    layer.take_outputs()
    outputs = advance(layer, clock, 100.0 + 4)
    assert [round(at - 100, 3) for at, o in outputs] == [0.5, 1.5, 3.5]
    ack = request("ACK", cseq=1)
    ack.headers.set("To", ok.headers.get("To"))
    layer.receive(ack, UDP, clock.now)
    [event] = layer.take_outputs()
    assert isinstance(event, RequestReceived) and event.transaction is None  # the ACK goes to the TU
    assert txn.acked
    assert [o for _, o in advance(layer, clock, 100.0 + 64 * T1)] == []  # no timeout once acked
    assert txn.state == State.TERMINATED


def test_invite_server_reports_a_2xx_never_acked(layer, clock):
    txn = receive_new(layer, request(), TCP)
    txn.respond(200)
    layer.take_outputs()
    outputs = advance(layer, clock, 100.0 + 64 * T1)
    assert [type(o) for _, o in outputs] == [TransactionTimeout]


def test_invite_server_sends_only_the_first_final_response(layer, clock):
    txn = receive_new(layer, request())
    txn.respond(200)
    txn.respond(486)
    assert [int(o.first_line.split()[1]) for o in layer.take_outputs()] == [200]


def test_cancel_finds_its_invite_transaction(layer, clock):
    req = request()
    txn = receive_new(layer, req)
    cancel = request("CANCEL", branch=req.vias[0].branch)
    cancel_txn = receive_new(layer, cancel)
    assert cancel_txn is not txn
    assert layer.find_invite(cancel) is txn


# --- server non-INVITE (§17.2.2) ----------------------------------------------------------------

def test_non_invite_server_replays_final_response_then_timer_j(layer, clock):
    req = request("OPTIONS")
    txn = receive_new(layer, req)
    txn.respond(200)
    layer.take_outputs()
    layer.receive(request("OPTIONS", branch=req.vias[0].branch), UDP, clock.now + 1)
    assert [int(o.first_line.split()[1]) for o in layer.take_outputs()] == [200]
    advance(layer, clock, 100.0 + 64 * T1)
    assert txn.state == State.TERMINATED


def test_non_invite_server_retransmission_before_response_is_absorbed(layer, clock):
    req = request("OPTIONS")
    receive_new(layer, req)
    layer.receive(request("OPTIONS", branch=req.vias[0].branch), UDP, clock.now)
    assert layer.take_outputs() == []


def test_rfc2543_requests_without_magic_cookie_still_match(layer, clock):
    req = request("OPTIONS", branch="1234")
    txn = receive_new(layer, req)
    txn.respond(200)
    layer.take_outputs()
    layer.receive(request("OPTIONS", branch="1234"), UDP, clock.now)
    assert [int(o.first_line.split()[1]) for o in layer.take_outputs()] == [200]


def test_wakeup_hook_is_called_when_outputs_wait(layer, clock):
    calls = []
    layer.wakeup = lambda: calls.append(1)
    layer.send_request(request("OPTIONS"), UDP)
    assert calls
