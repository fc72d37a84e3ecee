"""RFC 3261 §12 dialogs: what a UAS and a UAC learn when a dialog is created, and the requests sent inside it.

Sans-I/O: messages are hand-written bytes parsed by the box's own parser; nothing is sent anywhere.
"""

from __future__ import annotations

import pytest

from appliance.sip.dialog import Dialog
from appliance.sip.message import (
    Request,
    Response,
    make_response,
    parse_message,
    validate_request,
)
from appliance.sip.transaction import Peer

ALICE_PHONE = Peer("udp", "192.0.2.10", 5062)
BOB_PHONE = Peer("udp", "192.0.2.20", 5064)


def message(*lines: str, body: bytes = b"") -> Request | Response:
    text = "\r\n".join(lines) + f"\r\nContent-Length: {len(body)}\r\n\r\n"
    return parse_message(text.encode() + body)


def incoming_invite(*extra: str, contact: str | None = "<sip:alice@192.0.2.10:5062>",
                    from_: str = '"Alice" <sip:2001@pbx.test>;tag=alice-tag', cseq: int = 314) -> Request:
    """An initial INVITE as a phone sends it to the box (the box is the UAS)."""
    lines = [
        "INVITE sip:2002@pbx.test SIP/2.0",
        "Via: SIP/2.0/UDP 192.0.2.10:5062;rport;branch=z9hG4bKinv1",
        "Max-Forwards: 70",
        f"From: {from_}",
        "To: <sip:2002@pbx.test>",
        "Call-ID: c1@192.0.2.10",
        f"CSeq: {cseq} INVITE",
        *([f"Contact: {contact}"] if contact else []),
        *extra,
    ]
    return message(*lines)  # type: ignore[return-value]


def outgoing_invite(cseq: int = 7) -> Request:
    """An initial INVITE as the box sends it to a phone (the box is the UAC)."""
    return message(
        "INVITE sip:2002@192.0.2.20:5064 SIP/2.0",
        "Via: SIP/2.0/UDP 192.0.2.1:5060;rport;branch=z9hG4bKout1",
        "Max-Forwards: 70",
        'From: "Alice" <sip:2001@pbx.test>;tag=box-tag',
        'To: "Bob" <sip:2002@pbx.test>',
        "Call-ID: c2@pbx.test",
        f"CSeq: {cseq} INVITE",
        "Contact: <sip:pbx@192.0.2.1:5060>",
    )  # type: ignore[return-value]


def answer(request: Request, status: int, *extra: str, to_tag: str | None = "bob-tag",
           contact: str | None = "<sip:bob@192.0.2.20:5064>") -> Response:
    """A response from the phone, with the phone's Contact and any Record-Route the path added."""
    headers = ([("Contact", contact)] if contact else []) + [tuple(h.split(": ", 1)) for h in extra]
    return make_response(request, status, to_tag=to_tag, headers=headers)  # type: ignore[arg-type]


def from_peer(dialog: Dialog, method: str, cseq: int, *extra: str) -> Request:
    """A request the other side sends inside `dialog` (its From carries its tag, its To ours)."""
    return message(
        f"{method} {dialog.local_contact or 'sip:pbx@192.0.2.1'} SIP/2.0",
        "Via: SIP/2.0/UDP 192.0.2.99:5062;branch=z9hG4bKpeer" + str(cseq) + method,
        "Max-Forwards: 70",
        f"From: {dialog.remote};tag={dialog.remote_tag}",
        f"To: {dialog.local};tag={dialog.local_tag}",
        f"Call-ID: {dialog.call_id}",
        f"CSeq: {cseq} {method}",
        *extra,
    )  # type: ignore[return-value]


def uas_dialog(*extra: str) -> Dialog:
    return Dialog.as_uas(incoming_invite(*extra), "box-tag", ALICE_PHONE, "<sip:pbx@192.0.2.1:5060>")


def uac_dialog(*extra: str) -> Dialog:
    invite = outgoing_invite()
    return Dialog.as_uac(invite, answer(invite, 200, *extra), BOB_PHONE)


# --- the UAS side (§12.1.1) ----------------------------------------------------------------------

def test_uas_dialog_is_named_by_call_id_and_the_tag_it_puts_in_to():
    dialog = uas_dialog()
    assert (dialog.call_id, dialog.local_tag, dialog.remote_tag) == ("c1@192.0.2.10", "box-tag", "alice-tag")
    assert dialog.key == ("c1@192.0.2.10", "box-tag")


def test_uas_remote_sequence_number_is_the_invites_cseq():
    assert uas_dialog().remote_seq == 314


def test_uas_local_sequence_number_starts_below_two_to_the_31():
    # §8.1.1.5: the initial CSeq of a UAC request "MUST be less than 2**31".
    assert all(0 < uas_dialog().local_seq < 2**31 for _ in range(50))


def test_uas_remote_target_is_the_contact_of_the_invite():
    assert str(uas_dialog().remote_target) == "sip:alice@192.0.2.10:5062"


def test_uas_remote_target_falls_back_to_the_from_uri_without_contact():
    dialog = Dialog.as_uas(incoming_invite(contact=None), "box-tag", ALICE_PHONE)
    assert str(dialog.remote_target) == "sip:2001@pbx.test"


def test_a_dialog_without_any_sip_uri_to_target_is_refused():
    invite = incoming_invite(contact="<tel:+15551234>", from_="<tel:+15551234>;tag=t")
    with pytest.raises(ValueError, match="remote target"):
        Dialog.as_uas(invite, "box-tag", ALICE_PHONE)


def test_uas_route_set_is_the_record_route_in_received_order():
    dialog = uas_dialog("Record-Route: <sip:p1.example;lr>, <sip:p2.example;lr>", "Record-Route: <sip:p3.example;lr>")
    assert dialog.route_set == ["<sip:p1.example;lr>", "<sip:p2.example;lr>", "<sip:p3.example;lr>"]


def test_uas_identities_are_the_invites_to_and_from_without_tags():
    dialog = uas_dialog()
    assert str(dialog.local) == "<sip:2002@pbx.test>"
    assert str(dialog.remote) == '"Alice" <sip:2001@pbx.test>'
    assert dialog.remote.tag is None


def test_uas_dialog_keeps_the_peer_and_our_contact_and_starts_unconfirmed():
    dialog = uas_dialog()
    assert dialog.peer == ALICE_PHONE
    assert dialog.local_contact == "<sip:pbx@192.0.2.1:5060>"
    assert dialog.confirmed is False


# --- the UAC side (§12.1.2) ----------------------------------------------------------------------

def test_uac_dialog_from_a_2xx_takes_the_to_tag_and_contact_of_the_response():
    dialog = uac_dialog()
    assert (dialog.call_id, dialog.local_tag, dialog.remote_tag) == ("c2@pbx.test", "box-tag", "bob-tag")
    assert dialog.key == ("c2@pbx.test", "box-tag")
    assert str(dialog.remote_target) == "sip:bob@192.0.2.20:5064"
    assert dialog.peer == BOB_PHONE


def test_uac_local_sequence_is_the_invites_cseq_and_the_remote_one_is_empty():
    dialog = uac_dialog()
    assert (dialog.local_seq, dialog.remote_seq) == (7, None)


def test_uac_identities_are_the_invites_from_and_to_without_tags():
    dialog = uac_dialog()
    assert str(dialog.local) == '"Alice" <sip:2001@pbx.test>'
    assert str(dialog.remote) == '"Bob" <sip:2002@pbx.test>'
    assert dialog.local_contact == "<sip:pbx@192.0.2.1:5060>"


def test_uac_route_set_is_the_record_route_of_the_response_reversed():
    dialog = uac_dialog("Record-Route: <sip:p3.example;lr>, <sip:p2.example;lr>", "Record-Route: <sip:p1.example;lr>")
    assert dialog.route_set == ["<sip:p1.example;lr>", "<sip:p2.example;lr>", "<sip:p3.example;lr>"]


def test_uac_remote_target_falls_back_to_the_request_uri_without_contact():
    invite = outgoing_invite()
    dialog = Dialog.as_uac(invite, answer(invite, 200, contact=None), BOB_PHONE)
    assert str(dialog.remote_target) == "sip:2002@192.0.2.20:5064"


def test_a_provisional_response_with_a_to_tag_creates_an_early_dialog():
    invite = outgoing_invite()
    early = Dialog.as_uac(invite, answer(invite, 183, contact="<sip:bob@192.0.2.20:5070>"), BOB_PHONE)
    assert (early.remote_tag, early.confirmed) == ("bob-tag", False)
    assert str(early.remote_target) == "sip:bob@192.0.2.20:5070"


def test_the_2xx_of_an_early_dialog_updates_its_remote_target():
    invite = outgoing_invite()
    dialog = Dialog.as_uac(invite, answer(invite, 180, contact="<sip:bob@192.0.2.20:5070>"), BOB_PHONE)
    dialog.update_from_response(answer(invite, 200, contact="<sip:bob@192.0.2.20:5064;ob>"))
    assert str(dialog.remote_target) == "sip:bob@192.0.2.20:5064;ob"
    assert dialog.remote_tag == "bob-tag"


def test_the_2xx_of_another_fork_moves_the_early_dialog_to_that_forks_tag():
    invite = outgoing_invite()
    dialog = Dialog.as_uac(invite, answer(invite, 180, to_tag="fork-1"), BOB_PHONE)
    dialog.update_from_response(answer(invite, 200, to_tag="fork-2", contact="<sip:bob@192.0.2.30>"))
    assert (dialog.remote_tag, str(dialog.remote_target)) == ("fork-2", "sip:bob@192.0.2.30")


def test_the_2xx_recomputes_the_route_set_of_an_early_dialog():
    # §13.2.2.4: on a 2xx matching an early dialog, "the route set for the dialog MUST be recomputed
    # based on the 2xx response".
    invite = outgoing_invite()
    dialog = Dialog.as_uac(invite, answer(invite, 180, "Record-Route: <sip:p1.example;lr>"), BOB_PHONE)
    assert dialog.route_set == ["<sip:p1.example;lr>"]
    dialog.update_from_response(answer(invite, 200, "Record-Route: <sip:p2.example;lr>, <sip:p1.example;lr>"))
    assert dialog.route_set == ["<sip:p1.example;lr>", "<sip:p2.example;lr>"]


def test_a_provisional_response_of_another_fork_brings_that_forks_route_set():
    invite = outgoing_invite()
    dialog = Dialog.as_uac(invite, answer(invite, 180, "Record-Route: <sip:p1.example;lr>", to_tag="fork-1"),
                           BOB_PHONE)
    dialog.update_from_response(answer(invite, 183, "Record-Route: <sip:p9.example;lr>", to_tag="fork-2"))
    assert (dialog.remote_tag, dialog.route_set) == ("fork-2", ["<sip:p9.example;lr>"])
    dialog.update_from_response(answer(invite, 183, to_tag="fork-2"))  # same early dialog: route set kept
    assert dialog.route_set == ["<sip:p9.example;lr>"]


# --- requests inside the dialog (§12.2.1.1) ------------------------------------------------------

def test_in_dialog_request_goes_to_the_remote_target_with_both_tags():
    dialog = uas_dialog()
    bye = dialog.new_request("BYE")
    assert bye.method == "BYE" and str(bye.uri) == "sip:alice@192.0.2.10:5062"
    assert bye.from_.tag == "box-tag" and str(bye.from_.uri) == "sip:2002@pbx.test"
    assert bye.to.tag == "alice-tag" and bye.to.display_name == "Alice"
    assert bye.call_id == "c1@192.0.2.10"


def test_in_dialog_requests_have_increasing_cseq_numbers():
    dialog = uac_dialog()
    numbers = [dialog.new_request(m).cseq for m in ("INFO", "INVITE", "UPDATE", "BYE")]
    assert [(c.number, c.method) for c in numbers] == [(8, "INFO"), (9, "INVITE"), (10, "UPDATE"), (11, "BYE")]
    assert dialog.local_seq == 11


def test_ack_and_cancel_reuse_the_invites_cseq_number_and_leave_the_counter_alone():
    dialog = uac_dialog()
    reinvite = dialog.new_request("INVITE")
    ack = dialog.new_request("ACK", cseq=reinvite.cseq.number)
    cancel = dialog.new_request("CANCEL", cseq=reinvite.cseq.number)
    assert (ack.cseq.number, ack.cseq.method) == (reinvite.cseq.number, "ACK")
    assert (cancel.cseq.number, cancel.cseq.method) == (reinvite.cseq.number, "CANCEL")
    assert dialog.new_request("BYE").cseq.number == reinvite.cseq.number + 1


def test_route_headers_carry_the_route_set_in_order_and_the_uri_stays_the_target():
    dialog = uac_dialog("Record-Route: <sip:p2.example;lr>", "Record-Route: <sip:p1.example;lr>")
    bye = dialog.new_request("BYE")
    assert bye.headers.get_list("Route") == ["<sip:p1.example;lr>", "<sip:p2.example;lr>"]
    assert str(bye.uri) == "sip:bob@192.0.2.20:5064"  # loose routing (RFC 3261 §16.12)


def test_without_a_route_set_no_route_header_is_sent():
    assert "Route" not in uac_dialog().new_request("BYE").headers


def test_a_strict_router_in_the_route_set_is_still_addressed_by_loose_routing():
    # The module does no RFC 2543 strict routing on purpose (every element it meets uses ;lr).
    dialog = uac_dialog("Record-Route: <sip:old-proxy.example>")
    bye = dialog.new_request("BYE")
    assert str(bye.uri) == "sip:bob@192.0.2.20:5064"
    assert bye.headers.get_list("Route") == ["<sip:old-proxy.example>"]


@pytest.mark.parametrize("method", ["INVITE", "UPDATE", "SUBSCRIBE", "NOTIFY", "REFER"])
def test_target_refresh_requests_carry_our_contact(method):
    assert uas_dialog().new_request(method).headers.get("Contact") == "<sip:pbx@192.0.2.1:5060>"


@pytest.mark.parametrize("method", ["BYE", "INFO", "OPTIONS", "ACK", "MESSAGE"])
def test_other_requests_carry_no_contact(method):
    assert "Contact" not in uas_dialog().new_request(method, cseq=1 if method == "ACK" else None).headers


def test_a_body_gets_a_content_type_sdp_unless_told_otherwise():
    dialog = uas_dialog()
    reinvite = dialog.new_request("INVITE", body=b"v=0\r\n")
    info = dialog.new_request("INFO", body=b"Signal=5\r\nDuration=160\r\n", content_type="application/dtmf-relay")
    assert (reinvite.content_type, reinvite.body) == ("application/sdp", b"v=0\r\n")
    assert info.content_type == "application/dtmf-relay"
    assert "Content-Type" not in dialog.new_request("BYE").headers


def test_extra_headers_are_added_as_given():
    bye = uas_dialog().new_request("BYE", headers=[("Reason", 'Q.850;cause=16;text="Normal call clearing"')])
    assert bye.headers.get("Reason") == 'Q.850;cause=16;text="Normal call clearing"'


def test_a_peer_that_sent_no_from_tag_gets_a_to_without_tag():
    # An RFC 2543 phone: no From tag, so the dialog's remote tag is empty and To carries none.
    dialog = Dialog.as_uas(incoming_invite(from_="<sip:2001@pbx.test>"), "box-tag", ALICE_PHONE)
    assert dialog.remote_tag is None
    assert dialog.new_request("BYE").headers.get("To") == "<sip:2001@pbx.test>"


def test_an_in_dialog_request_passes_the_boxs_own_validation_once_it_has_a_via():
    dialog = uac_dialog("Record-Route: <sip:p1.example;lr>")
    reinvite = dialog.new_request("INVITE", body=b"v=0\r\n")
    reinvite.headers.add_first("Via", "SIP/2.0/UDP 192.0.2.1:5060;rport;branch=z9hG4bKre1")
    reinvite.headers.add("Max-Forwards", "70")
    reparsed = parse_message(reinvite.serialize())
    assert isinstance(reparsed, Request) and validate_request(reparsed) is None
    assert (reparsed.cseq.number, reparsed.body) == (8, b"v=0\r\n")


# --- requests from the remote side (§12.2.2) -----------------------------------------------------

def test_a_request_from_the_remote_side_names_the_dialog_by_call_id_and_its_to_tag():
    for dialog in (uas_dialog(), uac_dialog()):
        bye = from_peer(dialog, "BYE", 1000)
        assert (bye.call_id, bye.to.tag) == dialog.key
        assert bye.from_.tag == dialog.remote_tag


def test_a_higher_remote_cseq_is_accepted_and_remembered():
    dialog = uas_dialog()
    assert dialog.accept_remote_cseq(from_peer(dialog, "INFO", 315))
    assert dialog.accept_remote_cseq(from_peer(dialog, "BYE", 400))  # gaps are allowed
    assert dialog.remote_seq == 400


@pytest.mark.parametrize("cseq", [313, 314])
def test_a_lower_or_repeated_remote_cseq_is_refused_and_forgotten(cseq):
    # §12.2.2: lower means out of order, answered 500 by the dialog's user (legs.py, subscriptions.py).
    dialog = uas_dialog()
    assert not dialog.accept_remote_cseq(from_peer(dialog, "BYE", cseq))
    assert dialog.remote_seq == 314


def test_ack_and_cancel_with_the_invites_cseq_are_accepted_without_moving_the_remote_sequence():
    dialog = uas_dialog()
    assert dialog.accept_remote_cseq(from_peer(dialog, "ACK", 314))
    assert dialog.accept_remote_cseq(from_peer(dialog, "CANCEL", 314))
    assert dialog.remote_seq == 314


def test_a_uac_dialog_takes_the_first_remote_cseq_whatever_it_is():
    # §12.2.2: "If the remote sequence number is empty, it MUST be set to the value of the sequence number".
    dialog = uac_dialog()
    assert dialog.accept_remote_cseq(from_peer(dialog, "INFO", 1))
    assert dialog.remote_seq == 1
    assert not dialog.accept_remote_cseq(from_peer(dialog, "INFO", 1))


# --- target refresh (§12.2) ------------------------------------------------------------------------

def test_a_reinvite_with_a_new_contact_moves_the_remote_target():
    dialog = uas_dialog()
    reinvite = from_peer(dialog, "INVITE", 315, "Contact: <sip:alice@198.51.100.7:6000;transport=tcp>")
    dialog.refresh_target(reinvite)
    assert str(dialog.new_request("BYE").uri) == "sip:alice@198.51.100.7:6000;transport=tcp"


def test_an_update_without_contact_keeps_the_remote_target():
    dialog = uas_dialog()
    dialog.refresh_target(from_peer(dialog, "UPDATE", 315))
    assert str(dialog.remote_target) == "sip:alice@192.0.2.10:5062"


def test_a_non_sip_contact_does_not_become_the_remote_target():
    dialog = uas_dialog()
    dialog.refresh_target(from_peer(dialog, "INVITE", 315, "Contact: <tel:+15551234>"))
    assert str(dialog.remote_target) == "sip:alice@192.0.2.10:5062"


def test_the_2xx_of_our_reinvite_refreshes_the_target_but_not_the_route_set():
    # §12.2.1.2: a target refresh response may change the remote target; the route set never changes
    # once the dialog is established.
    dialog = uac_dialog("Record-Route: <sip:p1.example;lr>")
    dialog.confirmed = True
    reinvite = dialog.new_request("INVITE")
    reinvite.headers.add_first("Via", "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKre2")
    dialog.update_from_response(answer(reinvite, 200, "Record-Route: <sip:elsewhere.example;lr>",
                                       contact="<sip:bob@203.0.113.5:5090>"))
    assert str(dialog.remote_target) == "sip:bob@203.0.113.5:5090"
    assert dialog.route_set == ["<sip:p1.example;lr>"]
    assert dialog.remote_tag == "bob-tag"
