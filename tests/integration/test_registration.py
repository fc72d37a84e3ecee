"""Registration with digest authentication against the real daemon, over UDP, TCP and TLS."""

from __future__ import annotations

import time

import pytest

from tests import audio
from tests.sip_client import SipClient, authorization

pytestmark = pytest.mark.integration


def register_request(client: SipClient, pbx, user: str, auth: str | None = None, expires: int = 300,
                     call_id: str | None = None):
    headers = [("To", f"<sip:{user}@{pbx.realm}>"), ("Expires", str(expires))]
    if auth:
        headers.append(("Authorization", auth))
    client.request("REGISTER", f"sip:{pbx.realm}", user=user, headers=headers, call_id=call_id)
    return client.expect_response()


def test_register_is_challenged_with_sha256_then_md5(pbx):
    with SipClient(pbx.sip_port) as client:
        response = register_request(client, pbx, "2001")
    assert response.status == 401
    challenges = response.header_all("WWW-Authenticate")
    assert "algorithm=SHA-256" in challenges[0] and "algorithm=MD5" in challenges[1]


@pytest.mark.parametrize("index", [0, 1], ids=["sha256", "md5"])
def test_answering_the_challenge_registers(pbx, index):
    with SipClient(pbx.sip_port) as client:
        challenge = register_request(client, pbx, "2001").header_all("WWW-Authenticate")[index]
        auth = authorization(challenge, "REGISTER", f"sip:{pbx.realm}", "2001", pbx.secrets["2001"])
        response = register_request(client, pbx, "2001", auth)
        assert response.status == 200
        assert "expires=300" in response.header("Contact")
    assert [r["extension"] for r in pbx.control("status")["registrations"]] == ["2001"]


def test_replayed_credentials_are_refused(pbx):
    with SipClient(pbx.sip_port) as client:
        challenge = register_request(client, pbx, "2001").header_all("WWW-Authenticate")[0]
        auth = authorization(challenge, "REGISTER", f"sip:{pbx.realm}", "2001", pbx.secrets["2001"])
        assert register_request(client, pbx, "2001", auth).status == 200
        replay = register_request(client, pbx, "2001", auth)
        assert replay.status == 401 and "stale=true" in replay.header("WWW-Authenticate")


def test_unknown_users_and_wrong_passwords_look_the_same(pbx):
    with SipClient(pbx.sip_port) as client:
        answers = []
        for user, password in (("2001", "wrong-password"), ("7777", "whatever-pw")):
            challenge = register_request(client, pbx, user).header_all("WWW-Authenticate")[0]
            auth = authorization(challenge, "REGISTER", f"sip:{pbx.realm}", user, password)
            response = register_request(client, pbx, user, auth)
            answers.append((response.status, response.header("WWW-Authenticate").split("nonce=")[0]))
    assert answers[0] == answers[1] and answers[0][0] == 401


def test_a_phone_with_a_wrong_password_is_not_registered(pbx, phone_factory):
    phone = phone_factory("mallory")
    phone.register(pbx.address, "2001", "not-the-password")
    event = phone.wait_reg_state(5, code=401)
    assert event["code"] == 401
    assert pbx.control("status")["registrations"] == []


def test_unregister_removes_the_binding(pbx, phone_factory):
    phone = phone_factory("alice")
    pbx.register(phone, "2001")
    assert len(pbx.control("status")["registrations"]) == 1
    phone.unregister()
    phone.wait_unregistered(5)
    assert pbx.control("status")["registrations"] == []


def test_too_short_expiry_gets_423(pbx):
    with SipClient(pbx.sip_port) as client:
        challenge = register_request(client, pbx, "2001").header_all("WWW-Authenticate")[0]
        auth = authorization(challenge, "REGISTER", f"sip:{pbx.realm}", "2001", pbx.secrets["2001"])
        response = register_request(client, pbx, "2001", auth, expires=10)
    assert response.status == 423 and response.header("Min-Expires") == "60"


def test_options_is_answered(pbx):
    with SipClient(pbx.sip_port) as client:
        client.request("OPTIONS", f"sip:{pbx.address}")
        response = client.expect_response(200)
    assert "INVITE" in response.header("Allow")


@pytest.mark.parametrize("caller_transport,callee_transport", [("tcp", "tls"), ("tls", "udp")])
def test_phones_on_tcp_and_tls_register_and_talk(pbx, phone_factory, tmp_path, caller_transport,
                                                  callee_transport):
    alice = phone_factory("alice", transports=(caller_transport,))
    bob = phone_factory("bob", transports=(callee_transport,))
    pbx.register(alice, "2001", caller_transport)
    pbx.register(bob, "2002", callee_transport)
    sources = {r["extension"]: r["source"] for r in pbx.control("status")["registrations"]}
    assert sources["2001"].startswith(caller_transport) and sources["2002"].startswith(callee_transport)

    port = pbx.tls_port if caller_transport == "tls" else pbx.sip_port
    call = alice.call(f"sip:2002@127.0.0.1:{port};transport={caller_transport}")
    incoming = bob.wait_incoming(5)
    incoming.answer()
    call.wait_confirmed(5)
    call.play_tone(1000)
    heard = incoming.record(tmp_path / "bob.wav")
    time.sleep(1.2)
    incoming.stop_recording()
    call.hangup()
    incoming.wait_disconnected(5)
    assert audio.has_tone(heard, 1000, 0.6)


def test_registrations_survive_a_daemon_restart(pbx, phone_factory):
    bob = phone_factory("bob")
    pbx.register(bob, "2002", expires=600)
    pbx.stop()
    pbx.start()
    assert [r["extension"] for r in pbx.control("status")["registrations"]] == ["2002"]
    alice = phone_factory("alice")
    pbx.register(alice, "2001")
    call = alice.call(pbx.uri("2002"))
    incoming = bob.wait_incoming(5)  # bob never re-registered: the binding came back from the store
    incoming.answer()
    call.wait_confirmed(5)
    call.hangup()
