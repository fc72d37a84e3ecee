"""RFC 4475 (SIP torture test messages) against the parser, the serializer and `validate_request`.

The 49 messages live byte-exact in tests/fixtures/sip/torture/<name>.dat (the RFC's own file names).
Which layer owns which verdict:

- §3.1.1 valid messages: the parser must accept them, get the facts the RFC lists right, and
  round-trip them (parse → serialize → parse gives the same start line, header values and body).
- §3.1.2 invalid messages: either `parse_message` raises SipParseError (with `response_possible`
  and a partial request when the RFC wants a 400 answered) or `validate_request` (or
  `validate_response` for responses, which are dropped) returns the status the RFC names.
- §3.2 (transaction layer: badbranch) and §3.3 (application layer: insuf … sdp01) are decided
  above the parser; the parser's part, tested here, is to accept them and expose what the upper
  layer decides on (Via branch, Require, Content-Type, Authorization scheme, Contact params …).
  Those verdicts that fall to `validate_request` (missing headers 400, unknown scheme 416,
  multiple single values 400, conflicting Content-Length) are tested here as well.
- §3.4 (inv2543, RFC 2543 syntax) must be accepted for backward compatibility.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.sip.headers import parse_auth_params
from appliance.sip.message import (
    Request,
    Response,
    SipParseError,
    StreamFramer,
    make_response,
    parse_message,
    validate_request,
    validate_response,
)
from appliance.sip.uri import AbsoluteUri, SipUri

TORTURE = Path(__file__).resolve().parents[2] / "fixtures" / "sip" / "torture"

VALID = ["wsinv", "intmeth", "esc01", "escnull", "esc02", "lwsdisp", "longreq", "dblreq", "semiuri",
         "transports", "mpart01", "unreason", "noreason"]                                    # §3.1.1
INVALID = ["badinv01", "clerr", "ncl", "scalar02", "scalarlg", "quotbal", "ltgtruri", "lwsruri", "lwsstart",
           "trws", "escruri", "baddate", "regbadct", "badaspec", "baddn", "badvers", "mismatch01",
           "mismatch02", "bigcode"]                                                            # §3.1.2
TRANSACTION_LAYER = ["badbranch"]                                                              # §3.2
APPLICATION_LAYER = ["insuf", "unkscm", "novelsc", "unksm2", "bext01", "invut", "regaut01", "multi01",
                     "mcl01", "bcast", "zeromf", "cparam01", "cparam02", "regescrt", "sdp01"]  # §3.3
BACKWARD = ["inv2543"]                                                                         # §3.4
PARSEABLE = VALID + TRANSACTION_LAYER + [n for n in APPLICATION_LAYER if n != "mcl01"] + BACKWARD


def load(name: str) -> bytes:
    return (TORTURE / f"{name}.dat").read_bytes()


def parse(name: str) -> Request | Response:
    return parse_message(load(name))


def start_line(message: Request | Response) -> tuple:
    if isinstance(message, Request):
        return ("request", message.method, message.uri_text, message.version)
    return ("response", message.status, message.reason, message.version)


def assert_round_trips(message: Request | Response) -> None:
    wire = message.serialize()
    again = parse_message(wire)
    assert start_line(again) == start_line(message)
    assert [(n, v) for n, v in again.headers if n != "Content-Length"] == \
        [(n, v) for n, v in message.headers if n != "Content-Length"]
    assert again.body == message.body
    assert again.headers.get_fields("Content-Length") == [str(len(message.body))]
    assert again.serialize() == wire  # serialization is a fixed point after one pass


def test_the_fixture_set_is_the_rfcs_49_messages() -> None:
    names = VALID + INVALID + TRANSACTION_LAYER + APPLICATION_LAYER + BACKWARD
    assert len(names) == len(set(names)) == 49
    assert sorted(p.stem for p in TORTURE.glob("*.dat")) == sorted(names)


@pytest.mark.parametrize("name", PARSEABLE)
def test_well_formed_message_parses_and_round_trips(name: str) -> None:
    assert_round_trips(parse(name))


@pytest.mark.parametrize("name", VALID)
def test_valid_message_passes_validation(name: str) -> None:
    message = parse(name)
    if isinstance(message, Request):
        assert validate_request(message) is None
        assert validate_request(message, strict=True) is None
    else:
        assert validate_response(message) is None


# --- §3.1.1 valid messages: the facts a parser must get ---------------------------------------------------------

def test_wsinv_short_tortuous_invite() -> None:
    m = parse("wsinv")
    assert isinstance(m, Request) and m.method == "INVITE"
    assert m.uri_text == "sip:vivekg@chair-dnrc.example.com;unknownparam"
    assert isinstance(m.uri, SipUri) and m.uri.user == "vivekg" and m.uri.params == {"unknownparam": None}
    assert m.to.display_name is None and str(m.to.uri) == "sip:vivekg@chair-dnrc.example.com"
    assert m.to.tag == "1918181833n"
    assert m.from_.display_name == 'J Rosenberg \\"'  # "J Rosenberg \\\"" unquoted
    assert m.from_.tag == "98asjd8" and str(m.from_.uri) == "sip:jdrosen@example.com"
    assert m.max_forwards == 68  # leading zeros
    assert m.cseq.number == 9 and m.cseq.method == "INVITE"  # folded, leading zeros
    assert [(v.transport, v.host, v.branch) for v in m.vias] == [
        ("UDP", "192.0.2.2", "390skdjuw"),
        ("TCP", "spindle.example.com", "z9hG4bK9ikj8"),
        ("UDP", "192.168.255.111", "z9hG4bK30239"),
    ]
    assert m.headers.get("Subject") == ""  # 's :' with an empty value
    assert m.headers.get("NewFangledHeader") == "newfangled value continued newfangled value"
    assert m.headers.get_list("UnknownHeaderWithUnusualValue") == [";;,,;;,;"]  # opaque, not a list
    route = m.name_addresses("Route")[0]
    assert route.uri.params == {"lr": None, "unknownwith": "value", "unknown-no-value": None}
    (contact,) = m.contacts
    assert contact.display_name == 'Quoted string ""'
    assert contact.params == {"newparam": "newvalue", "secondparam": None, "q": "0.33"}
    assert m.content_type == "application/sdp" and len(m.body) == 150 and m.body.startswith(b"v=0\r\n")


def test_intmeth_wide_range_of_valid_characters() -> None:
    m = parse("intmeth")
    assert m.method == "!interesting-Method0123456789_*+`.%indeed'~"
    assert m.cseq.method == m.method and m.cseq.number == 139122385
    uri = m.uri
    assert isinstance(uri, SipUri)
    assert uri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert uri.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    assert uri.host == "example.com" and uri.params == {} and uri.headers is None
    assert m.vias[0].branch == "z9hG4bK-.!%66*_+`'~"  # % is not an escape here
    assert m.to.display_name == "BEL:\x07 NUL:\x00 DEL:\x7f"  # quoted-pairs, NUL included
    assert m.to.sip_uri.user == uri.user
    assert m.from_.display_name == "token1~` token2'+_ token3*%!.-"
    assert m.from_.params == {"fromparam''~+*_!.-%": '"работающий"', "tag": "_token~1'+`*%!-."}
    assert m.call_id == "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"
    assert m.max_forwards == 255
    assert m.headers.get("extensionHeader-!.%*+_`'~") == "\ufeff大停電"


def test_esc01_escaped_and_unescaped_forms_compare_equal() -> None:
    m = parse("esc01")
    uri = m.uri
    assert isinstance(uri, SipUri) and uri.user == "sips%3Auser%40example.com" and uri.host == "example.net"
    assert uri.equivalent(SipUri(user="sips:user@example.com", host="example.net"))
    assert m.to.sip_uri.user == "%75se%72"  # kept as written, so the message round-trips
    assert m.to.sip_uri.equivalent(SipUri.parse("sip:user@example.com"))
    assert m.from_.sip_uri.equivalent(SipUri.parse("sip:I%20have%20spaces@example.net"))
    assert not m.from_.sip_uri.equivalent(SipUri.parse("sip:Ihavespaces@example.net"))
    contact = m.contacts[0].sip_uri
    assert contact.equivalent(SipUri.parse("sip:caller@host5.example.net;lr;name=value%2541"))
    # unescaping is never recursive: value%2541 is "value%41", not "valueA" (RFC 3986)
    assert not contact.equivalent(SipUri.parse("sip:caller@host5.example.net;lr;name=valueA"))
    assert m.call_id == "esc01.239409asdfakjkn23onasd0-3234" and len(m.body) == 150


def test_escnull_escaped_nulls_do_not_shorten_the_user() -> None:
    m = parse("escnull")
    assert m.to.sip_uri.user == "null-%00-null"
    assert m.to.sip_uri.equivalent(SipUri(user="null-\x00-null", host="example.com"))
    assert not m.to.sip_uri.equivalent(SipUri(user="null-", host="example.com"))
    first, second = m.contacts
    assert first.sip_uri.user == "%00" and second.sip_uri.user == "%00%00"
    assert not first.sip_uri.equivalent(second.sip_uri)  # two distinct bindings


def test_esc02_percent_is_not_an_escape_outside_uris() -> None:
    m = parse("esc02")
    assert m.method == "RE%47IST%45R" and m.method != "REGISTER"
    assert m.to.display_name == "%Z%45" and m.from_.display_name == "%Z%45"
    assert [str(c.uri) for c in m.contacts] == ["sip:alias1@host1.example.com", "sip:alias3@host3.example.com"]
    assert m.headers.get("C%6Fntact") == "<sip:alias2@host2.example.com>"  # another header entirely
    assert m.vias[0].branch == "z9hG4bK209%fzsnel234"


def test_lwsdisp_display_name_without_space_before_bracket() -> None:
    m = parse("lwsdisp")
    assert m.from_.display_name == "caller" and str(m.from_.uri) == "sip:caller@example.com"
    assert m.from_.tag == "323"


def test_longreq_long_values_and_many_vias() -> None:
    m = parse("longreq")
    assert m.to.display_name == "I have a user name of " + "extreme" * 10 + " proportion"
    to_uri = m.to.sip_uri
    assert to_uri.port == 6000
    assert to_uri.params["unknownparam1"] == "very" + "long" * 20 + "value"
    assert to_uri.params["longparam" + "name" * 25] == "shortvalue"
    assert to_uri.params["very" + "long" * 25 + "parameternamewithnovalue"] is None
    assert m.from_.sip_uri.user == "amazinglylongcallername" * 5
    assert len(m.from_.tag or "") == 155 and m.from_.tag.startswith("1298298")
    assert m.call_id == "longreq.one" + "really" * 20 + "longcallid"
    vias = m.vias
    assert len(vias) == 34
    assert [v.host for v in vias[:33]] == [f"sip{i}.example.com" for i in range(33, 0, -1)]
    assert vias[33].host == "host.example.com" and vias[33].params["received"] == "192.0.2.5"
    assert vias[33].branch == "very" + "long" * 50 + "branchvalue"
    unknown = m.headers.get("Unknown-" + "Long" * 20 + "-Name") or ""
    assert unknown.startswith("unknown-" + "long" * 20 + "-value;")
    assert m.contacts[0].sip_uri.user == "amazinglylongcallername" * 5
    assert m.cseq.number == 3882340 and len(m.body) == 150


def test_dblreq_only_the_first_message_of_a_datagram_counts() -> None:
    data = load("dblreq")
    m = parse_message(data)
    assert m.method == "REGISTER" and m.body == b""
    assert m.call_id == "dblreq.0ha0isndaksdj99sdfafnl3lk233412"
    assert "Content-Type" not in m.headers and m.cseq.method == "REGISTER"
    assert b"INVITE" not in m.serialize()  # a proxy forwarding it drops the trailing octets


def test_semiuri_semicolon_inside_the_user_part() -> None:
    m = parse("semiuri")
    uri = m.uri
    assert isinstance(uri, SipUri)
    assert uri.user == "user;par=u%40example.net" and uri.host == "example.com" and uri.params == {}
    assert uri.equivalent(SipUri(user="user;par=u@example.net", host="example.com"))
    assert m.headers.get_list("Accept") == ["application/sdp", "application/pkcs7-mime", "multipart/mixed",
                                            "multipart/signed", "message/sip", "message/sipfrag"]


def test_transports_every_via_transport_token_is_accepted() -> None:
    m = parse("transports")
    assert [v.transport for v in m.vias] == ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]


def test_mpart01_binary_multipart_body_is_framed_exactly() -> None:
    data = load("mpart01")
    m = parse_message(data)
    assert m.method == "MESSAGE" and m.content_type == "multipart/mixed"
    assert len(m.body) == 553 and data.endswith(m.body) and b"\x00" in m.body
    assert m.body.count(b"--7a9cbec02ceef655") == 3
    assert parse_message(m.serialize()).body == m.body


def test_unreason_reason_phrase_in_utf8() -> None:
    m = parse("unreason")
    assert isinstance(m, Response) and m.status == 200
    assert m.reason == "= 2**3 * 5**2 но сто девяносто девять - простое"
    assert m.serialize().startswith(load("unreason").split(b"\r\n", 1)[0] + b"\r\n")
    assert len(m.body) == 154


def test_noreason_empty_reason_phrase() -> None:
    m = parse("noreason")
    assert isinstance(m, Response) and m.status == 100 and m.reason == ""
    assert m.serialize().startswith(b"SIP/2.0 100 \r\n")


# --- §3.1.2 invalid messages ------------------------------------------------------------------------------------

# name -> ("parse", response_possible) | ("validate", status) | ("strict", status) | ("drop", None)
INVALID_VERDICTS = {
    "badinv01": ("validate", 400),   # empty params and list elements in Via and Contact
    "clerr": ("parse", True),        # Content-Length larger than the datagram
    "ncl": ("parse", True),          # negative Content-Length
    "scalar02": ("validate", 400),   # CSeq > 2**32-1
    "scalarlg": ("drop", None),      # response with CSeq > 2**32-1: discarded
    "quotbal": ("validate", 400),    # unterminated quote in To
    "ltgtruri": ("validate", 400),   # <> around the Request-URI
    "lwsruri": ("parse", True),      # LWS inside the Request-URI
    "lwsstart": ("parse", True),     # several SP in the request line (rejecting is acceptable)
    "trws": ("parse", True),         # SP after the version (rejecting is acceptable)
    "escruri": ("validate", 400),    # headers in the Request-URI
    "baddate": ("strict", 400),      # non-GMT Date: tolerated unless strict (the RFC's advice)
    "regbadct": ("validate", 400),   # URI with headers in an addr-spec Contact
    "badaspec": ("validate", 400),   # spaces inside <…>
    "baddn": ("parse", True),        # (file ends without the empty line) + unquoted non-token display names
    "badvers": ("validate", 505),    # SIP/7.0
    "mismatch01": ("validate", 400), # CSeq method differs from the request method
    "mismatch02": ("validate", 400), # unknown method and CSeq mismatch (400 acceptable, 501 preferred)
    "bigcode": ("parse", False),     # status code > 699 in a response: dropped
}


def test_every_invalid_message_has_a_verdict() -> None:
    assert sorted(INVALID_VERDICTS) == sorted(INVALID)


@pytest.mark.parametrize("name", INVALID)
def test_invalid_message_is_refused_by_the_parser_or_by_validation(name: str) -> None:
    kind, expected = INVALID_VERDICTS[name]
    data = load(name)
    if kind == "parse":
        with pytest.raises(SipParseError) as info:
            parse_message(data)
        assert info.value.response_possible is expected
        if expected:  # the server can answer 400 from what was read
            response = make_response(info.value.request, 400)
            assert response.call_id == data.split(b"Call-ID: ")[1].split(b"\r\n")[0].decode()
            assert parse_message(response.serialize()).status == 400
        return
    message = parse_message(data)
    if kind == "drop":
        assert isinstance(message, Response) and validate_response(message) is not None
        return
    assert isinstance(message, Request)
    if kind == "strict":
        assert validate_request(message) is None
        assert validate_request(message, strict=True)[0] == expected
    else:
        verdict = validate_request(message)
        assert verdict is not None and verdict[0] == expected


def test_baddn_with_its_empty_line_restored_still_fails_on_the_display_names() -> None:
    m = parse_message(load("baddn") + b"\r\n")
    assert validate_request(m) == (400, "Multiple From values")  # 'Bell, Alexander' unquoted
    with pytest.raises(ValueError):
        _ = m.to


def test_scalar02_other_overlarge_scalars_are_clamped_not_fatal() -> None:
    m = parse("scalar02")
    with pytest.raises(ValueError):
        _ = m.cseq
    assert m.max_forwards == 300  # strict validation refuses it; by default it is decremented as is
    assert m.expires == 2**32 - 1
    assert m.contacts[0].params["expires"] == "280297596632815"


def test_ltgtruri_and_lwsruri_request_uri_problems() -> None:
    with pytest.raises(ValueError):
        _ = parse("ltgtruri").uri
    with pytest.raises(SipParseError) as info:
        parse("lwsruri")
    assert info.value.request is not None and info.value.request.method == "INVITE"


def test_invalid_responses_are_never_answerable() -> None:
    with pytest.raises(SipParseError) as info:
        parse("bigcode")
    assert info.value.response_possible is False and info.value.request is None


# --- §3.2 transaction layer -------------------------------------------------------------------------------------

def test_badbranch_parses_and_exposes_the_empty_transaction_id() -> None:
    m = parse("badbranch")
    via = m.vias[0]
    assert via.branch == "z9hG4bK" and not via.has_rfc3261_branch
    assert validate_request(m) is None  # the transaction layer may fall back to RFC 2543 matching
    assert validate_request(m, strict=True) == (400, "Bad branch")


# --- §3.3 application layer -------------------------------------------------------------------------------------

def test_insuf_missing_required_headers_gets_400() -> None:
    m = parse("insuf")
    assert validate_request(m) == (400, "Missing From")
    assert len(m.body) == 152


def test_unkscm_unknown_request_uri_scheme_gets_416() -> None:
    m = parse("unkscm")
    assert isinstance(m.uri, AbsoluteUri) and m.uri.scheme == "nobodyknowsthisscheme"
    assert validate_request(m) == (416, "Unsupported URI Scheme")


def test_novelsc_atypical_scheme_is_416_unless_supported() -> None:
    m = parse("novelsc")
    assert str(m.uri) == "soap.beep://192.0.2.103:3002" and m.uri.scheme == "soap.beep"
    assert validate_request(m) == (416, "Unsupported URI Scheme")
    assert validate_request(m, schemes=("sip", "soap.beep")) is None


def test_unksm2_unknown_schemes_in_header_fields_are_accepted() -> None:
    m = parse("unksm2")
    assert isinstance(m.to.uri, AbsoluteUri) and str(m.to.uri) == "isbn:2983792873"
    assert str(m.from_.uri) == "http://www.example.com" and m.from_.tag == "3234233"
    assert str(m.contacts[0].uri) == "name:John_Smith"
    assert validate_request(m) is None


def test_bext01_require_and_proxy_require_are_listed_for_the_420_decision() -> None:
    m = parse("bext01")
    assert m.headers.get_list("Require") == ["nothingSupportsThis", "nothingSupportsThisEither"]
    assert m.headers.get_list("Proxy-Require") == ["noProxiesSupportThis", "norDoAnyProxiesSupportThis"]
    assert m.vias[0].transport == "TLS"


def test_invut_unknown_content_type_is_exposed_for_the_415_decision() -> None:
    m = parse("invut")
    assert m.content_type == "application/unknownformat"
    assert m.body == b'<audio>\r\n <pcmu port="443"/>\r\n</audio>\r\n'


def test_regaut01_unknown_authorization_scheme_parses() -> None:
    m = parse("regaut01")
    assert parse_auth_params(m.headers.get("Authorization") or "") == ("NoOneKnowsThisScheme", {"opaque-data": "here"})


def test_multi01_multiple_values_in_single_value_headers_get_400() -> None:
    m = parse("multi01")
    assert validate_request(m)[0] == 400
    for name in ("To", "From", "Call-ID", "CSeq", "Max-Forwards"):
        assert len(m.headers.get_fields(name)) == 2


def test_mcl01_conflicting_content_lengths_break_framing_on_both_transports() -> None:
    with pytest.raises(SipParseError) as info:
        parse("mcl01")
    assert info.value.response_possible  # over UDP: answer 400 and discard the datagram
    with pytest.raises(SipParseError):
        StreamFramer().feed(load("mcl01"))  # over TCP: unrecoverable, close the connection


def test_bcast_broadcast_via_in_a_response_parses() -> None:
    m = parse("bcast")
    assert isinstance(m, Response) and [v.host for v in m.vias] == ["192.0.2.198", "255.255.255.255"]
    assert validate_response(m) is None


def test_zeromf_max_forwards_zero_is_exposed() -> None:
    m = parse("zeromf")
    assert m.max_forwards == 0 and validate_request(m) is None  # 483 only when forwarding


def test_cparam01_addr_spec_parameter_belongs_to_the_header() -> None:
    (contact,) = parse("cparam01").contacts
    assert contact.params == {"unknownparam": None} and contact.sip_uri.params == {}


def test_cparam02_name_addr_parameter_belongs_to_the_uri() -> None:
    (contact,) = parse("cparam02").contacts
    assert contact.params == {} and contact.sip_uri.params == {"unknownparam": None}


def test_regescrt_escaped_header_in_a_contact_uri() -> None:
    m = parse("regescrt")
    uri = m.contacts[0].sip_uri
    assert uri.headers == "Route=%3Csip:sip.example.com%3E"
    assert uri.header_fields() == [("Route", "<sip:sip.example.com>")]
    assert validate_request(m) is None


def test_sdp01_accept_is_exposed_for_the_406_decision() -> None:
    m = parse("sdp01")
    assert m.headers.get_list("Accept") == ["text/nobodyKnowsThis"] and m.content_type == "application/sdp"


# --- §3.4 backward compatibility --------------------------------------------------------------------------------

def test_inv2543_rfc2543_syntax_is_accepted() -> None:
    m = parse("inv2543")
    assert m.vias[0].branch is None and not m.vias[0].has_rfc3261_branch
    assert m.from_.tag is None and m.max_forwards is None
    assert "Content-Length" not in m.headers and m.body.startswith(b"v=0\r\n") and len(m.body) == 105
    assert m.name_addresses("Record-Route")[0].sip_uri.params == {"maddr": "ss1.example.com"}
    assert validate_request(m) is None
