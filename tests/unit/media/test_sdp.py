"""SDP parsing/serialization and RFC 3264 offer/answer, against descriptions as real phones write them."""

from __future__ import annotations

import pytest

from appliance.media.sdp import (
    Codec, NotAcceptableHere, SdpVersioner, SessionDescription, build_answer, build_offer, codec_from_static,
    negotiate_direction,
)
from appliance.media.offer_answer import process_answer


def crlf(text: str) -> bytes:
    return text.strip("\n").replace("\n", "\r\n").encode() + b"\r\n"


# pjsua2 2.15 (pjmedia) offer: session b= and a=X-nat, rtcp attribute with address, ssrc attribute.
PJSUA2_OFFER = crlf("""
v=0
o=- 3912287162 3912287162 IN IP4 127.0.0.1
s=pjmedia
b=AS:117
t=0 0
a=X-nat:0
m=audio 4000 RTP/AVP 98 97 99 104 3 0 8 9 96
c=IN IP4 127.0.0.1
b=TIAS:96000
a=rtcp:4001 IN IP4 127.0.0.1
a=sendrecv
a=rtpmap:98 speex/16000
a=rtpmap:97 speex/8000
a=rtpmap:99 speex/32000
a=rtpmap:104 iLBC/8000
a=fmtp:104 mode=30
a=rtpmap:3 GSM/8000
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:9 G722/8000
a=rtpmap:96 telephone-event/8000
a=fmtp:96 0-16
a=ssrc:1217461282 cname:6a3e0c3b7d2e4f11
""")

# Polycom VVX: session-level c= and direction, G.722 first, G.722.1 with fmtp, telephone-event without fmtp.
POLYCOM_OFFER = crlf("""
v=0
o=- 1584372651 1584372651 IN IP4 192.168.10.51
s=Polycom IP Phone
c=IN IP4 192.168.10.51
t=0 0
a=sendrecv
m=audio 2226 RTP/AVP 9 102 0 8 18 127
a=rtpmap:9 G722/8000
a=rtpmap:102 G7221/16000
a=fmtp:102 bitrate=32000
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:18 G729/8000
a=fmtp:18 annexb=no
a=rtpmap:127 telephone-event/8000
""")

# Yealink T4x: fmtp before rtpmap, ptime, direction after the codecs; then its hold re-offer.
YEALINK_OFFER = crlf("""
v=0
o=- 20014 20014 IN IP4 10.0.0.23
s=SDP data
c=IN IP4 10.0.0.23
t=0 0
m=audio 11780 RTP/AVP 0 8 18 9 101
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:18 G729/8000
a=fmtp:18 annexb=no
a=rtpmap:9 G722/8000
a=fmtp:101 0-15
a=rtpmap:101 telephone-event/8000
a=ptime:20
a=sendrecv
""")
YEALINK_HOLD = YEALINK_OFFER.replace(b"20014 20014", b"20014 20015").replace(b"a=sendrecv", b"a=sendonly")

# SIPp's built-in uac scenario body, and an RFC 2543-style hold from an old gateway (no rtpmap at all).
SIPP_OFFER = crlf("""
v=0
o=user1 53655765 2353687637 IN IP4 127.0.0.1
s=-
c=IN IP4 127.0.0.1
t=0 0
m=audio 6000 RTP/AVP 0
a=rtpmap:0 PCMU/8000
""")
OLD_GATEWAY_HOLD = b"v=0\no=gw 1 2 IN IP4 10.1.1.1\ns=call\nc=IN IP4 0.0.0.0\nt=0 0\nm=audio 5004 RTP/AVP 8 9\n"

# Chrome 120 WebRTC offer (audio, video, data channel): BUNDLE, ICE, DTLS-SRTP profile, rtcp-mux, extmap.
CHROME_OFFER = crlf("""
v=0
o=- 4611731400430051336 2 IN IP4 127.0.0.1
s=-
t=0 0
a=group:BUNDLE 0 1 2
a=extmap-allow-mixed
a=msid-semantic: WMS 1d1d7d1e-6b8f-4c8b-9f0a-5bd1a3a1b0c2
m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126
c=IN IP4 0.0.0.0
a=rtcp:9 IN IP4 0.0.0.0
a=candidate:3348415512 1 udp 2122260223 192.168.1.20 54321 typ host generation 0 network-id 1
a=ice-ufrag:8hhY
a=ice-pwd:asd88fgpdd777uzjYhagZg3p
a=ice-options:trickle
a=fingerprint:sha-256 7B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08
a=setup:actpass
a=mid:0
a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level
a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time
a=sendrecv
a=msid:1d1d7d1e-6b8f-4c8b-9f0a-5bd1a3a1b0c2 0c0e5e0f-2bd4-4a0e-a07d-2f0e3c4a7f55
a=rtcp-mux
a=rtpmap:111 opus/48000/2
a=rtcp-fb:111 transport-cc
a=fmtp:111 minptime=10;useinbandfec=1
a=rtpmap:63 red/48000/2
a=fmtp:63 111/111
a=rtpmap:9 G722/8000
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:13 CN/8000
a=rtpmap:110 telephone-event/48000
a=rtpmap:126 telephone-event/8000
a=ssrc:3735928559 cname:q1Z1DsRo5U4XHgAn
a=ssrc:3735928559 msid:1d1d7d1e-6b8f-4c8b-9f0a-5bd1a3a1b0c2 0c0e5e0f-2bd4-4a0e-a07d-2f0e3c4a7f55
m=video 9 UDP/TLS/RTP/SAVPF 96 97
c=IN IP4 0.0.0.0
a=rtcp:9 IN IP4 0.0.0.0
a=mid:1
a=sendrecv
a=rtcp-mux
a=rtpmap:96 VP8/90000
a=rtpmap:97 rtx/90000
a=fmtp:97 apt=96
m=application 9 UDP/DTLS/SCTP webrtc-datachannel
c=IN IP4 0.0.0.0
a=mid:2
a=sctp-port:5000
a=max-message-size:262144
""")


# --- parsing --------------------------------------------------------------------------------------------------

def test_pjsua2_offer_parses_origin_connection_and_codecs_in_order() -> None:
    sd = SessionDescription.parse(PJSUA2_OFFER)
    assert sd.origin.session_id == 3912287162 and sd.origin.session_version == 3912287162
    assert sd.session_name == "pjmedia"
    (audio,) = sd.media
    assert (audio.media, audio.port, audio.proto) == ("audio", 4000, "RTP/AVP")
    assert [c.name for c in audio.codecs] == ["speex", "speex", "speex", "iLBC", "GSM", "PCMU", "PCMA", "G722",
                                              "telephone-event"]
    assert audio.codecs[3].fmtp == "mode=30"
    assert audio.rtcp_port == 4001 and audio.rtcp_address == "127.0.0.1"
    assert sd.rtp_address(audio) == ("127.0.0.1", 4000, 4001)
    assert sd.direction_of(audio) == "sendrecv"


def test_static_payload_types_resolve_without_rtpmap_with_the_g722_clock_quirk() -> None:
    sd = SessionDescription.parse(OLD_GATEWAY_HOLD)
    assert sd.media[0].codecs == [Codec("PCMA", 8000, 8), Codec("G722", 8000, 9)]
    assert codec_from_static(0) == Codec("PCMU", 8000, 0)
    assert codec_from_static(96) is None


def test_dynamic_payload_without_rtpmap_is_skipped_but_kept_on_the_m_line() -> None:
    sd = SessionDescription.parse(b"v=0\no=- 1 1 IN IP4 1.2.3.4\ns=-\nt=0 0\nm=audio 4000 RTP/AVP 0 96\n")
    assert [c.payload_type for c in sd.media[0].codecs] == [0]
    assert sd.media[0].formats == ["0", "96"]


def test_fmtp_before_rtpmap_is_attached_to_its_codec() -> None:
    sd = SessionDescription.parse(YEALINK_OFFER)
    te = [c for c in sd.media[0].codecs if c.name == "telephone-event"][0]
    assert (te.payload_type, te.clock_rate, te.fmtp) == (101, 8000, "0-15")
    assert sd.media[0].ptime == 20


def test_session_level_connection_and_direction_apply_to_media() -> None:
    sd = SessionDescription.parse(POLYCOM_OFFER)
    audio = sd.media[0]
    assert audio.connection is None
    assert sd.rtp_address(audio) == ("192.168.10.51", 2226, None)
    assert sd.direction_of(audio) == "sendrecv"


def test_bare_lf_and_crlf_parse_the_same() -> None:
    assert SessionDescription.parse(YEALINK_OFFER.replace(b"\r\n", b"\n")) == SessionDescription.parse(YEALINK_OFFER)


def test_chrome_offer_keeps_every_section_and_unknown_attribute() -> None:
    sd = SessionDescription.parse(CHROME_OFFER)
    assert [m.media for m in sd.media] == ["audio", "video", "application"]
    assert sd.get("group") == "BUNDLE 0 1 2"
    assert sd.get("extmap-allow-mixed") == ""
    audio = sd.media[0]
    assert audio.rtcp_mux
    opus = audio.codecs[0]
    assert (opus.name, opus.clock_rate, opus.channels, opus.fmtp) == ("opus", 48000, 2, "minptime=10;useinbandfec=1")
    assert sd.media[2].formats == ["webrtc-datachannel"]
    assert sd.media[2].codecs == []


@pytest.mark.parametrize("fixture", [PJSUA2_OFFER, POLYCOM_OFFER, YEALINK_OFFER, SIPP_OFFER, CHROME_OFFER])
def test_captured_descriptions_round_trip_byte_for_byte(fixture: bytes) -> None:
    assert SessionDescription.parse(fixture).serialize() == fixture


def test_serialize_puts_lines_in_rfc_order_and_uses_crlf() -> None:
    sd = SessionDescription.parse(OLD_GATEWAY_HOLD)
    assert sd.serialize() == crlf("""
v=0
o=gw 1 2 IN IP4 10.1.1.1
s=call
c=IN IP4 0.0.0.0
t=0 0
m=audio 5004 RTP/AVP 8 9
""")


@pytest.mark.parametrize("body, message", [
    (b"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nthis is not sdp\r\n", "not of the form"),
    (b"v=0\r\ns=-\r\n", "no o= line"),
    (b"v=0\r\no=- x 1 IN IP4 1.2.3.4\r\n", "numeric"),
    (b"v=0\r\no=- 1 1 IN IP4\r\n", "6 fields"),
    (b"v=0\r\no=- 1 1 IN IP4 1.1.1.1\r\nm=audio\r\n", "m= line"),
    (b"v=0\r\no=- 1 1 IN IP4 1.1.1.1\r\nm=audio 70000 RTP/AVP 0\r\n", "out of range"),
    (b"v=1\r\no=- 1 1 IN IP4 1.1.1.1\r\n", "version"),
    (b"v=0\r\no=- 1 1 IN IP4 1.1.1.1\r\nc=IN IP4\r\n", "c= line"),
])
def test_malformed_descriptions_raise_value_error_naming_the_problem(body: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SessionDescription.parse(body)


def test_malformed_rtpmap_raises_when_codecs_are_read() -> None:
    sd = SessionDescription.parse(b"v=0\no=- 1 1 IN IP4 1.1.1.1\ns=-\nt=0 0\nm=audio 1 RTP/AVP 96\na=rtpmap:96 x/abc\n")
    with pytest.raises(ValueError, match="rtpmap"):
        _ = sd.media[0].codecs


# --- hold -------------------------------------------------------------------------------------------------------

def test_sendonly_re_offer_is_hold() -> None:
    assert not SessionDescription.parse(YEALINK_OFFER).is_hold()
    assert SessionDescription.parse(YEALINK_HOLD).is_hold()


def test_inactive_is_hold() -> None:
    assert SessionDescription.parse(POLYCOM_OFFER.replace(b"a=sendrecv", b"a=inactive")).is_hold()


def test_connection_address_zero_is_rfc2543_hold() -> None:
    sd = SessionDescription.parse(OLD_GATEWAY_HOLD)
    assert sd.is_hold()
    assert sd.effective_direction(sd.media[0]) == "sendonly"


def test_recvonly_is_not_hold() -> None:
    assert not SessionDescription.parse(YEALINK_OFFER.replace(b"a=sendrecv", b"a=recvonly")).is_hold()


# --- offer ------------------------------------------------------------------------------------------------------

def test_build_offer_lists_codecs_telephone_event_ptime_and_direction() -> None:
    sd = build_offer("127.0.0.1", 10000, ["PCMU", "PCMA", "G722"], session_id=42, version=7)
    assert sd.serialize() == crlf("""
v=0
o=- 42 7 IN IP4 127.0.0.1
s=-
c=IN IP4 127.0.0.1
t=0 0
m=audio 10000 RTP/AVP 0 8 9 101
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:9 G722/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=ptime:20
a=sendrecv
""")


def test_build_offer_uses_ip6_for_an_ipv6_host_and_a_hold_direction() -> None:
    sd = build_offer("::1", 10002, ["PCMA"], telephone_event_pt=None, direction="sendonly", session_id=1)
    text = sd.serialize().decode()
    assert "c=IN IP6 ::1" in text and "o=- 1 0 IN IP6 ::1" in text
    assert "telephone-event" not in text and "a=sendonly" in text


def test_build_offer_adds_one_telephone_event_per_clock_rate_without_clashing_payload_types() -> None:
    opus = Codec("opus", 48000, 101, 2, "useinbandfec=1")
    sd = build_offer("127.0.0.1", 10000, [opus, "PCMU"], telephone_event_pt=101, session_id=1)
    events = [c for c in sd.media[0].codecs if c.name == "telephone-event"]
    assert [(c.payload_type, c.clock_rate) for c in events] == [(102, 48000), (103, 8000)]


def test_build_offer_refuses_a_dynamic_codec_given_by_name() -> None:
    with pytest.raises(ValueError, match="static payload type"):
        build_offer("127.0.0.1", 10000, ["opus"])


def test_sdp_versioner_increments_the_version_only_when_the_content_changes() -> None:
    versioner = SdpVersioner(session_id=99)
    first = versioner.stamp(build_offer("127.0.0.1", 10000, ["PCMU"]))
    same = versioner.stamp(build_offer("127.0.0.1", 10000, ["PCMU"]))
    hold = versioner.stamp(build_offer("127.0.0.1", 10000, ["PCMU"], direction="sendonly"))
    assert [first.origin.session_version, same.origin.session_version, hold.origin.session_version] == [0, 0, 1]
    assert {first.origin.session_id, hold.origin.session_id} == {99}


# --- answer -----------------------------------------------------------------------------------------------------

def test_answer_to_pjsua2_picks_the_offerers_first_supported_codec_and_its_event_number() -> None:
    offer = SessionDescription.parse(PJSUA2_OFFER)
    answer, codec, te_pt, direction = build_answer(offer, "127.0.0.1", 10000, ["PCMA", "PCMU"], session_id=5)
    assert codec == Codec("PCMU", 8000, 0)
    assert te_pt == 96 and direction == "sendrecv"
    assert answer.serialize() == crlf("""
v=0
o=- 5 0 IN IP4 127.0.0.1
s=-
c=IN IP4 127.0.0.1
t=0 0
m=audio 10000 RTP/AVP 0 96
a=rtpmap:0 PCMU/8000
a=rtpmap:96 telephone-event/8000
a=fmtp:96 0-16
a=ptime:20
a=sendrecv
""")


def test_answer_can_prefer_the_local_codec_order() -> None:
    offer = SessionDescription.parse(POLYCOM_OFFER)
    assert build_answer(offer, "127.0.0.1", 10000, ["PCMA", "G722"], prefer="local").codec.name == "PCMA"
    assert build_answer(offer, "127.0.0.1", 10000, ["PCMA", "G722"]).codec == Codec("G722", 8000, 9)


def test_answer_keeps_the_offers_event_fmtp() -> None:
    answer = build_answer(SessionDescription.parse(YEALINK_OFFER), "127.0.0.1", 10000, ["PCMU"]).answer
    assert answer.media[0].get_all("fmtp") == ["101 0-15"]


def test_answer_without_common_codec_raises_488_naming_both_sides() -> None:
    with pytest.raises(NotAcceptableHere, match="offered PCMU/8000; supported G722") as info:
        build_answer(SessionDescription.parse(SIPP_OFFER), "127.0.0.1", 10000, ["G722"])
    assert info.value.sip_status == 488


def test_answer_to_webrtc_rejects_srtp_profiles_unless_allowed_and_keeps_m_line_order() -> None:
    offer = SessionDescription.parse(CHROME_OFFER)
    with pytest.raises(NotAcceptableHere, match="profile UDP/TLS/RTP/SAVPF"):
        build_answer(offer, "127.0.0.1", 10000, ["PCMU"])
    answer, codec, te_pt, _ = build_answer(offer, "127.0.0.1", 10000, ["opus", "PCMU"],
                                           profiles=["UDP/TLS/RTP/SAVPF"])
    assert (codec.name, codec.payload_type, te_pt) == ("opus", 111, 110)
    assert [(m.media, m.port) for m in answer.media] == [("audio", 10000), ("video", 0), ("application", 0)]
    assert answer.media[1].formats == ["96", "97"] and answer.media[2].formats == ["webrtc-datachannel"]
    assert answer.media[0].rtcp_mux
    assert answer.media[0].get_all("fmtp")[0] == "111 minptime=10;useinbandfec=1"


def test_answer_rejects_a_second_audio_stream_with_port_zero() -> None:
    double = SIPP_OFFER + b"m=audio 6002 RTP/AVP 0\r\n"
    answer = build_answer(SessionDescription.parse(double), "127.0.0.1", 10000, ["PCMU"]).answer
    assert [m.port for m in answer.media] == [10000, 0]


def test_answer_to_a_disabled_stream_skips_it_for_the_next_audio() -> None:
    offer = SessionDescription.parse(SIPP_OFFER.replace(b"m=audio 6000", b"m=audio 0") + b"m=audio 6002 RTP/AVP 8\r\n")
    answer, codec, _, _ = build_answer(offer, "127.0.0.1", 10000, ["PCMU", "PCMA"])
    assert [m.port for m in answer.media] == [0, 10000] and codec.name == "PCMA"


@pytest.mark.parametrize("offered, wanted, expected", [
    ("sendrecv", "sendrecv", "sendrecv"), ("sendonly", "sendrecv", "recvonly"), ("recvonly", "sendrecv", "sendonly"),
    ("inactive", "sendrecv", "inactive"), ("sendrecv", "sendonly", "sendonly"), ("sendonly", "sendonly", "inactive"),
    ("sendrecv", "inactive", "inactive"),
])
def test_direction_negotiation_follows_rfc3264_section_6_1(offered: str, wanted: str, expected: str) -> None:
    assert negotiate_direction(offered, wanted) == expected


def test_answer_to_hold_is_recvonly_and_to_rfc2543_hold_too() -> None:
    assert build_answer(SessionDescription.parse(YEALINK_HOLD), "127.0.0.1", 10000, ["PCMU"]).direction == "recvonly"
    answer = build_answer(SessionDescription.parse(OLD_GATEWAY_HOLD), "127.0.0.1", 10000, ["PCMA"])
    assert answer.direction == "recvonly" and answer.answer.media[0].direction == "recvonly"


def test_process_answer_reads_the_peers_choice_and_mirrors_its_direction() -> None:
    offer = build_offer("127.0.0.1", 10000, ["PCMU", "PCMA"], session_id=1)
    their = build_answer(offer, "127.0.0.2", 20000, ["PCMA"], direction="recvonly").answer
    result = process_answer(offer, their)
    assert (result.codec.name, result.telephone_event_pt, result.direction) == ("PCMA", 101, "sendonly")


def test_process_answer_refuses_an_answer_with_a_different_number_of_streams() -> None:
    offer = build_offer("127.0.0.1", 10000, ["PCMU"], session_id=1)
    with pytest.raises(NotAcceptableHere, match="m-lines"):
        process_answer(offer, SessionDescription.parse(b"v=0\no=- 1 1 IN IP4 1.1.1.1\ns=-\nt=0 0\n"))
