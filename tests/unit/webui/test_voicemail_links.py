"""The voicemail e-mail's "Mark as read" and "Delete" links in the web portal: no login, the token is the
authority; a GET only asks, the POST (with the page's CSRF token) acts and tells pbxd; bad, expired and spent
links get a plain page."""

from __future__ import annotations

import re
from typing import Any

import pytest

from appliance.store import SettingsStore
from appliance.voicemail import links
from appliance.voicemail.storage import VoicemailStore
from tests.unit.webui.conftest import Client, text
from tests.unit.webui.test_voicemail_pages import VoicemailPbx, leave


@pytest.fixture
def pbx() -> VoicemailPbx:
    return VoicemailPbx()


@pytest.fixture
def key(db: Any) -> bytes:
    return links.ensure_key(db)[0]


@pytest.fixture
def message(vm: VoicemailStore) -> Any:
    return leave(vm, "1001", "5550100", name="Carol")


def link(key: bytes, clock: Any, message: Any, action: str, *, lifetime: float = links.LIFETIME) -> str:
    """The path part of the link the mailer would put in the e-mail."""
    url = links.ActionLinks("https://pbx.test", key, lifetime).for_message(message.uid, clock())[action]
    return url.removeprefix("https://pbx.test")


def confirm_then_post(client: Client, url: str) -> Any:
    """What a person does: open the link, press the button (with the form's CSRF token)."""
    page = text(client.get(url))
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    return client.post(url, {}, csrf=token)


def test_opening_a_read_link_asks_first_and_changes_nothing(client, vm, key, clock, message, pbx):
    url = link(key, clock, message, "read")
    response = client.get(url)
    page = text(response)
    assert response.status_code == 200 and "Mark the message as read?" in page
    assert "Carol" in page and "5550100" in page and "1001 (Alice)" in page
    assert '<form method="post"' in page and 'name="csrf_token"' in page
    assert vm.message(message.id).is_new and pbx.changed == []


def test_opening_a_delete_link_changes_nothing_however_often(client, vm, key, clock, message, pbx):
    url = link(key, clock, message, "delete")
    for _ in range(3):
        assert "Delete the message?" in text(client.get(url))
    assert client.flask.head(url, base_url="https://pbx.test").status_code == 200  # link checkers send HEAD
    assert vm.message(message.id) and pbx.changed == []


def test_pressing_the_button_marks_the_message_read_and_tells_pbxd(client, vm, key, clock, message, pbx):
    url = link(key, clock, message, "read")
    response = confirm_then_post(client, url)
    assert response.status_code == 200 and "Marked as read" in text(response)
    assert not vm.message(message.id).is_new and pbx.changed == ["1001"]
    again = client.post(url, {})
    assert again.status_code == 200 and "Already marked as read" in text(again)
    assert pbx.changed == ["1001"]


def test_pressing_the_button_deletes_the_message_and_its_audio(client, vm, key, clock, message, pbx):
    url = link(key, clock, message, "delete")
    audio = vm.audio_path(message)
    response = confirm_then_post(client, url)
    assert response.status_code == 200 and "Message deleted" in text(response)
    assert vm.message_by_uid(message.uid) is None and not audio.exists() and pbx.changed == ["1001"]
    again = client.post(url, {})
    assert again.status_code == 200 and "already deleted" in text(again)
    assert client.get(url).status_code == 410
    assert pbx.changed == ["1001"]


def test_a_post_without_the_pages_csrf_token_does_nothing(client, vm, key, clock, message, pbx):
    url = link(key, clock, message, "delete")
    response = client.post(url, {}, csrf=False)
    assert response.status_code == 400
    assert vm.message(message.id) and pbx.changed == []


@pytest.mark.parametrize("mangle", [
    lambda url: url.replace("/vm/read.", "/vm/delete."),
    lambda url: url[:-3] + "xyz",
    lambda url: "/vm/read.1-2.3.AAAAAAAAAAAAAAAAAAAAAA",
    lambda url: "/vm/nonsense",
])
def test_a_bad_token_gets_a_clear_page_on_get_and_post(client, vm, key, clock, message, pbx, mangle):
    url = mangle(link(key, clock, message, "read"))
    response = client.get(url)
    assert response.status_code == 400 and "This link is not valid" in text(response)
    assert client.post(url, {}).status_code == 400
    assert vm.message(message.id).is_new and pbx.changed == []


def test_an_expired_link_says_so_and_does_nothing(client, vm, key, clock, message, pbx):
    url = link(key, clock, message, "delete", lifetime=3600)
    clock.advance(3600)
    response = client.get(url)
    assert response.status_code == 410 and "This link has expired" in text(response)
    assert client.post(url, {}).status_code == 410
    assert vm.message(message.id) and pbx.changed == []


def test_links_die_with_the_key(client, db, vm, key, clock, message):
    url = link(key, clock, message, "read")
    SettingsStore(db).delete("voicemail.link_key")
    assert client.get(url).status_code == 400


def test_a_link_works_for_a_logged_in_user_of_another_mailbox_too(bob, vm, key, clock, message, pbx):
    """The token, not the session, decides: Bob may be the one who reads Alice's forwarded mail."""
    response = confirm_then_post(bob, link(key, clock, message, "read"))
    assert "Marked as read" in text(response) and not vm.message(message.id).is_new


def test_the_link_works_while_pbxd_is_down(client, vm, key, clock, message, pbx):
    pbx.running = False
    response = confirm_then_post(client, link(key, clock, message, "delete"))
    assert "Message deleted" in text(response) and vm.message_by_uid(message.uid) is None


def test_a_shared_mailbox_message_link_names_the_shared_mailbox(client, vm, key, clock):
    vm.create_shared("70000", "Sales", "2468")
    message = leave(vm, "70000", "5550100")
    page = text(client.get(link(key, clock, message, "read")))
    assert "70000 (Sales)" in page


def test_the_links_in_a_real_voicemail_email_work_in_the_portal(client, db, data_dir, vm, clock, message, pbx):
    import email
    import email.policy

    from appliance.store.smtp import SmtpSettings, save_smtp
    from appliance.voicemail.mailer import EmailOutbox
    from tests.unit.voicemail.test_mailer import FakeTransport

    save_smtp(SettingsStore(db), SmtpSettings("127.0.0.1", 2525, "none", "", "", "pbx@example.com"))
    transport = FakeTransport()
    outbox = EmailOutbox(data_dir / "pbx.sqlite3", vm.root, clock=clock, transport=transport,
                         guess_url=lambda: "https://pbx.test")
    outbox.enqueue(message, vm.mailbox("1001"), "alice@example.com", True, "en")
    outbox.process_due()
    [(mail, _, _)] = transport.sent
    body = email.message_from_bytes(mail.as_bytes(policy=email.policy.SMTP),
                                    policy=email.policy.default).get_body(("plain",)).get_content()
    urls = {action: path for path, action in re.findall(r"https://pbx\.test(/vm/(read|delete)\.\S+)", body)}
    assert set(urls) == {"read", "delete"}
    assert "Marked as read" in text(confirm_then_post(client, urls["read"]))
    assert not vm.message(message.id).is_new
    assert "Message deleted" in text(confirm_then_post(client, urls["delete"]))
    assert vm.message_by_uid(message.uid) is None and pbx.changed == ["1001", "1001"]
