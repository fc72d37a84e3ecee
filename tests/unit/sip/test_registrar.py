"""The registrar: digest challenge, bindings, expiry rules, wildcard removal (RFC 3261 §10.3)."""

from __future__ import annotations

import pytest

from appliance.sip.digest import DigestAuthenticator, client_authorization
from appliance.sip.location import LocationService
from appliance.sip.message import Request, Response, parse_message
from appliance.sip.registrar import Registrar, RegistrarPolicy
from appliance.sip.transaction import Peer

SECRETS = {"1001": "secret-1001", "1002": "secret-1002"}
PEER = Peer("udp", "127.0.0.1", 5099)
NOW = 1_800_000_000.0


@pytest.fixture
def location() -> LocationService:
    return LocationService(max_contacts=3)


@pytest.fixture
def registrar(location) -> Registrar:
    return Registrar(location, DigestAuthenticator("pbx.local"), SECRETS.get, RegistrarPolicy(60, 3600, 3600))


class Phone:
    """Builds REGISTERs the way a phone does, answering challenges."""

    def __init__(self, registrar: Registrar, user: str = "1001", password: str | None = None,
                 call_id: str = "reg-1", contact: str = "<sip:1001@10.0.0.5:5062>"):
        self.registrar = registrar
        self.user = user
        self.password = password if password is not None else SECRETS.get(user, "x")
        self.call_id = call_id
        self.contact = contact
        self.cseq = 0
        self.challenge: str | None = None
        self.nc = 0

    def build(self, contact: str | None = None, expires: int | None = None, extra: str = "") -> Request:
        self.cseq += 1
        lines = [
            f"REGISTER sip:pbx.local SIP/2.0",
            f"Via: SIP/2.0/UDP 10.0.0.5:5062;branch=z9hG4bK{self.cseq}x{self.call_id}",
            f"From: <sip:{self.user}@pbx.local>;tag=f{self.cseq}",
            f"To: <sip:{self.user}@pbx.local>",
            f"Call-ID: {self.call_id}",
            f"CSeq: {self.cseq} REGISTER",
        ]
        contact = self.contact if contact is None else contact
        if contact:
            lines.append(f"Contact: {contact}")
        if expires is not None:
            lines.append(f"Expires: {expires}")
        if self.challenge:
            self.nc += 1
            lines.append("Authorization: " + client_authorization(
                self.challenge, "REGISTER", "sip:pbx.local", self.user, self.password, nc=self.nc))
        if extra:
            lines.append(extra)
        return parse_message(("\r\n".join(lines) + "\r\nContent-Length: 0\r\n\r\n").encode())  # type: ignore

    def register(self, now: float = NOW, **kw) -> Response:
        response = self.registrar.handle(self.build(**kw), PEER, now, "tt")
        if response.status == 401:
            self.challenge = response.headers.get_fields("WWW-Authenticate")[0]
            self.nc = 0
            response = self.registrar.handle(self.build(**kw), PEER, now, "tt")
        return response


def test_register_without_credentials_is_challenged_with_sha256_and_md5(registrar):
    response = registrar.handle(Phone(registrar).build(), PEER, NOW, "tt")
    assert response.status == 401
    challenges = response.headers.get_fields("WWW-Authenticate")
    assert "SHA-256" in challenges[0] and "MD5" in challenges[1]


def test_unknown_extension_is_challenged_exactly_like_a_known_one(registrar):
    known = registrar.handle(Phone(registrar, "1001").build(), PEER, NOW, "tt")
    unknown = registrar.handle(Phone(registrar, "7777").build(), PEER, NOW, "tt")
    strip = lambda r: [v.split("nonce=")[0] for v in r.headers.get_fields("WWW-Authenticate")]
    assert (known.status, strip(known)) == (unknown.status, strip(unknown))
    # …and answering the challenge with a guessed password fails the same way for both.
    assert Phone(registrar, "7777", "guess").register().status == 401
    assert Phone(registrar, "1001", "guess").register().status == 401


def test_successful_registration_binds_the_contact_and_the_source_address(registrar, location):
    response = Phone(registrar).register()
    assert response.status == 200
    assert response.headers.get("Contact") == "<sip:1001@10.0.0.5:5062>;expires=3600"
    [contact] = location.lookup("1001", NOW)
    assert contact.peer == PEER and contact.expires_at == NOW + 3600


def test_two_devices_of_one_extension_are_both_bound(registrar, location):
    Phone(registrar, call_id="desk", contact="<sip:1001@10.0.0.5:5062>").register()
    response = Phone(registrar, call_id="app", contact="<sip:1001@10.0.0.9:5070>").register()
    assert len(response.headers.get_list("Contact")) == 2
    assert len(location.lookup("1001", NOW)) == 2


def test_user_cannot_register_another_extension(registrar):
    phone = Phone(registrar, "1001")
    phone.register()
    request = phone.build()
    request.headers.set("To", "<sip:1002@pbx.local>")
    assert registrar.handle(request, PEER, NOW, "tt").status == 403


def test_too_short_expiry_gets_423_with_min_expires(registrar):
    response = Phone(registrar).register(expires=30)
    assert response.status == 423 and response.headers.get("Min-Expires") == "60"


def test_expiry_is_capped_at_the_maximum(registrar):
    response = Phone(registrar).register(contact="<sip:1001@10.0.0.5>;expires=99999")
    assert response.headers.get("Contact").endswith("expires=3600")


def test_expires_zero_removes_one_binding(registrar, location):
    phone = Phone(registrar)
    phone.register()
    assert phone.register(expires=0).status == 200
    assert location.lookup("1001", NOW) == []


def test_wildcard_removes_all_bindings(registrar, location):
    Phone(registrar, call_id="desk", contact="<sip:1001@10.0.0.5>").register()
    Phone(registrar, call_id="app", contact="<sip:1001@10.0.0.9>").register()
    assert Phone(registrar, call_id="x").register(contact="*", expires=0).status == 200
    assert location.lookup("1001", NOW) == []


def test_wildcard_needs_expires_zero(registrar):
    assert Phone(registrar).register(contact="*").status == 400


def test_query_without_contact_lists_bindings(registrar):
    phone = Phone(registrar)
    phone.register()
    response = phone.register(contact="")
    assert response.status == 200 and len(response.headers.get_list("Contact")) == 1


def test_out_of_order_cseq_for_the_same_call_id_is_refused(registrar):
    phone = Phone(registrar)
    phone.register()
    phone.cseq = 0
    assert phone.register().status == 500


def test_bindings_expire(registrar, location):
    Phone(registrar).register(expires=60)
    assert location.lookup("1001", NOW + 59)
    assert not location.lookup("1001", NOW + 61)
    assert location.purge(NOW + 61) == ["1001"]


def test_the_oldest_device_is_dropped_beyond_the_contact_limit(registrar, location):
    for i in range(4):
        Phone(registrar, call_id=f"dev{i}", contact=f"<sip:1001@10.0.0.{i + 1}>").register(now=NOW + i)
    hosts = sorted(c.uri.host for c in location.lookup("1001", NOW + 5))
    assert hosts == ["10.0.0.2", "10.0.0.3", "10.0.0.4"]


def test_re_registration_with_the_same_instance_id_replaces_the_binding(registrar, location):
    inst = ';+sip.instance="<urn:uuid:00000000-0000-0000-0000-000000000001>";reg-id=1'
    Phone(registrar, call_id="a", contact=f"<sip:1001@10.0.0.5:5062>{inst}").register()
    Phone(registrar, call_id="b", contact=f"<sip:1001@10.0.0.5:6000>{inst}").register()
    [contact] = location.lookup("1001", NOW)
    assert contact.uri.port == 6000


def test_change_listeners_hear_about_registrations(registrar, location):
    heard = []
    location.subscribe(heard.append)
    Phone(registrar).register()
    assert heard == ["1001"]
