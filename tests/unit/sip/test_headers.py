"""Typed header values (RFC 3261 §20, §25.1): names, lists, parameters, name-addr, Via, CSeq, auth params."""

from __future__ import annotations

import pytest

from appliance.sip.headers import (
    CSeq,
    NameAddress,
    Via,
    canonical_name,
    parse_auth_params,
    parse_params,
    quote_string,
    split_list,
    unquote_string,
)
from appliance.sip.uri import AbsoluteUri, SipUri


# --- names and lists -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("written, canonical", [
    ("v", "Via"), ("V", "Via"), ("i", "Call-ID"), ("m", "Contact"), ("l", "Content-Length"), ("f", "From"),
    ("t", "To"), ("c", "Content-Type"), ("k", "Supported"), ("o", "Event"), ("r", "Refer-To"), ("x", "Session-Expires"),
    ("call-id", "Call-ID"), ("CSEQ", "CSeq"), ("www-authenticate", "WWW-Authenticate"), ("max-FORWARDS", "Max-Forwards"),
    ("min-se", "Min-SE"), ("rseq", "RSeq"), ("p-asserted-identity", "P-Asserted-Identity"), ("X-Custom-Thing", "X-Custom-Thing"),
])
def test_canonical_header_names(written: str, canonical: str) -> None:
    assert canonical_name(written) == canonical


def test_split_list_honours_quotes_and_angle_brackets() -> None:
    value = '"Bell, Alexander" <sip:a@b;x=1,2>;q=0.5, <sip:c@d?h=a,b>, sip:e@f'
    assert split_list(value) == ['"Bell, Alexander" <sip:a@b;x=1,2>;q=0.5', "<sip:c@d?h=a,b>", "sip:e@f"]
    assert split_list('"a \\", b" <sip:x@y>, <sip:z@w>') == ['"a \\", b" <sip:x@y>', "<sip:z@w>"]


def test_split_list_drops_empty_items_and_trims_lws() -> None:
    assert split_list(" INVITE ,ACK,, BYE , ") == ["INVITE", "ACK", "BYE"]
    assert split_list("") == [] and split_list("   ") == []


# --- parameters --------------------------------------------------------------------------------------------------

def test_parameters_with_lws_flags_and_quoted_values() -> None:
    params = parse_params(' ; Tag = 98asjd8 ;lr; +sip.instance="<urn:uuid:1;2>" ;methods="INVITE, BYE";q=0.5')
    assert params == {"tag": "98asjd8", "lr": None, "+sip.instance": '"<urn:uuid:1;2>"',
                      "methods": '"INVITE, BYE"', "q": "0.5"}


def test_parameters_without_leading_semicolon_and_empty_text() -> None:
    assert parse_params("branch=z9hG4bK1;rport") == {"branch": "z9hG4bK1", "rport": None}
    assert parse_params("") == {} and parse_params("  ") == {}


@pytest.mark.parametrize("text", [";;", ";tag=1;", ";tag=1;;lr", ";=x", ';"q"=1', ";ta g=1", ";tag=a b", ';x="open'])
def test_malformed_parameters_raise(text: str) -> None:
    with pytest.raises(ValueError):
        parse_params(text)


# --- name-addr / addr-spec ----------------------------------------------------------------------------------------

def test_name_addr_with_quoted_display_name() -> None:
    na = NameAddress.parse('"Alice Liddell" <sip:alice@example.com>;tag=1928301774')
    assert na.display_name == "Alice Liddell" and na.tag == "1928301774"
    assert na.sip_uri.user == "alice" and na.params == {"tag": "1928301774"}


def test_quoted_display_name_with_escapes_and_specials() -> None:
    na = NameAddress.parse(r'"Sm\"ith \\ <boss>, Inc" <sip:s@example.com>')
    assert na.display_name == 'Sm"ith \\ <boss>, Inc'
    assert NameAddress.parse(str(na)) == na


def test_unquoted_display_name_tokens_with_and_without_space() -> None:
    assert NameAddress.parse("Bob Smith <sip:bob@example.com>").display_name == "Bob Smith"
    assert NameAddress.parse("caller<sip:caller@example.com>").display_name == "caller"  # RFC 4475 lwsdisp
    assert NameAddress.parse("Jürgen <sip:j@example.com>").display_name == "Jürgen"  # raw UTF-8 tolerated


def test_name_addr_without_display_name_keeps_uri_parameters_inside() -> None:
    na = NameAddress.parse("<sip:gw.example.net;lr;transport=tcp>;expires=60")
    assert na.display_name is None and na.sip_uri.params == {"lr": None, "transport": "tcp"}
    assert na.params == {"expires": "60"}


def test_addr_spec_parameters_belong_to_the_header() -> None:
    na = NameAddress.parse("sip:+19725552222@gw1.example.net;unknownparam;tag=x ")
    assert na.sip_uri.params == {} and na.params == {"unknownparam": None, "tag": "x"}
    assert str(na) == "<sip:+19725552222@gw1.example.net>;unknownparam;tag=x"


def test_addr_spec_with_lws_before_parameters() -> None:
    na = NameAddress.parse("sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n")
    assert str(na.uri) == "sip:vivekg@chair-dnrc.example.com" and na.tag == "1918181833n"


def test_quoted_parameter_may_contain_angle_brackets_in_both_forms() -> None:
    value = '<sip:201@192.0.2.50:5060>;+sip.instance="<urn:uuid:00000000-0000-1000-8000-805ec0a1b2c3>"'
    assert NameAddress.parse(value).params["+sip.instance"] == '"<urn:uuid:00000000-0000-1000-8000-805ec0a1b2c3>"'
    spec = NameAddress.parse('sip:201@192.0.2.50;+sip.instance="<urn:uuid:1>"')
    assert spec.sip_uri.host == "192.0.2.50" and spec.params["+sip.instance"] == '"<urn:uuid:1>"'


def test_contact_wildcard() -> None:
    star = NameAddress.parse(" * ")
    assert star.wildcard and str(star) == "*"


def test_non_sip_uris_in_name_addr() -> None:
    na = NameAddress.parse('"Carrier" <tel:+4930987654;phone-context=+49>')
    assert isinstance(na.uri, AbsoluteUri) and na.display_name == "Carrier"
    with pytest.raises(ValueError):
        _ = na.sip_uri


@pytest.mark.parametrize("text", [
    '"Mr. J. User <sip:j.user@example.com>',            # unterminated quote (RFC 4475 quotbal)
    "<sip:a@example.com",                               # missing '>'
    '"Watson, Thomas" < sip:t.watson@example.org >',   # spaces inside <> (badaspec)
    "Watson, Thomas <sip:t.watson@example.org>",       # unquoted non-token display name (baddn)
    "sip:user@example.com?Route=%3Csip:sip.example.com%3E",  # headers need <> (regbadct)
    "<sip:a@example.com> junk",                         # garbage after the URI
    '"Joe" <sip:joe@example.org>;;;;',                  # empty parameters (badinv01)
    "", "<>", "sip:a b@example.com", "<sip:a@example.com>;=x",
])
def test_malformed_name_addresses_raise(text: str) -> None:
    with pytest.raises(ValueError):
        NameAddress.parse(text)


def test_str_quotes_display_names_and_escapes_controls() -> None:
    na = NameAddress(SipUri(user="a", host="example.com"), 'He said "hi"\\', {"tag": "1"})
    assert str(na) == '"He said \\"hi\\"\\\\" <sip:a@example.com>;tag=1'
    assert NameAddress.parse(str(na)).display_name == 'He said "hi"\\'
    assert quote_string("BEL:\x07 NUL:\x00") == '"BEL:\\\x07 NUL:\\\x00"'
    assert quote_string("two\r\nlines") == '"two  lines"'  # CR/LF cannot be quoted: never forge a header line
    assert unquote_string(quote_string("a\\b\"c")) == "a\\b\"c"


# --- Via ---------------------------------------------------------------------------------------------------------

def test_via_with_rport_and_branch() -> None:
    via = Via.parse("SIP/2.0/UDP 192.168.1.21:5060;rport;branch=z9hG4bKPj3f9a")
    assert (via.protocol, via.transport, via.host, via.port) == ("SIP/2.0", "UDP", "192.168.1.21", 5060)
    assert via.params == {"rport": None, "branch": "z9hG4bKPj3f9a"} and via.branch == "z9hG4bKPj3f9a"
    assert via.has_rfc3261_branch
    assert str(via) == "SIP/2.0/UDP 192.168.1.21:5060;rport;branch=z9hG4bKPj3f9a"


def test_via_with_received_and_rport_values() -> None:
    via = Via.parse("SIP/2.0/TCP 192.0.2.50:5060;received=198.51.100.23;rport=48291;branch=z9hG4bK1")
    assert via.params["received"] == "198.51.100.23" and via.params["rport"] == "48291"


@pytest.mark.parametrize("text, host, port", [
    ("SIP/2.0/UDP [2001:db8::9]:5062;received=2001:db8::9;rport=5062;branch=z9hG4bKa", "2001:db8::9", 5062),
    ("SIP/2.0/TCP [2001:db8:10::20];alias;branch=z9hG4bK.P3;rport", "2001:db8:10::20", None),
])
def test_via_with_ipv6_sent_by(text: str, host: str, port: int | None) -> None:
    via = Via.parse(text)
    assert (via.host, via.port) == (host, port)
    assert Via.parse(str(via)) == via and f"[{host}]" in str(via)


def test_via_with_whitespace_around_slashes_colon_and_semicolons() -> None:
    via = Via.parse("SIP  /   2.0 / tcp     spindle.example.com :  5070  ;  branch  =   z9hG4bK9ikj8 ; rport")
    assert (via.protocol, via.transport, via.host, via.port) == ("SIP/2.0", "TCP", "spindle.example.com", 5070)
    assert via.params == {"branch": "z9hG4bK9ikj8", "rport": None}


def test_via_branch_without_transaction_id_is_not_rfc3261() -> None:
    assert not Via.parse("SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK").has_rfc3261_branch
    assert not Via.parse("SIP/2.0/UDP iftgw.example.com").has_rfc3261_branch


@pytest.mark.parametrize("text", [
    "SIP/2.0/UDP", "SIP/2.0 192.0.2.1", "SIP/2.0/UDP 192.0.2.1 junk;branch=x", "SIP/2.0/UDP 192.0.2.1:abc",
    "SIP/2.0/UDP 192.0.2.15;;", ";", "SIP/2.0/U\"DP 192.0.2.1", "SIP/2.0/UDP 2001:db8::1;branch=x",
    "SIP/2.0/UDP [2001:db8::1;branch=x",
])
def test_malformed_vias_raise(text: str) -> None:
    with pytest.raises(ValueError):
        Via.parse(text)


# --- CSeq --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, number, method", [
    ("1 INVITE", 1, "INVITE"), ("0009 INVITE", 9, "INVITE"), ("7\tBYE", 7, "BYE"), ("  42   OPTIONS ", 42, "OPTIONS"),
    ("0 REGISTER", 0, "REGISTER"), ("4294967295 ACK", 2**32 - 1, "ACK"), ("000000000000012 BYE", 12, "BYE"),
    ("5 RE%47IST%45R", 5, "RE%47IST%45R"),
])
def test_cseq_values(text: str, number: int, method: str) -> None:
    cseq = CSeq.parse(text)
    assert (cseq.number, cseq.method) == (number, method)


@pytest.mark.parametrize("text", [
    "4294967296 INVITE", "36893488147419103232 REGISTER", "9" * 5000 + " INVITE", "INVITE", "1", "1INVITE",
    "INVITE 1", "-1 INVITE", "1 IN VITE", "\u0661 INVITE", "1 INV\"ITE", "",
])
def test_cseq_limits_and_malformed_values(text: str) -> None:
    with pytest.raises(ValueError):
        CSeq.parse(text)


def test_cseq_str() -> None:
    assert str(CSeq.parse("0009 INVITE")) == "9 INVITE"


# --- authentication parameters -----------------------------------------------------------------------------------

def test_auth_params_with_commas_inside_quotes() -> None:
    scheme, params = parse_auth_params(
        'Digest realm="pbx, main office", nonce="a,b=c", qop="auth,auth-int", algorithm=SHA-256, stale=FALSE')
    assert scheme == "Digest"
    assert params == {"realm": "pbx, main office", "nonce": "a,b=c", "qop": "auth,auth-int",
                      "algorithm": "SHA-256", "stale": "FALSE"}


def test_auth_params_with_escaped_quotes_and_loose_spacing() -> None:
    scheme, params = parse_auth_params('Digest   username = "a\\"b" ,uri="sip:x",  nc=00000001')
    assert scheme == "Digest" and params == {"username": 'a"b', "uri": "sip:x", "nc": "00000001"}


def test_auth_params_of_an_unknown_scheme_and_of_a_bare_scheme() -> None:
    assert parse_auth_params("NoOneKnowsThisScheme opaque-data=here") == ("NoOneKnowsThisScheme", {"opaque-data": "here"})
    assert parse_auth_params("Digest") == ("Digest", {})


@pytest.mark.parametrize("text", ["", "   ", 'Digest realm="x", nonce'])
def test_malformed_auth_params_raise(text: str) -> None:
    with pytest.raises(ValueError):
        parse_auth_params(text)
