"""Audit of issue 4 (extension web UI and browser phone): checks the existing tests left implicit.

CSRF and login guards over every route of the URL map (not a hand-picked list), bad values kept where the
other tests only look for the message, the certificate upload's size limit, SQL and HTML metacharacters in
what users submit, and a browser that offers G.711 only.
"""

from __future__ import annotations

import io
import re
from typing import Any

import numpy as np
import pytest

from appliance.store import ExtensionStore, SettingsStore
from appliance.store.contacts import Contact, ContactNumber, ContactStore
from appliance.webui import certificates
from tests.unit.webui.conftest import text

_SAMPLE = {"number": "1001", "contact_id": "1", "record_id": "1", "message_id": "1", "rule_id": "1",
           "kind": "busy", "token": "read.1-2.3.AAAAAAAAAAAAAAAAAAAAAA"}
#: Pages without a login: voicemail e-mail action links, where the signed token is the authority.
_TOKEN_PAGES = "/vm/"


def _concrete(rule: str) -> str:
    """A URL for a rule with its placeholders filled in (<int:message_id> -> 1, <number> -> 1001 ...)."""
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", lambda m: _SAMPLE[m.group(1)], rule)


def _rules(app: Any, method: str) -> list[str]:
    return sorted(_concrete(r.rule) for r in app.url_map.iter_rules()
                  if method in r.methods and r.endpoint != "static")


# -- CSRF on every form, a login on every page ---------------------------------------------------------------


def test_every_state_changing_route_refuses_a_post_without_the_csrf_token(app, alice, admin, db):
    before = (SettingsStore(db).all(), [e.number for e in ExtensionStore(db).list()])
    posts = _rules(app, "POST")
    assert len(posts) >= 30  # the whole map, not a sample
    for url in posts:
        client = admin if url.startswith("/admin/") else alice
        response = client.post(url, {"number": "1002", "portal_enabled": ""}, csrf=False)
        assert response.status_code == 400 and "stale" in text(response), url
        assert client.post(url, {"number": "1002"}, csrf="y" * 43).status_code == 400, url
    assert (SettingsStore(db).all(), [e.number for e in ExtensionStore(db).list()]) == before


def test_every_page_and_api_needs_a_login(app, client):
    for url in _rules(app, "GET"):
        if url == "/login":
            continue
        response = client.get(url)
        if url.startswith(_TOKEN_PAGES):
            assert response.status_code == 400 and "not valid" in text(response), url  # a forged token
            continue
        if url.startswith("/api/"):
            assert response.status_code == 401, url
        else:
            assert response.status_code == 302 and "/login" in response.headers["Location"], url


# -- who sees what -------------------------------------------------------------------------------------------


def test_an_extension_never_sees_another_extensions_settings(alice, bob, db):
    ExtensionStore(db).update("1002", email="bob-private@example.com")
    page = text(alice.get("/settings/"))
    assert "alice@example.com" in page and "bob-private@example.com" not in page
    # Nothing addresses another extension's settings: parameters are ignored, posts change the poster's own.
    assert "bob-private@example.com" not in text(alice.get("/settings/?extension=1002&number=1002"))
    alice.post("/settings/preferences", {"email": "x@example.com", "number": "1002", "extension": "1002"})
    assert ExtensionStore(db).get("1002").email == "bob-private@example.com"
    assert ExtensionStore(db).get("1001").email == "x@example.com"


# -- bad values: message next to the field and what was typed kept --------------------------------------------


@pytest.mark.parametrize("query, field, typed", [
    ("start=14.03.2024", "start", "14.03.2024"),
    ("start=2024-03-15&end=2024-03-14", "end", "2024-03-14"),
    ("number=abc", "number", "abc"),
])
def test_call_log_filters_in_error_keep_what_was_typed(alice, query, field, typed):
    response = alice.get(f"/calls/?{query}")
    page = text(response)
    assert response.status_code == 400 and f'id="{field}-error"' in page
    assert re.search(rf'id="f-{field}"[^>]*value="{re.escape(typed)}"', page)


def test_a_bad_contact_group_keeps_what_was_typed(alice):
    typed = "x" * 70
    page = text(alice.post("/contacts/new?book=personal", {"first_name": "Ann", "number_work": "5550123",
                                                           "groups": typed}))
    assert 'id="groups-error"' in page and f'value="{typed}"' in page and 'value="Ann"' in page


def test_bad_mailbox_limits_keep_what_was_typed(admin):
    page = text(admin.post("/voicemail/1001/options", {"email_mode": "off", "announce_time": "1",
                                                       "max_messages": "0", "max_seconds": "abc"}))
    assert 'id="max_messages-error"' in page and 'id="max_seconds-error"' in page
    assert 'value="abc"' in page and 'name="announce_time" value="1" checked' in page


# -- uploads: size and type ----------------------------------------------------------------------------------


def test_an_oversized_certificate_upload_is_refused_next_to_its_field(admin, data_dir):
    from appliance.datadir import DataDir

    DataDir(data_dir).ensure_tls_certificate()
    before = (data_dir / "tls" / "server.crt").read_bytes()
    big = b"-----BEGIN CERTIFICATE-----\n" + b"A" * certificates.MAX_PEM_BYTES
    response = admin.post("/admin/box/certificate",
                          {"cert": (io.BytesIO(big), "c.pem"), "key": (io.BytesIO(b"k"), "k.pem")},
                          content_type="multipart/form-data")
    page = text(response)
    assert response.status_code == 400
    assert re.search(r'id="cert-error"[^>]*>[^<]*larger than 64 KiB', page)
    assert (data_dir / "tls" / "server.crt").read_bytes() == before


# -- nothing submitted reaches SQL unescaped; nothing is echoed unescaped ------------------------------------

SQLISH = ["' OR '1'='1", "%' OR 1=1 --", "\" OR \"\"=\"", "1001'; DROP TABLE contacts; --"]


@pytest.mark.parametrize("query", SQLISH)
def test_sql_metacharacters_in_a_contact_search_find_nothing_of_other_books(alice, db, query):
    ContactStore(db).add(Contact(first_name="BobsFriend", numbers=(ContactNumber("5550123"),), owner="1002"))
    ContactStore(db).add(Contact(first_name="AlicesFriend", numbers=(ContactNumber("5550124"),), owner="1001"))
    page = text(alice.get("/contacts/", query_string={"book": "personal", "q": query}))
    assert "BobsFriend" not in page and "AlicesFriend" not in page
    assert ContactStore(db).search(owner="1002").total == 1  # the table is still there


def test_a_contact_with_quotes_and_markup_is_stored_verbatim_and_shown_escaped(alice, db):
    name = "O'Brien\"; DROP TABLE contacts; --"
    company = "<script>alert(1)</script>"
    response = alice.post("/contacts/new?book=personal", {"first_name": name, "company": company,
                                                          "number_work": "5550100"})
    assert response.status_code == 302
    [contact] = ContactStore(db).search(owner="1001").contacts
    assert (contact.first_name, contact.company) == (name, company)
    page = text(alice.get("/contacts/?book=personal"))
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


@pytest.mark.parametrize("account", ["1001' --", "admin' OR '1'='1", "1001\"; --"])
def test_sql_metacharacters_in_the_login_name_log_nobody_in(client, account):
    response = client.post("/login", {"account": account, "password": "' OR '1'='1"})
    assert response.status_code in (400, 401) and "account" not in client.session()


@pytest.mark.parametrize("query, field", [({"number": "1' OR '1'='1"}, "number"),
                                          ({"type": "inbound' OR 1=1 --"}, "type"),
                                          ({"start": "2024-01-01' --"}, "start")])
def test_sql_metacharacters_in_call_log_filters_are_a_field_error(alice, query, field):
    response = alice.get("/calls/", query_string=query)
    assert response.status_code == 400 and f'id="{field}-error"' in text(response)


# -- the dial page after a bad number --------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["12ab", "1001"])
def test_a_bad_number_on_the_dial_page_keeps_the_browser_phone(alice, pbx, monkeypatch, tmp_path, typed):
    from appliance.webui.views import dial

    bundle = tmp_path / "jssip.min.js"
    bundle.write_text("window.JsSIP = {};")
    monkeypatch.setattr(dial, "JSSIP_BUNDLE", bundle)
    pbx.calls = [{"id": 5, "caller": "1001", "called": "1002", "state": "answered"}]
    response = alice.post("/dial/call", {"number": typed})
    assert response.status_code == 400
    assert "phone.js" in text(response) and "wss://" in response.headers["Content-Security-Policy"]
    # The user's live call stays listed with its hang-up button, as on the page they typed into.
    assert 'name="call" value="5"' in text(response)


# -- the browser's media: G.711 when the browser offers nothing else -------------------------------------------


def test_a_browser_offering_only_g711_is_answered_with_it_and_audio_flows_both_ways():
    pytest.importorskip("aiortc")
    from aiortc import RTCRtpSender, RTCSessionDescription

    from tests.unit.media.test_webrtc import BROWSER_TONE, PHONE_TONE, Tone, run, talk

    async def scenario(engine: Any, session: Any, browser: Any, phone: Any) -> None:
        transceiver = browser.pc.addTransceiver(Tone(BROWSER_TONE), direction="sendrecv")
        g711 = [c for c in RTCRtpSender.getCapabilities("audio").codecs if c.mimeType in ("audio/PCMU", "audio/PCMA")]
        transceiver.setCodecPreferences(g711)
        await browser.pc.setLocalDescription(await browser.pc.createOffer())
        assert "opus" not in browser.pc.localDescription.sdp.lower()
        answer = await session.answer(browser.pc.localDescription.sdp)
        rtpmaps = [line.split(" ", 1)[1] for line in answer.splitlines() if line.startswith("a=rtpmap:")]
        assert rtpmaps and rtpmaps[0] in ("PCMU/8000", "PCMA/8000") and "a=rtcp-mux" in answer
        await browser.pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        await talk(phone, 2.5)
        assert session.pc.connectionState == "connected"
        assert abs(phone.loudest() - BROWSER_TONE) < 20
        # aiortc's G.711 decoder hands out 8 kHz frames (Browser.loudest assumes Opus's 48 kHz).
        pcm = np.concatenate(browser.heard[-50:]).astype(float)
        spectrum = np.abs(np.fft.rfft(pcm[-8000:] * np.hanning(len(pcm[-8000:]))))
        assert abs(float(np.argmax(spectrum)) * 8000 / len(pcm[-8000:]) - PHONE_TONE) < 20

    run(scenario)
