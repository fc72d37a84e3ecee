"""Voicemail e-mail against a real SMTP server (aiosmtpd) on loopback, and the SMS webhook over HTTP.

Plain SMTP, STARTTLS with a self-signed certificate, implicit TLS, AUTH LOGIN and PLAIN with a password
the server checks; a server that is down and comes up later; an outbox restarted with mail pending; a
recipient refused with 550; rules by number and by contact group choosing attach / notice / none / sms.
"""

from __future__ import annotations

import email
import email.policy
import http.server
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from email.header import decode_header, make_header
from pathlib import Path

import numpy as np
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from appliance.datadir import DataDir
from appliance.media.wav import write_wav_atomic
from appliance.store import ExtensionStore, SettingsStore, initialize_database
from appliance.store.contact_groups import ContactGroups
from appliance.store.contacts import Contact, ContactNumber, ContactStore
from appliance.store.smtp import SmtpSettings, save_smtp
from appliance.voicemail.mailer import EmailOutbox
from appliance.voicemail.rules import CallerRules
from appliance.voicemail.storage import VoicemailStore

pytestmark = pytest.mark.integration

USER, PASSWORD = "pbx-mailer", "s3cret-Passw0rd"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate: Callable[[], object], timeout: float = 10.0) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {predicate}")


class Mailbox:
    """aiosmtpd handler: keeps what it receives, refuses the recipients in `reject` with 550."""

    def __init__(self) -> None:
        self.received: list[tuple[list[str], email.message.EmailMessage]] = []
        self.reject: set[str] = set()
        self.auth: list[tuple[str, str]] = []  # (mechanism, login) of successful logins

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.reject:
            return "550 5.1.1 <%s>: mailbox unavailable" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.received.append((list(envelope.rcpt_tos), msg))
        return "250 Message accepted for delivery"

    def authenticator(self, server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
            USER.encode(), PASSWORD.encode())
        if ok:
            self.auth.append((mechanism, auth_data.login.decode()))
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    files = DataDir(tmp_path_factory.mktemp("tls")).ensure_tls_certificate(["localhost"])
    return files.cert, files.key


def server_context(certificate) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    return context


class Env:
    def __init__(self, tmp_path: Path) -> None:
        self.path = tmp_path / "pbx.sqlite3"
        self.db = initialize_database(self.path, seed=False)
        extensions = ExtensionStore(self.db)
        extensions.add("2001", "Alice", "secret-2001", email="alice@example.com")
        self.store = VoicemailStore(self.db, tmp_path / "voicemail", find_extension=extensions.find)
        self.handler = Mailbox()
        self.controllers: list[Controller] = []
        self.outboxes: list[EmailOutbox] = []
        self.port = free_port()

    def smtp(self, security: str = "none", user: str = "", password: str = "") -> None:
        save_smtp(SettingsStore(self.db), SmtpSettings("127.0.0.1", self.port, security, user, password,
                                                       "voicemail@pbx.example.com"))

    def serve(self, **kwargs) -> Controller:
        controller = Controller(self.handler, hostname="127.0.0.1", port=self.port, **kwargs)
        controller.start()
        self.controllers.append(controller)
        return controller

    def outbox(self, **kwargs) -> EmailOutbox:
        kwargs.setdefault("backoff", (0.2,))
        kwargs.setdefault("smtp_timeout", 5.0)
        kwargs.setdefault("poll_interval", 0.5)
        outbox = EmailOutbox(self.path, self.store.root, **kwargs)
        self.outboxes.append(outbox)
        outbox.start()
        return outbox

    def leave(self, seconds: float = 3.0, caller: str = "+4930123", name: str | None = "Bob"):
        uid, path = self.store.begin_message("2001", caller, name, time.time())
        tone = (np.sin(2 * np.pi * 440 * np.arange(int(8000 * seconds)) / 8000) * 8000).astype(np.int16)
        write_wav_atomic(path, tone)
        return self.store.commit_message(uid, "2001", seconds)

    def close(self) -> None:
        for outbox in self.outboxes:
            outbox.stop()
        for controller in self.controllers:
            controller.stop()
        self.db.conn.close()


@pytest.fixture
def env(tmp_path) -> Iterator[Env]:
    e = Env(tmp_path)
    yield e
    e.close()


def subject(msg) -> str:
    return str(make_header(decode_header(msg["Subject"])))


def attachments(msg) -> list:
    return list(msg.iter_attachments())


@pytest.mark.parametrize("language, start", [("en", "New voicemail from Bob (+4930123)"),
                                             ("zh", "新语音留言：Bob (+4930123)"),
                                             ("ru", "Новое голосовое сообщение от Bob (+4930123)")])
def test_plain_smtp_delivers_the_wav_byte_for_byte_with_a_subject_in_the_mailbox_language(env, language, start):
    env.smtp("none")
    env.serve()
    outbox = env.outbox()
    message = env.leave()
    outbox.enqueue(message, env.store.mailbox("2001"), "alice@example.com", True, language)
    wait_for(lambda: env.handler.received)
    rcpts, msg = env.handler.received[0]
    assert rcpts == ["alice@example.com"]
    assert subject(msg).startswith(start) and "(0:03)" in subject(msg).replace("（", "(").replace("）", ")")
    assert msg["From"] == "voicemail@pbx.example.com"
    [wav] = attachments(msg)
    assert wav.get_content_type() == "audio/wav" and wav.get_filename().startswith("voicemail-+4930123-")
    assert wav.get_content() == env.store.audio_path(message).read_bytes()
    wait_for(lambda: outbox.log()[0]["state"] == "sent")


def test_notice_only_mail_has_no_attachment(env):
    env.smtp("none")
    env.serve()
    outbox = env.outbox()
    outbox.enqueue(env.leave(), env.store.mailbox("2001"), "alice@example.com", False, "en")
    wait_for(lambda: env.handler.received)
    msg = env.handler.received[0][1]
    assert attachments(msg) == [] and msg.get_content_type() == "text/plain"


@pytest.mark.parametrize("mechanism", ["LOGIN", "PLAIN"])
def test_starttls_with_a_self_signed_certificate_and_auth(env, certificate, mechanism):
    env.smtp("starttls", USER, PASSWORD)
    other = "PLAIN" if mechanism == "LOGIN" else "LOGIN"
    env.serve(tls_context=server_context(certificate), require_starttls=True, auth_required=True,
              authenticator=env.handler.authenticator, auth_exclude_mechanism=[other])
    outbox = env.outbox(verify_tls=False)
    message = env.leave()
    outbox.enqueue(message, env.store.mailbox("2001"), "alice@example.com", True, "en")
    wait_for(lambda: env.handler.received)
    assert env.handler.auth == [(mechanism, USER)]
    assert attachments(env.handler.received[0][1])[0].get_content() == env.store.audio_path(message).read_bytes()


def test_a_wrong_password_is_retried_as_soon_as_the_settings_are_fixed(env, certificate):
    env.smtp("starttls", USER, "wrong")
    env.serve(tls_context=server_context(certificate), require_starttls=True, auth_required=True,
              authenticator=env.handler.authenticator)
    outbox = env.outbox(verify_tls=False, backoff=(600,))
    outbox.enqueue(env.leave(), env.store.mailbox("2001"), "alice@example.com", True, "en")
    row = wait_for(lambda: [r for r in outbox.log() if r["attempts"] >= 1])[0]
    assert row["state"] == "pending" and "authentication failed" in row["last_error"]
    env.smtp("starttls", USER, PASSWORD)  # the worker notices the settings change: no 10-minute wait
    wait_for(lambda: env.handler.received)
    assert wait_for(lambda: outbox.log()[0]["state"] == "sent")


def test_certificate_verification_is_on_by_default(env, certificate):
    env.smtp("starttls")
    env.serve(tls_context=server_context(certificate), require_starttls=True)
    outbox = env.outbox()  # verify_tls defaults to True: a self-signed server is not trusted
    outbox.enqueue(env.leave(), env.store.mailbox("2001"), "alice@example.com", True, "en")
    row = wait_for(lambda: [r for r in outbox.log() if r["attempts"] >= 1])[0]
    assert row["state"] == "pending" and "certificate" in row["last_error"]
    assert env.handler.received == []


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")  # aiosmtpd cannot see the TLS
def test_implicit_tls(env, certificate):
    env.smtp("tls", USER, PASSWORD)
    env.serve(ssl_context=server_context(certificate), auth_required=True, auth_require_tls=False,
              authenticator=env.handler.authenticator)
    outbox = env.outbox(verify_tls=False)
    outbox.enqueue(env.leave(), env.store.mailbox("2001"), "alice@example.com", True, "en")
    wait_for(lambda: env.handler.received)
    assert env.handler.auth == [("PLAIN", USER)]


def test_a_server_that_is_down_delays_the_mail_which_arrives_once_it_is_up(env):
    env.smtp("none")
    outbox = env.outbox(backoff=(0.3,))
    message = env.leave()
    outbox.enqueue(message, env.store.mailbox("2001"), "alice@example.com", True, "en")
    wait_for(lambda: outbox.log() and outbox.log()[0]["attempts"] >= 2)
    row = outbox.log()[0]
    assert row["state"] == "pending" and row["last_error"] == "connection refused"
    env.serve()
    wait_for(lambda: env.handler.received)
    row = wait_for(lambda: [r for r in outbox.log() if r["state"] == "sent"])[0]
    assert row["attempts"] >= 3 and row["last_error"] == "connection refused"  # the history stays visible
    wav = attachments(env.handler.received[0][1])[0]
    assert wav.get_content() == env.store.audio_path(message).read_bytes()


def test_a_restarted_outbox_still_delivers_a_pending_mail(env):
    env.smtp("none")
    first = env.outbox(backoff=(600,))
    first.enqueue(env.leave(), env.store.mailbox("2001"), "alice@example.com", True, "en")
    wait_for(lambda: first.log() and first.log()[0]["attempts"] >= 1)
    first.stop()  # the row waits out a 10-minute back-off; a restart tries it at once
    env.serve()
    second = env.outbox()
    wait_for(lambda: env.handler.received)
    wait_for(lambda: [r["state"] for r in second.log()] == ["sent"])
    assert len(env.handler.received) == 1


def test_a_recipient_refused_with_550_fails_at_once(env):
    env.smtp("none")
    env.handler.reject.add("gone@example.com")
    env.serve()
    outbox = env.outbox()
    outbox.enqueue(env.leave(), env.store.mailbox("2001"), "gone@example.com", True, "en")
    row = wait_for(lambda: [r for r in outbox.log() if r["state"] != "pending"])[0]
    assert (row["state"], row["attempts"]) == ("failed", 1) and "550" in row["last_error"]
    assert env.handler.received == []


class SmsGateway(http.server.BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, self.headers.get("Authorization"), json.loads(body)))
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def sms_gateway() -> Iterator[tuple[str, list]]:
    received: list = []
    handler = type("Gateway", (SmsGateway,), {"received": received})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/sms/send", received
    server.shutdown()
    server.server_close()


def test_rules_by_number_and_contact_group_choose_attach_notice_none_and_sms(env, sms_gateway):
    url, posts = sms_gateway
    env.smtp("none")
    env.serve()
    settings = SettingsStore(env.db)
    settings.set_many({"sms.webhook_url": url, "sms.number.2001": "+8613800138000", "sms.webhook_token": "tok"})
    contacts, groups, rules = ContactStore(env.db), ContactGroups(env.db), CallerRules(env.db)
    customer = contacts.add(Contact(company="ACME", numbers=(ContactNumber("+86 21 5555 0000"),)))
    groups.add(customer.id, "Customers")
    rules.add("2001", "number", "+8613900000000", email_action="sms")
    rules.add("2001", "number", "+861380*", email_action="none")
    rules.add("2001", "group", "Customers", greeting="customers", email_action="notice")
    outbox = env.outbox()
    box = env.store.mailbox("2001")
    expected = {"+8613900000000": "sms", "+8613800001111": "none", "+862155550000": "notice", "+4930123": "attach"}
    for caller, action in expected.items():
        decision = rules.decide(box, caller)
        assert decision.email_action == action, caller
        message = env.leave(caller=caller, name=None)
        outbox.dispatch(decision.email_action, message, box, recipient="alice@example.com", language="en")
    assert rules.decide(box, "+862155550000").greeting == "customers"
    wait_for(lambda: len(env.handler.received) == 2 and posts)
    by_caller = {subject(msg).split("from ")[1].split(" ")[0]: msg for _, msg in env.handler.received}
    assert len(attachments(by_caller["+4930123"])) == 1
    assert attachments(by_caller["+862155550000"]) == []
    [(path, auth, body)] = posts
    assert (path, auth, body["to"]) == ("/sms/send", "Bearer tok", "+8613800138000")
    assert "+8613900000000" in body["text"]
    wait_for(lambda: [r["state"] for r in outbox.log()] == ["sent"] * 3)


def test_stop_is_prompt_while_a_server_says_nothing(env):
    env.smtp("none")
    silent = socket.socket()
    silent.bind(("127.0.0.1", env.port))
    silent.listen()  # accepts (kernel backlog) and never sends a greeting
    try:
        outbox = env.outbox(smtp_timeout=30.0)
        outbox.enqueue(env.leave(), env.store.mailbox("2001"), "alice@example.com", True, "en")
        wait_for(lambda: outbox.log())
        time.sleep(0.3)  # the worker is now waiting for the greeting
        started = time.monotonic()
        outbox.stop()
        assert time.monotonic() - started < 1.0
        row = outbox.log()[0]
        assert (row["state"], row["attempts"]) == ("pending", 0)  # cut off by stop(): not counted
    finally:
        silent.close()
