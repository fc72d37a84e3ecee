"""SIP messages: captured traffic round-trips, typed accessors, serialization, make_response, hardening, validation.

Fixtures in tests/fixtures/sip/captured/ (see its README): pjsua2/, baresip/ and sipp/ were captured on loopback
from the real programs; styled/ are hand-written in the style of Yealink, Polycom, Linphone, Zoiper, an edge proxy
and a carrier SBC (Path, Record-Route, several Vias, IPv6, compact forms).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from appliance.sip.headers import parse_auth_params
from appliance.sip.message import (
    MAX_MESSAGE_SIZE,
    Headers,
    Request,
    Response,
    SipParseError,
    make_response,
    parse_message,
    validate_request,
    validate_response,
)
from appliance.sip.uri import AbsoluteUri, SipUri

CAPTURED = Path(__file__).resolve().parents[2] / "fixtures" / "sip" / "captured"
CAPTURED_FILES = sorted(CAPTURED.rglob("*.sip"))


def load(name: str) -> bytes:
    return (CAPTURED / name).read_bytes()


def start_line(m: Request | Response) -> tuple:
    return (m.method, m.uri_text, m.version) if isinstance(m, Request) else (m.status, m.reason, m.version)


def without_length(m: Request | Response) -> list[tuple[str, str]]:
    return [(n, v) for n, v in m.headers if n != "Content-Length"]


def request(extra: str = "", method: str = "OPTIONS", uri: str = "sip:bob@example.com", cseq: str | None = None,
            body: bytes = b"") -> bytes:
    lines = [f"{method} {uri} SIP/2.0",
             "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKtest1",
             "From: <sip:alice@example.com>;tag=a1",
             "To: <sip:bob@example.com>",
             "Call-ID: test-1@192.0.2.1",
             f"CSeq: {cseq or '1 ' + method}",
             "Max-Forwards: 70"]
    lines += [line for line in extra.split("\n") if line]
    return ("\r\n".join(lines) + f"\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body


# --- captured traffic ------------------------------------------------------------------------------------------

def test_there_are_captures_from_each_source() -> None:
    groups = {p.parent.name for p in CAPTURED_FILES}
    assert groups == {"pjsua2", "baresip", "sipp", "styled"} and len(CAPTURED_FILES) >= 35


@pytest.mark.parametrize("path", CAPTURED_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_captured_message_round_trips_and_is_stable(path: Path) -> None:
    original = parse_message(path.read_bytes())
    wire = original.serialize()
    again = parse_message(wire)
    assert start_line(again) == start_line(original)
    assert without_length(again) == without_length(original)
    assert again.body == original.body
    assert again.serialize() == wire


@pytest.mark.parametrize("path", CAPTURED_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_captured_message_typed_accessors_work(path: Path) -> None:
    m = parse_message(path.read_bytes())
    assert m.vias and all(v.has_rfc3261_branch for v in m.vias)
    assert m.from_.tag
    assert m.call_id and m.cseq.number >= 0
    for contact in m.contacts:
        assert isinstance(contact.uri, SipUri)
    for name in ("Record-Route", "Route", "Path"):
        assert all(na.sip_uri.params.get("lr", "") is None for na in m.name_addresses(name))
    if isinstance(m, Request):
        assert validate_request(m, strict=True) is None and m.cseq.method in (m.method, "INVITE")
        assert isinstance(m.uri, SipUri)
    else:
        assert validate_response(m) is None and (m.to.tag or m.status == 100)


def test_pjsua2_register_with_digest_credentials() -> None:
    m = parse_message(load("pjsua2/register_with_authorization.sip"))
    assert m.method == "REGISTER" and m.expires == 300
    scheme, creds = parse_auth_params(m.headers.get("Authorization") or "")
    assert scheme == "Digest" and creds["username"] == "1001" and creds["realm"] == "pbx.local"
    assert creds["qop"] == "auth" and creds["nc"] == "00000001" and creds["algorithm"] == "MD5"
    (contact,) = m.contacts
    assert contact.sip_uri.params == {"ob": None}  # RFC 5626 outbound flag, as pjsua sends it


def test_pjsua2_invite_header_style() -> None:
    data = load("pjsua2/invite.sip")
    assert b"Content-Length:   330\r\n" in data  # pjsua pads the value; we write it plainly
    m = parse_message(data)
    assert m.from_.display_name is None and m.from_.sip_uri.port is None  # pjsua leaves the port out of From/To
    assert m.headers.get_list("Supported") == ["replaces", "100rel", "timer", "norefersub"]
    assert m.headers.get("Session-Expires") == "1800" and m.headers.get("Min-SE") == "90"
    assert m.vias[0].params["rport"] is None and m.vias[0].branch.startswith("z9hG4bKPj")
    assert len(m.body) == 330 and m.content_type == "application/sdp"
    assert b"Content-Length: 330\r\n" in m.serialize()


def test_pjsua2_hold_reinvite_and_notify() -> None:
    hold = parse_message(load("pjsua2/reinvite_hold.sip"))
    assert hold.to.tag == "srv4" and b"a=sendonly" in hold.body
    notify = parse_message(load("pjsua2/notify_presence.sip"))
    assert notify.headers.get("Subscription-State") == "active;expires=600"
    assert notify.content_type == "application/pidf+xml" and notify.body.startswith(b"<?xml")


def test_baresip_empty_supported_header_and_contact_user() -> None:
    m = parse_message(load("baresip/invite.sip"))
    assert m.headers.get("Supported") == "" and m.headers.get_list("Supported") == []
    assert m.contacts[0].sip_uri.user == "1003-0x557575290cc0"


def test_sipp_unquoted_display_names() -> None:
    m = parse_message(load("sipp/invite.sip"))
    assert m.from_.display_name == "sipp" and m.to.display_name == "1002"
    assert m.contacts[0].params == {} and str(m.contacts[0].uri) == "sip:sipp@127.0.0.1:57979"


def test_invite_through_an_edge_proxy_has_two_vias_and_record_routes() -> None:
    m = parse_message(load("styled/yealink_invite_via_edge_proxy.sip"))
    assert [v.host for v in m.vias] == ["10.0.0.5", "192.168.1.50"]
    assert m.vias[1].params["received"] == "198.51.100.23" and m.vias[1].params["rport"] == "48291"
    assert [na.sip_uri.host for na in m.name_addresses("Record-Route")] == ["10.0.0.5", "203.0.113.5"]
    assert m.max_forwards == 69 and m.contacts[0].sip_uri.params["alias"] == "198.51.100.23~48291~1"


def test_response_with_comma_joined_record_route_and_three_vias() -> None:
    m = parse_message(load("styled/yealink_response_200_invite_record_route.sip"))
    assert isinstance(m, Response) and m.status == 200 and len(m.vias) == 3
    assert m.headers.get_list("Record-Route") == ["<sip:10.0.0.5;lr;r2=on;ftag=2813594410>",
                                                  "<sip:203.0.113.5;lr;r2=on;ftag=2813594410>"]
    assert m.contacts[0].sip_uri.transport == "tcp"


def test_register_through_an_ipv6_edge_proxy_with_path() -> None:
    m = parse_message(load("styled/edge_register_path_ipv6.sip"))
    (path,) = m.name_addresses("Path")
    assert path.sip_uri.host == "2001:db8::1" and path.sip_uri.params == {"lr": None, "ob": None}
    assert [(v.host, v.port) for v in m.vias] == [("2001:db8::1", None), ("2001:db8:20::99", 5062)]
    assert m.vias[1].params["received"] == "2001:db8:20::99"
    (contact,) = m.contacts
    assert contact.sip_uri.host == "2001:db8:20::99" and contact.params["reg-id"] == "1"


def test_linphone_register_over_ipv6_tcp() -> None:
    m = parse_message(load("styled/linphone_register_ipv6_tcp.sip"))
    assert m.vias[0].transport == "TCP" and m.vias[0].params["alias"] is None
    assert m.headers.get_list("Accept") == ["application/sdp", "text/plain", "application/vnd.gsma.rcs-ft-http+xml"]
    assert m.contacts[0].params["+org.linphone.specs"] == '"conference/1.0,ephemeral/1.1,groupchat/1.1,lime"'
    assert m.to.display_name is None and m.to.sip_uri.user == "203"  # To as a bare addr-spec


def test_polycom_contact_with_quoted_methods_list() -> None:
    m = parse_message(load("styled/polycom_register_tcp.sip"))
    (contact,) = m.contacts  # the commas inside methods="…" do not split the Contact
    assert contact.params["methods"].startswith('"INVITE,ACK') and contact.params["reg-id"] == "1"


def test_trunk_invite_in_compact_forms() -> None:
    data = load("styled/trunk_invite_compact_forms.sip")
    m = parse_message(data)
    names = [n for n, _ in m.headers]
    assert names[:5] == ["Via", "Via", "From", "To", "Call-ID"] and "Content-Length" in names
    assert m.headers.get("x") == "600;refresher=uac" and m.headers.get("Session-Expires") == "600;refresher=uac"
    assert m.uri.params == {"user": "phone"} and len(m.vias) == 2
    assert isinstance(m.name_addresses("P-Asserted-Identity")[0].uri, AbsoluteUri)
    wire = m.serialize()
    assert b"\r\nVia: " in wire and b"\r\nv: " not in wire  # written in long form


def test_two_digest_challenges_in_a_401() -> None:
    m = parse_message(load("styled/response_401_two_challenges.sip"))
    challenges = [parse_auth_params(v) for v in m.headers.get_fields("WWW-Authenticate")]
    assert [p["algorithm"] for _, p in challenges] == ["SHA-256", "MD5"]
    assert all(p["qop"] == "auth,auth-int" for _, p in challenges)


def test_refer_to_with_escaped_replaces() -> None:
    m = parse_message(load("styled/refer_with_replaces.sip"))
    (refer_to,) = m.name_addresses("Refer-To")
    assert refer_to.sip_uri.header_fields() == [
        ("Replaces", "0_1148901224@192.168.1.52;to-tag=771900313;from-tag=2004452181")]


# --- serialization -----------------------------------------------------------------------------------------------

def test_content_length_is_rewritten_in_place_to_match_the_body() -> None:
    m = parse_message(request("Subject: x", body=b"hello"))
    m.body = b"hello, world"
    wire = m.serialize().decode()
    assert "\r\nContent-Length: 12\r\n\r\nhello, world" in wire
    assert [n for n, _ in parse_message(m.serialize()).headers][-1] == "Content-Length"
    mid = parse_message(b"OPTIONS sip:a@b SIP/2.0\r\nl: 0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\r\n")
    assert [n for n, _ in mid.headers] == ["Content-Length", "Via"]
    assert mid.serialize().startswith(b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 0\r\nVia:")


def test_content_length_is_added_when_missing() -> None:
    r = Request("OPTIONS", "sip:a@example.com", Headers([("Via", "SIP/2.0/UDP h;branch=z9hG4bK1")]), b"xy")
    assert r.serialize() == b"OPTIONS sip:a@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n" \
                            b"Content-Length: 2\r\n\r\nxy"


@pytest.mark.parametrize("name, value", [("Subject", "a\r\nVia: forged"), ("Subject", "a\nb"), ("X-A", "a\rb")])
def test_serializing_a_header_value_with_cr_or_lf_is_refused(name: str, value: str) -> None:
    r = Request("OPTIONS", "sip:a@example.com")
    r.headers.add(name, value)
    with pytest.raises(ValueError):
        r.serialize()


def test_invalid_utf8_survives_a_round_trip_byte_for_byte() -> None:
    data = request("Subject: caf\xe9 \xff\xfe\nX-Name: \xc3\x28".encode("latin-1").decode("latin-1"))
    raw = data.decode("latin-1").encode("latin-1")
    m = parse_message(raw)
    assert m.serialize() == raw


def test_headers_lookup_is_case_insensitive_and_knows_compact_forms() -> None:
    h = Headers([("via", "a"), ("V", "b"), ("call-id", "c"), ("X-Foo", "1, 2")])
    assert h.get_fields("Via") == ["a", "b"] and h.get("i") == "c" and "CALL-ID" in h
    assert h.get_list("x-foo") == ["1, 2"]  # unknown headers are not lists
    h.add_first("Via", "z")
    h.set("Call-ID", "d")
    h.add("Route", "<sip:p;lr>")
    h.remove("X-Foo")
    assert list(h) == [("Via", "z"), ("Via", "a"), ("Via", "b"), ("Call-ID", "d"), ("Route", "<sip:p;lr>")]
    copy = h.copy()
    copy.set("Via", "only")
    assert h.get_fields("Via") == ["z", "a", "b"] and copy.get_fields("Via") == ["only"] and len(copy) == 3


def test_via_cache_follows_header_edits_and_set_vias_writes_back() -> None:
    m = parse_message(request())
    assert [v.host for v in m.vias] == ["192.0.2.1"]
    m.headers.add_first("Via", "SIP/2.0/TCP proxy.example.com;branch=z9hG4bKp")
    assert [v.host for v in m.vias] == ["proxy.example.com", "192.0.2.1"]
    vias = m.vias
    vias[1].params["received"] = "198.51.100.9"
    m.set_vias(vias)
    assert m.headers.get_fields("Via")[1] == "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKtest1;received=198.51.100.9"
    assert list(m.headers)[0][0] == "Via" and m.vias is not None and len(m.vias) == 2


# --- make_response -----------------------------------------------------------------------------------------------

def test_make_response_copies_the_dialog_identifiers() -> None:
    req = parse_message(load("styled/yealink_invite_via_edge_proxy.sip"))
    resp = make_response(req, 180, to_tag="as12", headers=[("Contact", "<sip:1002@192.168.1.10>")])
    assert resp.reason == "Ringing"
    assert resp.headers.get_fields("Via") == req.headers.get_fields("Via")
    assert resp.headers.get("From") == req.headers.get("From") and resp.call_id == req.call_id
    assert resp.headers.get("CSeq") == "1 INVITE" and resp.to.tag == "as12"
    again = parse_message(resp.serialize())
    assert again.status == 180 and again.contacts[0].sip_uri.host == "192.168.1.10"
    assert "Record-Route" not in again.headers  # copying it is the dialog layer's choice (RFC 3261 §12.1.1)


def test_make_response_keeps_an_existing_to_tag_and_never_tags_a_100() -> None:
    tagged = parse_message(load("pjsua2/bye.sip"))
    assert make_response(tagged, 200, to_tag="other").to.tag == "srv4"
    req = parse_message(request("Timestamp: 54.2"))
    trying = make_response(req, 100, to_tag="x")
    assert trying.to.tag is None and trying.headers.get("Timestamp") == "54.2" and trying.reason == "Trying"
    assert make_response(req, 486, "Busy Here", to_tag="t", body=b"x").serialize().endswith(b"Content-Length: 1\r\n\r\nx")


def test_make_response_to_a_request_missing_headers_still_serializes() -> None:
    with pytest.raises(SipParseError) as info:
        parse_message(b"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:c@d>;tag=1\r\n"
                      b"To: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 10\r\n\r\nshort")
    resp = make_response(info.value.request, 400, to_tag="t")
    assert parse_message(resp.serialize()).to.tag == "t"
    bare = make_response(Request("OPTIONS", "sip:a@b"), 400, to_tag="t")
    assert bare.headers.get("To") == "" and parse_message(bare.serialize()).status == 400


# --- parsing edge cases ------------------------------------------------------------------------------------------

def test_leading_crlfs_and_bare_lf_line_endings_are_tolerated() -> None:
    m = parse_message(b"\r\n\r\n" + request())
    assert m.method == "OPTIONS"
    lf = parse_message(request(body=b"a\r\n\r\nb").replace(b"\r\n", b"\n", 9))
    assert lf.cseq.number == 1 and lf.body == b"a\r\n\r\nb"
    mixed = parse_message(request(body=b"a\r\n\r\nb").replace(b"\r\n", b"\n", 8))
    assert mixed.headers.get("Content-Length") == "6" and mixed.body == b"a\r\n\r\nb"
    assert parse_message(request(body=b"a\n\nb")).body == b"a\n\nb"  # LF pairs in a CRLF message's body


def test_datagram_without_content_length_takes_the_rest_as_body() -> None:
    m = parse_message(b"MESSAGE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\r\nhello\r\n")
    assert m.body == b"hello\r\n"


def test_extra_bytes_after_the_body_are_ignored() -> None:
    m = parse_message(request(body=b"abc") + b"garbage")
    assert m.body == b"abc"


def test_status_line_forms() -> None:
    assert parse_message(b"SIP/2.0 180 Ringing\r\n\r\n").reason == "Ringing"
    assert parse_message(b"SIP/2.0 200\r\n\r\n").reason == ""
    assert parse_message(b"sip/2.0 404 Not  Found\r\n\r\n").reason == "Not  Found"
    for bad in (b"SIP/2.0 2000 OK", b"SIP/2.0 099 X", b"SIP/2.0 700 X", b"SIP/3.0 200 OK", b"SIP/2.0  200 OK",
                b"SIP/2.0 \xd9\xa1\xd9\xa0\xd9\xa0 X"):
        with pytest.raises(SipParseError):
            parse_message(bad + b"\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\r\n")


def test_request_line_forms() -> None:
    assert parse_message(request(method="NEWMETHOD")).method == "NEWMETHOD"
    assert parse_message(request().replace(b"SIP/2.0\r\n", b"sip/2.0\r\n", 1)).version == "sip/2.0"
    for bad in (b"INVITE sip:a@b\r\n", b"INV<ITE sip:a@b SIP/2.0\r\n", b"INVITE sip:a@b HTTP/1.1\r\n",
                b"GET / HTTP/1.1\r\n", b"INVITE\tsip:a@b\tSIP/2.0\r\n"):
        with pytest.raises(SipParseError):
            parse_message(bad + b"\r\n")


# --- hardening: only SipParseError, never anything else ----------------------------------------------------------

def test_oversized_message_is_refused() -> None:
    with pytest.raises(SipParseError):
        parse_message(request(body=b"x" * MAX_MESSAGE_SIZE))


def test_too_many_header_fields_are_refused() -> None:
    extra = "\n".join(f"X-H{i}: {i}" for i in range(300))
    with pytest.raises(SipParseError) as info:
        parse_message(request(extra))
    # Refused, but answerable: the headers a 400 needs were readable.
    assert info.value.response_possible and info.value.request is not None


def test_header_line_without_colon_is_refused_but_answerable() -> None:
    with pytest.raises(SipParseError) as info:
        parse_message(request("This line has no colon"))
    assert info.value.response_possible and info.value.request.method == "OPTIONS"
    with pytest.raises(SipParseError) as info:
        parse_message(b"OPTIONS sip:a@b SIP/2.0\r\n no header before this continuation\r\n\r\n")
    assert not info.value.response_possible


def test_ack_is_never_answerable() -> None:
    with pytest.raises(SipParseError) as info:
        parse_message(request("Broken line", method="ACK"))
    assert not info.value.response_possible and info.value.request is None


@pytest.mark.parametrize("data", [
    b"OPTIONS sip:a@b SIP/2.0\x00\r\n\r\n",
    b"OPTIONS sip:a@b SIP/2.0\r\nVi\x00a: x\r\n\r\n",
    b"OPTIONS sip:a@b SIP/2.0\r\nSubject: a\x00b\r\n\r\n",
    b"OPTIONS sip:a@b SIP/2.0\r\nSubject: a\rb\r\n\r\n",
    b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: \xd9\xa3\r\n\r\nabc",
    b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: " + b"9" * 5000 + b"\r\n\r\n",
    b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 1e3\r\n\r\n",
    b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 3\r\nl: 4\r\n\r\nabcd",
    b"\xff\xfe\xfd sip:a@b SIP/2.0\r\n\r\n",
    b"OPTIONS sip:a@b SIP/2.0\r\nVia: x",
    b"", b"\r\n\r\n", b"\x00" * 100, b":\r\n\r\n", b"SIP/2.0\r\n\r\n",
])
def test_garbage_raises_sip_parse_error_only(data: bytes) -> None:
    with pytest.raises(SipParseError):
        parse_message(data)


def test_nul_inside_a_quoted_pair_is_accepted() -> None:
    m = parse_message(request('Subject: "nul:\\\x00"'))
    assert m.headers.get("Subject") == '"nul:\\\x00"'


def test_invalid_utf8_does_not_crash_the_accessors() -> None:
    m = parse_message(request().replace(b"<sip:alice@example.com>", b'"\xff\xfe" <sip:al\xe9ce@example.com>'))
    assert m.from_.display_name == "\udcff\udcfe" and m.from_.sip_uri.user == "al\udce9ce"
    assert validate_request(m) is None


def test_extremely_long_single_line_is_handled_quickly() -> None:
    started = time.perf_counter()
    long_value = "a" * (MAX_MESSAGE_SIZE - 400)
    m = parse_message(request(f"Subject: {long_value}"))
    assert m.headers.get("Subject") == long_value
    for value in ('"' * 60000, "<" * 60000, ",;" * 30000, "%" * 60000):
        m = parse_message(request(f"Contact: {value}"))
        with pytest.raises(ValueError):
            _ = m.contacts
        assert validate_request(m) == (400, "Bad Contact")
    with pytest.raises(SipParseError):
        parse_message(b"OPTIONS sip:a@b SIP/2.0\r\n" + b"X" * 65000 + b"\r\n\r\n")
    assert time.perf_counter() - started < 5


# --- validate_request / validate_response ------------------------------------------------------------------------

def test_a_plain_request_is_valid() -> None:
    assert validate_request(parse_message(request())) is None
    assert validate_request(parse_message(request(uri="tel:+4930123"))) is None
    assert validate_request(parse_message(request(uri="sips:bob@example.com"))) is None


@pytest.mark.parametrize("extra, method, cseq, expected", [
    ("", "OPTIONS", "99999999999 OPTIONS", (400, "Bad CSeq")),
    ("", "OPTIONS", "1 INVITE", (400, "CSeq method does not match the request method")),
    ("Call-ID: second@x", "OPTIONS", None, (400, "Multiple Call-ID headers")),
    ("Max-Forwards: 69", "OPTIONS", None, (400, "Multiple Max-Forwards headers")),
    ("Expires: -5", "OPTIONS", None, (400, "bad Expires: '-5'")),
    ("Expires: soon", "OPTIONS", None, (400, "bad Expires: 'soon'")),
    ("Contact: <sip:a@b>;expires=never", "REGISTER", None, (400, "Bad Contact expires")),
    ("Contact: *", "OPTIONS", None, (400, "Contact * needs a lone REGISTER Contact and Expires: 0")),
    ("Contact: *\nExpires: 60", "REGISTER", None, (400, "Contact * needs a lone REGISTER Contact and Expires: 0")),
    ("Contact: *\nExpires: 0", "REGISTER", None, None),
    ("Route: <sip:proxy;lr", "OPTIONS", None, (400, "Bad Route")),
    ("Record-Route: garbage here", "OPTIONS", None, (400, "Bad Record-Route")),
    ("Content-Type: text/plain\nContent-Type: text/html", "OPTIONS", None, (400, "Multiple Content-Type headers")),
])
def test_request_semantic_errors(extra: str, method: str, cseq: str | None, expected: tuple | None) -> None:
    assert validate_request(parse_message(request(extra, method=method, cseq=cseq))) == expected


@pytest.mark.parametrize("old, new, expected", [
    (b"Max-Forwards: 70", b"Max-Forwards: -1", (400, "bad Max-Forwards: '-1'")),
    (b"Max-Forwards: 70", b"Max-Forwards: seventy", (400, "bad Max-Forwards: 'seventy'")),
    (b"Call-ID: test-1@192.0.2.1", b"Call-ID: a b", (400, "Bad Call-ID")),
    (b"Call-ID: test-1@192.0.2.1", b"Call-ID:", (400, "Bad Call-ID")),
    (b"To: <sip:bob@example.com>", b"To: <sip:bob@example.com>, <sip:eve@example.com>", (400, "Multiple To values")),
    (b"From: <sip:alice@example.com>;tag=a1", b"From: *", (400, "Bad From")),
    (b"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKtest1", b"Via: SIP/2.0/UDP", (400, "Bad Via")),
    (b"OPTIONS sip:bob@example.com SIP/2.0", b"OPTIONS sip:bob@example.com SIP/2.1", (505, "Version Not Supported")),
    (b"OPTIONS sip:bob@example.com SIP/2.0", b"OPTIONS mailto:bob@example.com SIP/2.0", (416, "Unsupported URI Scheme")),
    (b"OPTIONS sip:bob@example.com SIP/2.0", b"OPTIONS sip:bob@exa%mple.com SIP/2.0", (400, "Bad Request-URI")),
])
def test_more_request_semantic_errors(old: bytes, new: bytes, expected: tuple) -> None:
    assert validate_request(parse_message(request().replace(old, new))) == expected


def test_strict_validation_refuses_what_the_default_tolerates() -> None:
    m = parse_message(request("Date: Sat, 13 Nov 2010 23:29:00 UTC").replace(b"Max-Forwards: 70", b"Max-Forwards: 300"))
    assert validate_request(m) is None
    assert validate_request(m, strict=True) == (400, "Bad Date")
    ok = parse_message(request("Date: Sat, 13 Nov 2010 23:29:00 GMT").replace(b"Max-Forwards: 70", b"Max-Forwards: 300"))
    assert validate_request(ok, strict=True) == (400, "Bad Max-Forwards")


def test_response_validation() -> None:
    ok = parse_message(load("pjsua2/response_200_invite.sip"))
    assert validate_response(ok) is None
    no_cseq = parse_message(b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\n"
                            b"To: <sip:c@d>;tag=2\r\nCall-ID: x\r\n\r\n")
    assert validate_response(no_cseq) == "missing CSeq"
    two_to = parse_message(ok.serialize().replace(b"\r\nCSeq:", b"\r\nTo: <sip:x@y>\r\nCSeq:", 1))
    assert validate_response(two_to) == "multiple To headers"
