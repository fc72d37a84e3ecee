"""Property tests: mutated torture and captured messages never make the parser misbehave.

Mutations are bit flips, truncation, insertion of bytes that matter to the grammar, deletion and line
duplication. Whatever comes in, `parse_message` returns a message or raises SipParseError; a parsed message
always serializes, and what it serializes parses back to the same start line, headers and body; typed
accessors raise nothing but ValueError; validation and `make_response` never raise; and StreamFramer
cuts the same messages whatever the chunking.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "sip"
SEEDS = sorted(p.read_bytes() for p in [*FIXTURES.glob("torture/*.dat"), *FIXTURES.glob("captured/*/*.sip")])
INTERESTING = b"\x00\r\n\t :;,\"<>\\%@[]?=/*\xff\xc3"

FUZZ = settings(max_examples=400, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        kind = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "replace", "duplicate_line"]))
        if kind == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "truncate":
            del data[at:]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8) | st.lists(
                st.sampled_from(list(INTERESTING)), min_size=1, max_size=4).map(bytes))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 40))]
        elif kind == "replace":
            data[at] = draw(st.sampled_from(list(INTERESTING)))
        else:
            start = data.rfind(b"\n", 0, at) + 1
            end = data.find(b"\n", at)
            line = bytes(data[start : end + 1 if end >= 0 else len(data)])
            data[start:start] = line * draw(st.integers(1, 3))
    return bytes(data)


def start_line(m: Request | Response) -> tuple:
    return (m.method, m.uri_text, m.version) if isinstance(m, Request) else (m.status, m.reason, m.version)


def exercise_accessors(m: Request | Response) -> None:
    names = ("vias", "from_", "to", "cseq", "contacts", "expires", "max_forwards", "content_type", "call_id")
    for name in names + (("uri",) if isinstance(m, Request) else ()):
        try:
            getattr(m, name)
        except ValueError:
            pass
    for header in ("Route", "Record-Route", "Path"):
        try:
            m.name_addresses(header)
        except ValueError:
            pass


@FUZZ
@given(mutated())
def test_mutated_messages_parse_or_raise_sip_parse_error(data: bytes) -> None:
    try:
        message = parse_message(data)
    except SipParseError as err:
        if err.response_possible:
            assert err.request is not None and err.request.method != "ACK"
            parse_message(make_response(err.request, 400, to_tag="t").serialize())
        return
    wire = message.serialize()
    again = parse_message(wire)
    assert start_line(again) == start_line(message)
    assert [h for h in again.headers if h[0] != "Content-Length"] == \
        [h for h in message.headers if h[0] != "Content-Length"]
    assert again.body == message.body and again.serialize() == wire
    exercise_accessors(message)
    if isinstance(message, Request):
        validate_request(message)
        validate_request(message, strict=True)
        parse_message(make_response(message, 400, to_tag="t").serialize())
    else:
        validate_response(message)


@FUZZ
@given(st.binary(max_size=600))
def test_random_bytes_parse_or_raise_sip_parse_error(data: bytes) -> None:
    try:
        parse_message(data)
    except SipParseError:
        pass


@FUZZ
@given(st.lists(st.sampled_from(SEEDS[:20]), min_size=1, max_size=4), st.data())
def test_framer_output_does_not_depend_on_chunking(messages: list[bytes], data: st.DataObject) -> None:
    stream = b"\r\n\r\n".join(messages)
    try:
        whole = StreamFramer().feed(stream)
    except SipParseError:
        whole = None
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=12)))
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)])]
    framer = StreamFramer()
    pieces: list[bytes] = []
    try:
        for chunk in chunks:
            pieces += framer.feed(chunk)
    except SipParseError:
        assert whole is None
        return
    assert pieces == whole


@FUZZ
@given(mutated(), st.lists(st.integers(1, 64), max_size=20))
def test_framer_fed_mutated_bytes_raises_only_sip_parse_error(data: bytes, sizes: list[int]) -> None:
    framer = StreamFramer()
    at = 0
    try:
        for size in [*sizes, len(data)]:
            for message in framer.feed(data[at : at + size]):
                try:
                    parse_message(message)
                except SipParseError:
                    pass
            at += size
    except SipParseError:
        pass
