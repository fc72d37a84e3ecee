"""E-mail action links: signed tokens (made, verified, expired, tampered with), the signing key, the portal's
address, and the voicemail e-mail carrying two working links."""

from __future__ import annotations

import email
import email.policy
import re

import numpy as np
import pytest

from appliance.media.wav import write_wav_atomic
from appliance.store import ExtensionStore, SettingsStore, initialize_database
from appliance.store.exceptions import InvalidValue
from appliance.store.smtp import SmtpSettings, save_smtp
from appliance.voicemail import links
from appliance.voicemail.exceptions import ExpiredLink, InvalidLink
from appliance.voicemail.links import ActionLinks, LinkClaim, sign, verify
from appliance.voicemail.mail_templates import Notice, build_email
from appliance.voicemail.mailer import EmailOutbox
from appliance.voicemail.storage import VoicemailStore
from tests.unit.voicemail.test_mailer import FakeTransport

KEY = bytes(range(32))
NOW = 1_800_000_000.0
UID = "1800000000-0123456789ab"


# --- tokens ---------------------------------------------------------------------------------------------------

def test_a_token_names_its_action_and_message_and_verifies_until_it_expires():
    token = sign(KEY, "delete", UID, int(NOW) + 60)
    assert token.startswith(f"delete.{UID}.")
    assert verify(KEY, token, NOW) == LinkClaim("delete", UID, int(NOW) + 60)
    assert verify(KEY, token, NOW + 59.9).action == "delete"
    with pytest.raises(ExpiredLink):
        verify(KEY, token, NOW + 60)


def test_a_token_is_url_safe():
    token = sign(KEY, "read", UID, int(NOW))
    assert re.fullmatch(r"[A-Za-z0-9._-]+", token)


@pytest.mark.parametrize("tamper", [
    lambda t: t.replace("read.", "delete.", 1),  # another action
    lambda t: t.replace(UID, "1800000000-0123456789ac"),  # another message
    lambda t: re.sub(r"\.(\d+)\.", lambda m: f".{int(m.group(1)) + 86400}.", t),  # a longer life
    lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # the signature
    lambda t: t[:-2],  # cut short
    lambda t: t + "A",
    lambda t: "",
    lambda t: "read.x.1.../etc/passwd",
])
def test_an_altered_token_is_invalid_not_expired(tamper):
    token = sign(KEY, "read", UID, int(NOW) + 3600)
    with pytest.raises(InvalidLink) as err:
        verify(KEY, tamper(token), NOW)
    assert not isinstance(err.value, ExpiredLink)


def test_a_token_signed_with_another_key_or_no_key_is_invalid():
    token = sign(KEY, "read", UID, int(NOW) + 3600)
    with pytest.raises(InvalidLink):
        verify(bytes(32), token, NOW)
    with pytest.raises(InvalidLink):
        verify(None, token, NOW)


def test_an_unknown_action_or_a_uid_that_does_not_fit_is_refused_when_signing():
    with pytest.raises(ValueError):
        sign(KEY, "forward", UID, int(NOW))
    with pytest.raises(ValueError):
        sign(KEY, "read", "a.b", int(NOW))


def test_action_links_last_fourteen_days_and_point_at_the_portal():
    made = ActionLinks("https://pbx.example.com/", KEY).for_message(UID, NOW)
    assert set(made) == {"read", "delete"}
    for action, url in made.items():
        assert url.startswith(f"https://pbx.example.com/vm/{action}.")
        claim = verify(KEY, url.rsplit("/", 1)[1], NOW)
        assert (claim.action, claim.uid, claim.expires) == (action, UID, int(NOW) + 14 * 86400)


# --- the key --------------------------------------------------------------------------------------------------

@pytest.fixture
def db(tmp_path):
    database = initialize_database(tmp_path / "pbx.sqlite3", seed=False)
    yield database
    database.conn.close()


def test_the_key_is_made_once_and_kept(db):
    assert links.load_key(SettingsStore(db)) is None
    key, made = links.ensure_key(db)
    assert made and len(key) == 32
    assert links.ensure_key(db) == (key, False)
    assert links.load_key(SettingsStore(db)) == key


def test_a_garbled_key_setting_counts_as_no_key(db):
    SettingsStore(db).set("voicemail.link_key", "not hex")
    assert links.load_key(SettingsStore(db)) is None


# --- the portal's address ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, stored", [
    ("https://pbx.example.com", "https://pbx.example.com"),
    ("https://pbx.example.com/", "https://pbx.example.com"),
    ("http://192.168.1.10:8443/portal/", "http://192.168.1.10:8443/portal"),
    ("https://[2001:db8::1]:8443", "https://[2001:db8::1]:8443"),
    ("", None),
    ("   ", None),
])
def test_good_portal_addresses_are_kept_without_a_trailing_slash(text, stored):
    assert links.validate_public_url(text) == stored


@pytest.mark.parametrize("text", [
    "pbx.example.com", "ftp://pbx.example.com", "https://", "https://user@pbx.example.com",
    "https://pbx.example.com/?next=x", "https://pbx.example.com/#x", "https://pbx.example.com:99999",
    "https://bad_host.example.com", "javascript:alert(1)", "https://pbx.example.com/a b", "https://" + "a" * 200,
])
def test_bad_portal_addresses_are_refused(text):
    with pytest.raises(InvalidValue) as err:
        links.validate_public_url(text)
    assert err.value.field == "public_url"


@pytest.mark.parametrize("hostname, address, guess", [
    ("pbx.office.example", "10.0.0.5", "https://pbx.office.example"),
    ("coovox", "10.0.0.5", "https://10.0.0.5"),
    ("localhost.localdomain", "192.168.1.2", "https://192.168.1.2"),
    ("coovox", "127.0.0.1", None),
    ("coovox", "169.254.1.1", None),
    ("coovox", "", None),
])
def test_without_a_setting_the_address_is_guessed_from_the_host_name_or_route(hostname, address, guess):
    assert links.guess_public_url(hostname, address) == guess


def test_the_setting_wins_over_the_guess_and_garbage_gives_no_links(db):
    settings = SettingsStore(db)
    assert links.portal_url(settings, lambda: "https://10.0.0.5") == "https://10.0.0.5"
    settings.set("web.public_url", "https://pbx.example.com/")
    assert links.portal_url(settings, lambda: "https://10.0.0.5") == "https://pbx.example.com"
    settings.set("web.public_url", "nonsense")
    assert links.portal_url(settings, lambda: "https://10.0.0.5") is None


# --- the e-mail -------------------------------------------------------------------------------------------------

def body_of(message) -> str:
    return email.message_from_bytes(message.as_bytes(policy=email.policy.SMTP),
                                    policy=email.policy.default).get_content()


NOTICE = Notice(mailbox="2001", mailbox_name="Alice", mailbox_kind="personal", caller="+4930123", caller_name="Bob",
                received_at=NOW, duration=12.0)


@pytest.mark.parametrize("language, read, delete", [
    ("en", "Mark as read:", "Delete:"),
    ("zh", "标为已读：", "删除："),
    ("ru", "Отметить как прочитанное:", "Удалить:"),
])
def test_the_body_carries_both_links_whole_in_the_mailbox_language(language, read, delete):
    urls = ActionLinks("https://pbx.example.com", KEY).for_message(UID, NOW)
    notice = Notice(**{**NOTICE.__dict__, "language": language})
    body = body_of(build_email(notice, sender="pbx@example.com", recipient="a@example.com", now=NOW,
                               audio=None, links=urls))
    lines = body.splitlines()
    assert any(line.startswith(read) and line.endswith(urls["read"]) for line in lines)
    assert any(line.startswith(delete) and line.endswith(urls["delete"]) for line in lines)
    assert "14" in lines[-1]


def test_without_links_the_body_is_as_before():
    body = body_of(build_email(NOTICE, sender="pbx@example.com", recipient="a@example.com", now=NOW, audio=None))
    assert "/vm/" not in body and "Mark as read" not in body


class Clock:
    now = NOW

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def mailing(tmp_path, db):
    ExtensionStore(db).add("2001", "Alice", "secret-2001", email="alice@example.com")
    save_smtp(SettingsStore(db), SmtpSettings("127.0.0.1", 2525, "none", "", "", "pbx@example.com"))
    store = VoicemailStore(db, tmp_path / "voicemail", clock=Clock(), find_extension=ExtensionStore(db).find)
    transport = FakeTransport()

    def send(guess=lambda: "https://10.1.2.3"):
        uid, path = store.begin_message("2001", "+4930123", "Bob", NOW)
        write_wav_atomic(path, np.zeros(8000, dtype=np.int16))
        message = store.commit_message(uid, "2001", 1.0)
        outbox = EmailOutbox(tmp_path / "pbx.sqlite3", store.root, clock=Clock(), transport=transport,
                             guess_url=guess)
        outbox.enqueue(message, store.mailbox("2001"), "alice@example.com", False, "en")
        outbox.process_due()
        return message, body_of(transport.sent[-1][0])

    return store, send


def test_a_mail_carries_links_that_verify_against_the_boxs_key(mailing, db):
    _, send = mailing
    message, body = send()
    found = {action: token for token, action in re.findall(r"https://10\.1\.2\.3/vm/((read|delete)\.\S+)", body)}
    assert set(found) == {"read", "delete"}
    key = links.load_key(SettingsStore(db))
    for action in ("read", "delete"):
        claim = verify(key, found[action], NOW)
        assert (claim.action, claim.uid) == (action, message.uid)


def test_the_configured_portal_address_is_used(mailing, db):
    _, send = mailing
    SettingsStore(db).set("web.public_url", "https://pbx.example.com:8443")
    _, body = send()
    assert "https://pbx.example.com:8443/vm/read." in body and "10.1.2.3" not in body


def test_no_links_when_switched_off_or_when_the_address_is_unknown(mailing, db):
    _, send = mailing
    _, body = send(guess=lambda: None)
    assert "/vm/" not in body and "Mark as read" not in body
    SettingsStore(db).set("voicemail.email_links", False)
    _, body = send()
    assert "/vm/" not in body


def test_making_the_key_is_no_settings_change_that_cuts_a_back_off_short(tmp_path, db):
    from appliance.voicemail.smtp_client import DeliveryError

    ExtensionStore(db).add("2001", "Alice", "secret-2001")
    save_smtp(SettingsStore(db), SmtpSettings("127.0.0.1", 2525, "none", "", "", "pbx@example.com"))
    store = VoicemailStore(db, tmp_path / "voicemail", clock=Clock(), find_extension=ExtensionStore(db).find)
    uid, path = store.begin_message("2001", "+4930123", None, NOW)
    write_wav_atomic(path, np.zeros(8000, dtype=np.int16))
    transport = FakeTransport()
    transport.send_errors.append(DeliveryError("451 try later", code=451))
    outbox = EmailOutbox(tmp_path / "pbx.sqlite3", store.root, clock=Clock(), transport=transport,
                         guess_url=lambda: "https://10.1.2.3")
    outbox.enqueue(store.commit_message(uid, "2001", 1.0), store.mailbox("2001"), "alice@example.com", False, "en")
    outbox.process_due()  # makes the key, fails once
    assert links.load_key(SettingsStore(db)) is not None
    outbox.process_due()
    assert outbox.log(1)[0]["attempts"] == 1 and transport.sent == []
