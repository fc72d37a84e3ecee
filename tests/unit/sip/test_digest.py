"""Digest authentication: RFC 2617/7616 vectors, nonce expiry and replay protection."""

from __future__ import annotations

import pytest

from appliance.sip.digest import (
    Credentials,
    DigestAuthenticator,
    Verdict,
    client_authorization,
    digest_response,
    ha1,
)


def test_rfc2617_md5_vector():
    h1 = ha1("MD5", "Mufasa", "testrealm@host.com", "Circle Of Life")
    assert digest_response("MD5", h1, "dcd98b7102dd2f0e8b11d0f600bfb0c093", "GET", "/dir/index.html",
                           "auth", "00000001", "0a4f113b") == "6629fae49393a05397450978507c4ef1"


@pytest.mark.parametrize("algorithm,expected", [
    ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
    ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
])
def test_rfc7616_vectors(algorithm, expected):
    h1 = ha1(algorithm, "Mufasa", "http-auth@example.org", "Circle of Life")
    assert digest_response(algorithm, h1, "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", "GET",
                           "/dir/index.html", "auth", "00000001",
                           "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ") == expected


@pytest.fixture
def auth() -> DigestAuthenticator:
    return DigestAuthenticator("pbx.local", nonce_ttl=300)


def answer(auth: DigestAuthenticator, now: float, index: int = 0, password: str = "s3cret!!", nc: int = 1,
           user: str = "1001") -> str:
    challenge = auth.challenges(now)[index]
    return client_authorization(challenge, "REGISTER", "sip:pbx.local", user, password, nc=nc)


def test_challenges_offer_sha256_first_then_md5_with_one_nonce(auth):
    sha, md5 = auth.challenges(10.0)
    assert "algorithm=SHA-256" in sha and "algorithm=MD5" in md5
    assert Credentials.parse(sha.replace("Digest", "Digest username=\"x\", uri=\"u\", response=\"r\",")).nonce == \
        Credentials.parse(md5.replace("Digest", "Digest username=\"x\", uri=\"u\", response=\"r\",")).nonce


@pytest.mark.parametrize("index", [0, 1])
def test_right_password_verifies_with_both_algorithms(auth, index):
    verdict, creds = auth.verify(answer(auth, 10.0, index), "REGISTER", "s3cret!!", 11.0)
    assert verdict is Verdict.OK and creds.username == "1001"


def test_wrong_password_and_unknown_user_fail_the_same_way(auth):
    wrong = auth.verify(answer(auth, 10.0, password="nope"), "REGISTER", "s3cret!!", 11.0)[0]
    unknown = auth.verify(answer(auth, 10.0, user="9999"), "REGISTER", None, 11.0)[0]
    assert wrong is Verdict.FAILED and unknown is Verdict.FAILED


def test_challenge_does_not_depend_on_the_user(auth):
    a, b = auth.challenges(5.0), auth.challenges(5.0)
    strip = lambda c: c.split("nonce=")[0]
    assert [strip(c) for c in a] == [strip(c) for c in b]


def test_missing_credentials_ask_for_a_challenge(auth):
    assert auth.verify(None, "REGISTER", "x", 1.0)[0] is Verdict.MISSING


def test_expired_nonce_is_stale(auth):
    header = answer(auth, 10.0)
    assert auth.verify(header, "REGISTER", "s3cret!!", 10.0 + 301)[0] is Verdict.STALE


def test_replayed_nonce_count_is_refused(auth):
    header = answer(auth, 10.0)
    assert auth.verify(header, "REGISTER", "s3cret!!", 11.0)[0] is Verdict.OK
    assert auth.verify(header, "REGISTER", "s3cret!!", 12.0)[0] is Verdict.STALE


def test_increasing_nonce_count_is_accepted(auth):
    challenge = auth.challenges(10.0)[1]
    for nc in (1, 2, 5):
        header = client_authorization(challenge, "REGISTER", "sip:pbx.local", "1001", "s3cret!!", nc=nc)
        assert auth.verify(header, "REGISTER", "s3cret!!", 11.0)[0] is Verdict.OK


def test_nonce_from_another_key_is_stale_not_failed(auth):
    other = DigestAuthenticator("pbx.local")
    header = answer(other, 10.0)
    assert auth.verify(header, "REGISTER", "s3cret!!", 11.0)[0] is Verdict.STALE


def test_tampered_nonce_never_verifies(auth):
    header = answer(auth, 10.0)
    # The client computed its response over the tampered nonce too: the HMAC check still refuses it.
    challenge = auth.challenges(10.0)[1].replace('nonce="', 'nonce="AAAA')
    forged = client_authorization(challenge, "REGISTER", "sip:pbx.local", "1001", "s3cret!!")
    assert auth.verify(forged, "REGISTER", "s3cret!!", 11.0)[0] is Verdict.STALE
    assert auth.verify(header.replace('response="', 'response="0'), "REGISTER", "s3cret!!", 11.0)[0] is \
        Verdict.FAILED


def test_credentials_for_another_realm_are_missing(auth):
    other = DigestAuthenticator("elsewhere")
    assert auth.verify(answer(other, 10.0), "REGISTER", "s3cret!!", 11.0)[0] is Verdict.MISSING


def test_malformed_header_fails(auth):
    assert auth.verify('Digest username="x"', "REGISTER", "p", 1.0)[0] is Verdict.FAILED
    assert auth.verify("Basic Zm9vOmJhcg==", "REGISTER", "p", 1.0)[0] is Verdict.FAILED


def test_client_without_qop_may_use_a_nonce_once():
    auth = DigestAuthenticator("pbx.local", algorithms=("MD5",))
    challenge = auth.challenges(1.0)[0].replace(', qop="auth"', "")
    header = client_authorization(challenge, "INVITE", "sip:1002@pbx.local", "1001", "pw")
    assert auth.verify(header, "INVITE", "pw", 2.0)[0] is Verdict.OK
    assert auth.verify(header, "INVITE", "pw", 3.0)[0] is Verdict.STALE
