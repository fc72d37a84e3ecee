"""SIP URIs (RFC 3261 §19.1): parsing every form, serialization, and the comparison rules of §19.1.4."""

from __future__ import annotations

import pytest

from appliance.sip.uri import AbsoluteUri, SipUri, format_host, parse_uri, split_host_port


# --- parsing -------------------------------------------------------------------------------------------------

def test_host_only_uri() -> None:
    uri = SipUri.parse("sip:pbx.example.com")
    assert (uri.scheme, uri.user, uri.password, uri.host, uri.port) == ("sip", None, None, "pbx.example.com", None)
    assert uri.params == {} and uri.headers is None


def test_every_component_of_a_full_uri() -> None:
    uri = SipUri.parse("sips:alice:secret@atlanta.example.com:5061;transport=tcp;lr;Maddr=10.0.0.1?subject=x&to=y")
    assert uri.scheme == "sips" and uri.user == "alice" and uri.password == "secret"
    assert uri.host == "atlanta.example.com" and uri.port == 5061
    assert uri.params == {"transport": "tcp", "lr": None, "maddr": "10.0.0.1"}  # names lower-cased
    assert uri.headers == "subject=x&to=y"
    assert uri.header_fields() == [("subject", "x"), ("to", "y")]


def test_scheme_is_case_insensitive_and_host_case_is_kept() -> None:
    uri = SipUri.parse("SIP:Alice@AtLanTa.CoM")
    assert uri.scheme == "sip" and uri.user == "Alice" and uri.host == "AtLanTa.CoM"


@pytest.mark.parametrize("text, host, port", [
    ("sip:[::1]", "::1", None),
    ("sip:alice@[2001:db8::1]:5062;transport=udp", "2001:db8::1", 5062),
    ("sip:[2001:db8::c0a8:1.2.3.4]", "2001:db8::c0a8:1.2.3.4", None),
    ("sip:[fe80::1%25eth0]:5060", "fe80::1%25eth0", 5060),
    ("sip:192.0.2.4:5080", "192.0.2.4", 5080),
])
def test_ipv4_and_ipv6_hosts(text: str, host: str, port: int | None) -> None:
    uri = SipUri.parse(text)
    assert (uri.host, uri.port) == (host, port)
    assert str(uri) == text


def test_user_part_may_hold_semicolons_question_marks_and_slashes() -> None:
    uri = SipUri.parse("sip:user;par=u%40example.net@example.com")
    assert uri.user == "user;par=u%40example.net" and uri.host == "example.com" and uri.params == {}
    odd = SipUri.parse("sip:a?b/c,d;e@example.com;lr")
    assert odd.user == "a?b/c,d;e" and odd.params == {"lr": None}


def test_telephone_subscriber_user_with_user_phone() -> None:
    uri = SipUri.parse("sip:+4930123456;phone-context=+49@gw.example.net;user=phone")
    assert uri.user == "+4930123456;phone-context=+49" and uri.params == {"user": "phone"}


@pytest.mark.parametrize("text", [
    "sip:alice@example.com",
    "sip:alice:pw@example.com:5070;transport=tcp;lr?h=v",
    "sips:[2001:db8::9]:5061;maddr=[2001:db8::1]",
    "sip:+1-212-555-1212:1234@gateway.com;user=phone",
])
def test_str_gives_back_the_uri(text: str) -> None:
    assert str(SipUri.parse(text)) == text


@pytest.mark.parametrize("text", [
    "sip:", "sip:@example.com", "sip::pw@example.com", "sip:example.com:0", "sip:example.com:65536",
    "sip:example.com:50x0", "sip:example.com:", "sip:[::1", "sip:[::1]x", "sip:[::g]", "sip:ho st.example.com",
    "sip:example.com;;lr", "sip:example.com;=x", "sip:example.com;lr;", "sip:example.com?", "sip:<example.com>",
    'sip:"x"@example.com', "sip:exa\x00mple.com", "sip:example.com\r\nVia: x", "http://example.com",
    "sip:example.com:\u0665\u0660\u0666\u0660", "sip:2001:db8::1", "sip:exam*ple.com",
])
def test_malformed_sip_uris_raise_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        SipUri.parse(text)


def test_parse_uri_keeps_other_schemes_opaque() -> None:
    tel = parse_uri("tel:+1-201-555-0123;phone-context=example.com")
    assert isinstance(tel, AbsoluteUri) and tel.scheme == "tel"
    assert str(tel) == "tel:+1-201-555-0123;phone-context=example.com"
    assert parse_uri("urn:service:sos").scheme == "urn"
    assert parse_uri("soap.beep://192.0.2.103:3002").scheme == "soap.beep"
    assert isinstance(parse_uri("  sip:bob@example.com "), SipUri)


@pytest.mark.parametrize("text", ["", "example.com", ":x", "1tel:+1", "tel:", "te l:+1", "tel:+1 2", "<sip:a@b>",
                                  "mailto:a\x00b@example.com"])
def test_parse_uri_refuses_non_uris(text: str) -> None:
    with pytest.raises(ValueError):
        parse_uri(text)


def test_transport_and_default_port() -> None:
    assert SipUri.parse("sip:a@b").transport == "udp"
    assert SipUri.parse("sip:a@b;transport=TCP").transport == "tcp"
    assert SipUri.parse("sips:a@b").transport == "tls"
    assert SipUri.parse("sips:a@b").host_port() == ("b", 5061)
    assert SipUri.parse("sip:a@b:5070").host_port() == ("b", 5070)


def test_copy_does_not_share_parameters() -> None:
    uri = SipUri.parse("sip:a@b;lr")
    other = uri.copy(port=5080)
    other.params["transport"] = "tcp"
    assert uri.params == {"lr": None} and other.port == 5080 and uri.port is None


def test_header_fields_are_unescaped() -> None:
    uri = SipUri.parse("sip:1003@pbx?Replaces=abc%40192.0.2.1%3Bto-tag%3D1%3Bfrom-tag%3D2")
    assert uri.header_fields() == [("Replaces", "abc@192.0.2.1;to-tag=1;from-tag=2")]


def test_split_host_port_and_format_host() -> None:
    assert split_host_port("example.com") == ("example.com", None)
    assert split_host_port("example.com:5060") == ("example.com", 5060)
    assert split_host_port("[2001:db8::1]:5061") == ("2001:db8::1", 5061)
    assert split_host_port("[::1]") == ("::1", None)
    assert format_host("2001:db8::1") == "[2001:db8::1]"
    assert format_host("[2001:db8::1]") == "[2001:db8::1]"
    assert format_host("192.0.2.1") == "192.0.2.1"
    for bad in ("", ":5060", "a b", "[::1]:", "host:99999"):
        with pytest.raises(ValueError):
            split_host_port(bad)


# --- comparison, RFC 3261 §19.1.4 --------------------------------------------------------------------------------

# The section's own examples, pair by pair.
EQUIVALENT = [
    ("sip:%61lice@atlanta.com;transport=TCP", "sip:alice@AtLanTa.CoM;Transport=tcp"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com;security=on"),
    ("sip:carol@chicago.com;newparam=5", "sip:carol@chicago.com;security=on"),
    ("sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
     "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com"),
    ("sip:alice@atlanta.com?subject=project%20x&priority=urgent",
     "sip:alice@atlanta.com?priority=urgent&subject=project%20x"),
]
NOT_EQUIVALENT = [
    ("SIP:ALICE@AtLanTa.CoM;Transport=udp", "sip:alice@AtLanTa.CoM;Transport=UDP"),  # different usernames
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"),                             # can resolve to other ports
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp"),                    # ... to other transports
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com:6000;transport=tcp"),               # ... to both
    ("sip:carol@chicago.com", "sip:carol@chicago.com?Subject=next%20meeting"),     # different header component
    ("sip:bhriggs@lucent.com", "sip:bhriggs@phone21.boxesbybob.com"),              # no DNS in comparison
]


@pytest.mark.parametrize("a, b", EQUIVALENT)
def test_rfc3261_equivalent_examples(a: str, b: str) -> None:
    assert SipUri.parse(a).equivalent(SipUri.parse(b))
    assert SipUri.parse(b).equivalent(SipUri.parse(a))


@pytest.mark.parametrize("a, b", NOT_EQUIVALENT)
def test_rfc3261_not_equivalent_examples(a: str, b: str) -> None:
    assert not SipUri.parse(a).equivalent(SipUri.parse(b))
    assert not SipUri.parse(b).equivalent(SipUri.parse(a))


@pytest.mark.parametrize("a, b", [
    ("sip:bob@biloxi.com", "sips:bob@biloxi.com"),                       # sip and sips never match
    ("sip:bob@biloxi.com", "sip:biloxi.com"),                            # user present in one only
    ("sip:bob:pw@biloxi.com", "sip:bob@biloxi.com"),                     # password present in one only
    ("sip:+1@gw.example.com;user=phone", "sip:+1@gw.example.com"),       # user param in one only
    ("sip:bob@biloxi.com;ttl=1", "sip:bob@biloxi.com"),                  # ttl in one only
    ("sip:bob@biloxi.com;method=INVITE", "sip:bob@biloxi.com"),          # method in one only
    ("sip:bob@biloxi.com;maddr=239.255.255.1", "sip:bob@biloxi.com"),    # maddr in one only
    ("sip:bob@biloxi.com;lr=on", "sip:bob@biloxi.com;lr=off"),           # a parameter in both must match
    ("sip:bob@biloxi.com?a=1", "sip:bob@biloxi.com?a=2"),                # header values must match
])
def test_further_non_equivalences(a: str, b: str) -> None:
    assert not SipUri.parse(a).equivalent(SipUri.parse(b))


def test_escapes_are_decoded_once_in_user_params_and_headers() -> None:
    assert SipUri.parse("sip:cal%6Cer@h;%6C%72").equivalent(SipUri.parse("sip:caller@h;lr"))
    assert SipUri.parse("sip:h;name=v%61lue").equivalent(SipUri.parse("sip:h;NAME=VALUE"))
    assert not SipUri.parse("sip:h;name=value%2541").equivalent(SipUri.parse("sip:h;name=valueA"))
    assert SipUri.parse("sip:h?Subject=a%20b").equivalent(SipUri.parse("sip:h?subject=a b".replace(" ", "%20")))


def test_userinfo_is_case_sensitive_host_is_not() -> None:
    assert not SipUri.parse("sip:Bob@example.com").equivalent(SipUri.parse("sip:bob@example.com"))
    assert SipUri.parse("sip:bob@EXAMPLE.com").equivalent(SipUri.parse("sip:bob@example.COM"))


def test_ipv6_literals_compare_by_address() -> None:
    assert SipUri.parse("sip:a@[2001:db8::1]").equivalent(SipUri.parse("sip:a@[2001:DB8:0:0:0:0:0:1]"))
    assert not SipUri.parse("sip:a@[2001:db8::1]").equivalent(SipUri.parse("sip:a@[2001:db8::2]"))
