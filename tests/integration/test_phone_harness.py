"""The test harness itself: pjsua2 phones call each other directly on loopback, SIPp and the raw SIP client
talk to them. No PBX is involved; these tests prove the tools the PBX tests are built on."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Iterator

import pytest

from tests.audio import has_tone, tone_seconds, tone_segments
from tests.phones import Phone, PhoneCall
from tests.phones.tls import self_signed_cert
from tests.sip_client import SipClient, authorization, digest_response, parse_challenge
from tests.sipp import run_sipp, scenario, start_sipp

pytestmark = pytest.mark.integration

Pair = tuple[Phone, Phone, PhoneCall, PhoneCall]


def _connect(a: Phone, b: Phone) -> tuple[PhoneCall, PhoneCall]:
    out = a.call(b.uri())
    inc = b.wait_incoming()
    inc.answer()
    out.wait_media("active")
    inc.wait_media("active")
    return out, inc


@pytest.fixture
def pair(phone_factory) -> Iterator[Pair]:  # type: ignore[no-untyped-def]
    """Phones A and B with an answered call from A to B."""
    a, b = phone_factory.many("alice", "bob")
    out, inc = _connect(a, b)
    yield a, b, out, inc


def test_callee_rings_then_answers_a_direct_call(phone_factory) -> None:  # type: ignore[no-untyped-def]
    a, b = phone_factory.many("alice", "bob")
    out = a.call(b.uri(), headers={"X-Test": "harness"})
    inc = b.wait_incoming()
    assert inc.header("X-Test") == "harness"
    assert "alice" in inc.remote_uri
    inc.ringing()
    assert out.wait_state("early")["code"] == 180
    inc.answer()
    assert out.wait_state("confirmed")["code"] == 200
    inc.wait_state("confirmed")
    assert out.wait_media()["dir"] == "sendrecv"
    assert out.codec == inc.codec == "PCMU/8000"


def test_tones_are_heard_at_the_far_end_in_both_directions(pair: Pair, tmp_path: Path) -> None:
    _, _, out, inc = pair
    heard_by_b = inc.record(tmp_path / "b_hears.wav")
    heard_by_a = out.record(tmp_path / "a_hears.wav")
    out.play_tone(1000)
    inc.play_tone(1600)
    time.sleep(1.0)
    inc.stop_recording()
    out.stop_recording()
    heard = {name: tone_segments(path, [1000, 1600]) for name, path in (("b", heard_by_b), ("a", heard_by_a))}
    assert tone_seconds(heard_by_b, 1000) >= 0.7, heard
    assert tone_seconds(heard_by_b, 1600) == 0.0, heard
    assert tone_seconds(heard_by_a, 1600) >= 0.7, heard
    assert tone_seconds(heard_by_a, 1000) == 0.0, heard


@pytest.mark.parametrize("method", ["rfc2833", "info"])
def test_dtmf_digits_arrive_in_order(pair: Pair, method: str) -> None:
    _, _, out, inc = pair
    out.send_dtmf("1234#", method=method)
    assert inc.wait_dtmf(5) == "1234#"
    assert {m for _, m in inc.dtmf_received} == {method}


def test_inband_dtmf_is_heard_as_its_two_frequencies(pair: Pair, tmp_path: Path) -> None:
    _, _, out, inc = pair
    heard = inc.record(tmp_path / "dtmf.wav")
    out.send_dtmf("5", method="inband", duration=300)
    time.sleep(0.6)
    inc.stop_recording()
    # A busy CI machine can starve a phone's audio clock for a frame or two: bridge short dropouts.
    segments = tone_segments(heard, [770, 1336, 697, 1209], bridge_gaps=0.1)
    assert {freq for _, _, freq in segments} == {770.0, 1336.0}
    assert all(0.2 <= end - start <= 0.4 for start, end, _ in segments), segments


def test_early_media_of_a_183_is_heard_before_the_answer(phone_factory,  # type: ignore[no-untyped-def]
                                                         tmp_path: Path) -> None:
    a, b = phone_factory.many("alice", "bob")
    out = a.call(b.uri())
    inc = b.wait_incoming()
    inc.ringing(183)
    inc.play_tone(425)
    assert out.wait_state("early")["code"] == 183
    out.wait_media("active")
    heard = out.record(tmp_path / "ringback.wav")
    time.sleep(0.6)
    out.stop_recording()
    assert out.state == "early"
    assert has_tone(heard, 425, min_seconds=0.4)


def test_hold_and_unhold_change_the_media_state_on_both_sides(pair: Pair) -> None:
    _, _, out, inc = pair
    out.hold()
    assert out.wait_media("local_hold")["dir"] == "sendonly"
    assert inc.wait_media("remote_hold")["dir"] == "recvonly"
    out.unhold()
    out.wait_media("active")
    assert inc.wait_media("active")["dir"] == "sendrecv"


@pytest.mark.parametrize("side", ["caller", "callee"])
def test_either_side_can_hang_up(pair: Pair, side: str) -> None:
    _, _, out, inc = pair
    hanging, other = (out, inc) if side == "caller" else (inc, out)
    hanging.hangup()
    assert other.wait_disconnected()["code"] == 200
    hanging.wait_disconnected()
    other.hangup()  # hanging up an ended call is harmless, as on a desk phone


def test_busy_callee_gives_the_caller_486(phone_factory) -> None:  # type: ignore[no-untyped-def]
    a, b = phone_factory.many("alice", "bob")
    out = a.call(b.uri())
    b.wait_incoming().reject(486)
    ended = out.wait_disconnected()
    assert (ended["code"], out.last_status_code) == (486, 486)
    with pytest.raises(AssertionError, match="ended \\(486"):
        out.wait_state("confirmed", timeout=0.5)


@pytest.mark.parametrize(("codecs", "expected"), [(["PCMA"], "PCMA/8000"), (["G722", "PCMU"], "G722/16000")])
def test_codec_priorities_choose_the_stream_codec(phone_factory, codecs: list[str],  # type: ignore[no-untyped-def]
                                                  expected: str) -> None:
    a = phone_factory("alice", codecs=codecs)
    b = phone_factory("bob", codecs=["G722", "PCMU", "PCMA"])
    out, inc = _connect(a, b)
    assert out.codec == inc.codec == expected


def test_calls_over_tcp_work_like_udp(phone_factory) -> None:  # type: ignore[no-untyped-def]
    a, b = phone_factory.many("alice", "bob", transports=("tcp", "udp"))
    out = a.call(b.uri("tcp"))
    inc = b.wait_incoming()
    assert "TCP" in (inc.header("Via") or "")
    inc.answer()
    out.wait_confirmed()
    out.send_dtmf("9", method="info")
    assert inc.wait_dtmf(1) == "9"


def test_calls_over_tls_work_with_a_self_signed_certificate(phone_factory,  # type: ignore[no-untyped-def]
                                                             tmp_path: Path) -> None:
    cert, key = self_signed_cert(tmp_path / "tls")
    a, b = phone_factory.many("alice", "bob", transports=("tls",), tls_cert=cert, tls_key=key)
    out = a.call(b.uri("tls"))
    inc = b.wait_incoming()
    assert "SIP/2.0/TLS" in (inc.header("Via") or "")
    inc.answer()
    out.wait_media("active")


def test_auto_answer_rings_and_answers_after_the_delay(phone_factory) -> None:  # type: ignore[no-untyped-def]
    a, b = phone_factory.many("alice", "bob")
    b.set_auto_answer(200, delay=0.3, ring=180)
    out = a.call(b.uri())
    early = out.wait_state("early")
    confirmed = out.wait_confirmed()
    assert confirmed["t"] - early["t"] >= 0.25


def test_blind_transfer_moves_the_caller_to_a_third_phone(phone_factory) -> None:  # type: ignore[no-untyped-def]
    a, b, c = phone_factory.many("alice", "bob", "carol")
    out, inc = _connect(a, b)
    c.set_auto_answer(200)
    inc.transfer(c.uri())
    transferred = out.wait_transferred()
    transferred.wait_confirmed()
    assert c.wait_incoming().wait_confirmed()
    assert inc.wait_event("transfer_status", final=True)["code"] == 200
    inc.wait_disconnected()  # the transferor leaves by itself once the target answered
    out.wait_disconnected()


def test_a_timed_out_wait_explains_what_the_phone_saw(phone_factory) -> None:  # type: ignore[no-untyped-def]
    a = phone_factory("alice")
    with pytest.raises(AssertionError) as failure:
        a.wait_incoming(timeout=0.2)
    text = str(failure.value)
    assert "timed out after 0.2s waiting for an incoming call" in text
    assert "recent events" in text and "ready" in text and "stderr tail" in text


def test_sipp_uac_call_is_answered_by_a_phone(phone_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    b = phone_factory("bob")
    b.set_auto_answer(200, ring=180)
    result = run_sipp(scenario("uac_call"), f"127.0.0.1:{b.port}", service="bob", workdir=tmp_path / "sipp")
    result.check()
    assert (result.successful_calls, result.failed_calls) == (1, 0)
    inc = b.wait_incoming()
    assert inc.header("Subject") == "harness"
    assert inc.wait_disconnected()["code"] == 200


def test_phone_call_is_answered_by_a_sipp_uas(phone_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    a = phone_factory("alice")
    uas = start_sipp(scenario("uas_answer"), workdir=tmp_path / "sipp")
    try:
        out = a.call(f"sip:service@{uas.uri_host}")
        assert out.wait_state("early")["code"] == 180
        out.wait_media("active")
        out.hangup()
        out.wait_disconnected()
    finally:
        result = uas.wait(10)
    result.check()


@pytest.mark.parametrize(("password", "outcome"), [("secret", 200), ("wrong", 403)])
def test_phone_registers_with_digest_at_a_sipp_registrar(phone_factory, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                         password: str, outcome: int) -> None:
    a = phone_factory("alice")
    registrar = start_sipp(scenario("uas_registrar_auth"), workdir=tmp_path / "sipp",
                           variables={"user": "alice", "password": "secret", "realm": "pbx.test"})
    try:
        a.register(registrar.uri_host, "alice", password, realm="pbx.test")
        if outcome == 200:
            assert a.wait_registered()["expires"] == 120
        else:
            assert a.wait_reg_state(code=403)["code"] == 403
    finally:
        result = registrar.wait(10)
    assert result.successful_calls == (1 if outcome == 200 else 0)


@pytest.mark.parametrize("password", ["secret", "wrong"])
def test_raw_client_digest_is_checked_by_sipp(tmp_path: Path, password: str) -> None:
    registrar = start_sipp(scenario("uas_registrar_auth"), workdir=tmp_path / "sipp",
                           variables={"user": "bob", "password": "secret", "realm": "pbx.test"})
    uri = f"sip:{registrar.uri_host}"
    try:
        with SipClient(registrar.port) as client:
            client.request("REGISTER", uri, user="bob", to="<sip:bob@127.0.0.1>", headers={"Expires": "60"})
            challenge = client.expect_response(401).header("WWW-Authenticate") or ""
            assert parse_challenge(challenge)["qop"] == "auth"
            answer = authorization(challenge, "REGISTER", uri, "bob", password)
            client.request("REGISTER", uri, user="bob", to="<sip:bob@127.0.0.1>",
                           headers={"Expires": "60", "Authorization": answer})
            final = client.expect_response()
    finally:
        registrar.wait(10)
    assert final.status == (200 if password == "secret" else 403)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_raw_client_talks_to_a_phone(phone_factory, transport: str) -> None:  # type: ignore[no-untyped-def]
    a = phone_factory("alice", transports=(transport,))
    with SipClient(a.port, transport) as client:
        client.send(b"\r\n\r\n")  # keep-alive noise first: must be ignored by both ends
        sent = client.request("OPTIONS", a.uri())
        answer = client.expect_response(200)
    assert answer.call_id == sent.call_id and answer.cseq == (1, "OPTIONS")
    assert answer.tag("To") and "INVITE" in (answer.header("Allow") or "")


def test_digest_calculator_matches_the_rfc_examples() -> None:
    # RFC 2617 §3.5
    assert digest_response("Mufasa", "testrealm@host.com", "Circle Of Life", "GET", "/dir/index.html",
                           "dcd98b7102dd2f0e8b11d0f600bfb0c093", "MD5", "auth", "00000001",
                           "0a4f113b") == "6629fae49393a05397450978507c4ef1"
    # RFC 7616 §3.9.1, SHA-256 and MD5
    args = ("Mufasa", "http-auth@example.org", "Circle of Life", "GET", "/dir/index.html",
            "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v")
    cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"
    assert digest_response(*args, "SHA-256", "auth", "00000001", cnonce) == \
        "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
    assert digest_response(*args, "MD5", "auth", "00000001", cnonce) == "8ca523f5e9506fed4657c9700eebdbec"
