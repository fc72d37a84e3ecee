"""StreamFramer: cutting a TCP/TLS byte stream into SIP messages (RFC 3261 §18.3, RFC 5626 §3.5.1 keep-alives)."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.sip.message import SipParseError, StreamFramer, parse_message

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "sip"
PING = b"\r\n\r\n"

INVITE = (FIXTURES / "captured" / "pjsua2" / "invite.sip").read_bytes()
BYE = (FIXTURES / "captured" / "pjsua2" / "bye.sip").read_bytes()
OK = (FIXTURES / "captured" / "pjsua2" / "response_200_invite.sip").read_bytes()


def feed_all(framer: StreamFramer, chunks: list[bytes]) -> list[bytes]:
    out: list[bytes] = []
    for chunk in chunks:
        out += framer.feed(chunk)
    return out


def test_one_message_in_one_chunk() -> None:
    assert StreamFramer().feed(INVITE) == [INVITE]


@pytest.mark.parametrize("message", [INVITE, OK, BYE], ids=["invite", "200", "bye"])
def test_a_message_split_at_every_byte_boundary(message: bytes) -> None:
    for cut in range(1, len(message)):
        framer = StreamFramer()
        assert framer.feed(message[:cut]) == [], cut
        assert framer.feed(message[cut:]) == [message], cut
        assert framer.feed(b"") == []


def test_a_message_fed_one_byte_at_a_time() -> None:
    framer = StreamFramer()
    out = feed_all(framer, [INVITE[i : i + 1] for i in range(len(INVITE))])
    assert out == [INVITE]


def test_several_messages_in_one_chunk_and_across_chunks() -> None:
    stream = INVITE + OK + BYE
    assert StreamFramer().feed(stream) == [INVITE, OK, BYE]
    framer = StreamFramer()
    third = len(stream) // 3
    assert feed_all(framer, [stream[:third], stream[third : 2 * third], stream[2 * third :]]) == [INVITE, OK, BYE]


def test_body_containing_an_empty_line_is_not_cut() -> None:
    body = b"part one\r\n\r\npart two"
    message = b"MESSAGE sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nContent-Length: %d\r\n\r\n%s" % (
        len(body), body)
    assert StreamFramer().feed(message + BYE) == [message, BYE]


def test_double_crlf_keep_alive_is_reported_as_a_ping() -> None:
    framer = StreamFramer()
    assert framer.feed(PING) == [PING]
    assert framer.feed(PING + PING) == [PING, PING]


def test_ping_split_into_bytes_is_still_a_ping() -> None:
    framer = StreamFramer()
    assert [framer.feed(bytes([b])) for b in PING] == [[], [], [], [PING]]


def test_pings_between_messages_and_lone_crlf_pongs_are_dropped() -> None:
    framer = StreamFramer()
    assert framer.feed(PING + INVITE + b"\r\n" + BYE + PING) == [PING, INVITE, BYE, PING]
    assert framer.feed(b"\r\n") == []       # a pong (or half a ping): waits
    assert framer.feed(INVITE) == [INVITE]  # it was a lone CRLF before a message


def test_missing_content_length_means_no_body_on_a_stream() -> None:
    headers_only = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\n\r\n"
    assert StreamFramer().feed(headers_only + BYE) == [headers_only, BYE]


def test_compact_folded_and_repeated_equal_content_length() -> None:
    body = b"hello"
    compact = b"MESSAGE sip:a@b SIP/2.0\r\nl :  5\r\n\r\n" + body
    folded = b"MESSAGE sip:a@b SIP/2.0\r\nContent-Length:\r\n 5\r\n\r\n" + body
    repeated = b"MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 5\r\nl: 005\r\n\r\n" + body
    assert StreamFramer().feed(compact + folded + repeated) == [compact, folded, repeated]
    assert parse_message(folded).body == body


def test_dblreq_on_a_stream_is_two_messages_and_the_junk_after_them_is_refused() -> None:
    data = (FIXTURES / "torture" / "dblreq.dat").read_bytes()
    register, invite, junk = StreamFramer().feed(data)  # the INVITE's body is longer than its Content-Length
    assert parse_message(register).method == "REGISTER" and parse_message(invite).method == "INVITE"
    assert len(parse_message(invite).body) == 150
    assert junk == b"C\r\n\r\n"
    with pytest.raises(SipParseError):
        parse_message(junk)


@pytest.mark.parametrize("value", [b"five", b"-999", b"", b"1e3", b"99999999999", b"\xd9\xa3"])
def test_bad_content_length_breaks_framing(value: bytes) -> None:
    framer = StreamFramer()
    with pytest.raises(SipParseError):
        framer.feed(b"INVITE sip:a@b SIP/2.0\r\nContent-Length: " + value + b"\r\n\r\n")


def test_conflicting_content_lengths_break_framing() -> None:
    with pytest.raises(SipParseError):
        StreamFramer().feed(b"INVITE sip:a@b SIP/2.0\r\nContent-Length: 13\r\nl: 5\r\n\r\n" + b"x" * 13)


def test_oversized_header_section_breaks_framing() -> None:
    framer = StreamFramer(max_size=1000)
    assert framer.feed(b"INVITE sip:a@b SIP/2.0\r\n" + b"X-Pad: y\r\n" * 90) == []
    with pytest.raises(SipParseError):
        framer.feed(b"X-Pad: y\r\n" * 10)


def test_oversized_body_breaks_framing_before_it_arrives() -> None:
    framer = StreamFramer(max_size=1000)
    with pytest.raises(SipParseError):
        framer.feed(b"MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 5000\r\n\r\n")


def test_after_an_error_the_framer_stays_broken() -> None:
    framer = StreamFramer()
    with pytest.raises(SipParseError):
        framer.feed(b"INVITE sip:a@b SIP/2.0\r\nContent-Length: x\r\n\r\n")
    with pytest.raises(SipParseError):
        framer.feed(BYE)


def test_every_torture_message_with_exact_framing_comes_out_whole() -> None:
    for path in sorted((FIXTURES / "torture").glob("*.dat")):
        data = path.read_bytes()
        try:
            message = parse_message(data)
        except SipParseError:
            continue
        if message.headers.get("Content-Length") is None or path.stem == "dblreq":
            continue
        framer = StreamFramer()
        out = feed_all(framer, [data[i : i + 7] for i in range(0, len(data), 7)])
        assert out and out[0] == data[: len(out[0])], path.stem
        assert parse_message(out[0]).body == message.body, path.stem
