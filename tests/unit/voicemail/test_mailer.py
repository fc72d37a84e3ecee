"""Voicemail e-mail notification: the mail's content, the queue, back-off, giving up, and the worker thread.

The SMTP side is replaced by a fake transport here (the real server is in
tests/integration/test_voicemail_email.py); the clock is a fake, passes are run with process_due().
"""

from __future__ import annotations

import email
import email.policy
import logging
import smtplib
import socket
import threading
import time
from email.header import decode_header, make_header
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from appliance.media.wav import write_wav_atomic
from appliance.store import ExtensionStore, SettingsStore, initialize_database
from appliance.store.exceptions import InvalidValue
from appliance.store.smtp import SmtpSettings, save_smtp
from appliance.voicemail.mail_templates import (
    Notice, attachment_name, build_email, format_duration, render_sms, render_subject,
)
from appliance.voicemail.mailer import EmailOutbox
from appliance.voicemail.outbox import RetryPolicy
from appliance.voicemail.smtp_client import DeliveryError, classify
from appliance.voicemail.storage import VoicemailStore

SHANGHAI = ZoneInfo("Asia/Shanghai")
START = 1_800_000_000.0  # 2027-01-15 08:00:00 UTC, 16:00 in Shanghai


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


class FakeSession:
    def __init__(self, transport: FakeTransport) -> None:
        self.transport = transport

    def send(self, message, sender, recipient):
        if self.transport.before_send:
            self.transport.before_send()
        if self.transport.send_errors:
            raise self.transport.send_errors.pop(0)
        self.transport.sent.append((message, sender, recipient))

    def close(self):
        self.transport.closed += 1

    def abort(self):
        pass


class FakeTransport:
    """Stands in for SmtpTransport: scripted failures at connect or at send."""

    def __init__(self) -> None:
        self.sent: list = []
        self.open_errors: list[DeliveryError] = []
        self.send_errors: list[DeliveryError] = []
        self.opened = 0
        self.closed = 0
        self.before_send = None

    def session(self, settings, on_connecting=None):
        self.opened += 1
        if self.open_errors:
            raise self.open_errors.pop(0)
        return FakeSession(self)


class FakeWebhook:
    def __init__(self) -> None:
        self.posts: list = []
        self.errors: list[DeliveryError] = []

    def post(self, url, body, token=None):
        if self.errors:
            raise self.errors.pop(0)
        self.posts.append((url, body, token))


@pytest.fixture
def env(tmp_path):
    db = initialize_database(tmp_path / "pbx.sqlite3", seed=False)
    extensions = ExtensionStore(db)
    extensions.add("2001", "Alice", "secret-2001", email="alice@example.com")
    clock = Clock()
    store = VoicemailStore(db, tmp_path / "voicemail", clock=clock, find_extension=extensions.find)
    transport, webhook = FakeTransport(), FakeWebhook()
    outbox = EmailOutbox(tmp_path / "pbx.sqlite3", tmp_path / "voicemail", clock=clock, backoff=(10, 20, 40),
                         give_up_after=1000, transport=transport, webhook=webhook, tz=SHANGHAI)

    class Env:
        pass

    e = Env()
    e.db, e.store, e.clock, e.transport, e.webhook, e.outbox, e.path = (
        db, store, clock, transport, webhook, outbox, tmp_path / "pbx.sqlite3")
    yield e
    outbox.stop()
    db.conn.close()


def configure_smtp(db) -> None:
    save_smtp(SettingsStore(db), SmtpSettings("127.0.0.1", 2525, "none", "", "", "pbx@example.com"))


def leave(store: VoicemailStore, mailbox: str = "2001", seconds: float = 2.0, caller: str = "+4930123",
          name: str | None = "Bob"):
    uid, path = store.begin_message(mailbox, caller, name, store.clock())
    write_wav_atomic(path, (np.sin(np.arange(int(8000 * seconds)) * 0.3) * 8000).astype(np.int16))
    return store.commit_message(uid, mailbox, seconds)


def parsed(message) -> email.message.EmailMessage:
    """The message as a mail client would read it (round trip through bytes)."""
    return email.message_from_bytes(message.as_bytes(policy=email.policy.SMTP), policy=email.policy.default)


def row(outbox: EmailOutbox) -> dict:
    return outbox.log(1)[0]


# --- the mail itself ------------------------------------------------------------------------------------


def notice(**overrides) -> Notice:
    values = dict(mailbox="2001", mailbox_name="Alice", mailbox_kind="personal", caller="+4930123",
                  caller_name="Bob", received_at=START, duration=42.4, language="en")
    values.update(overrides)
    return Notice(**values)


@pytest.mark.parametrize("language, words", [
    ("en", "New voicemail from Bob (+4930123) (0:42) - mailbox 2001"),
    ("zh", "新语音留言：Bob (+4930123)（0:42）- 信箱 2001"),
    ("ru", "Новое голосовое сообщение от Bob (+4930123) (0:42) - ящик 2001"),
])
def test_subject_is_in_the_mailbox_language(language, words):
    msg = parsed(build_email(notice(language=language), sender="pbx@example.com", recipient="a@example.com",
                             now=START, audio=None))
    assert str(make_header(decode_header(msg["Subject"]))) == words
    assert msg.get_content_type() == "text/plain"


def test_mail_has_the_headers_a_mail_server_expects():
    msg = parsed(build_email(notice(), sender="pbx@example.com", recipient="alice@example.com", now=START,
                             audio=None, tz=SHANGHAI))
    assert msg["From"] == "pbx@example.com" and msg["To"] == "alice@example.com"
    assert msg["Date"] == "Fri, 15 Jan 2027 16:00:00 +0800"
    assert msg["Message-ID"].endswith("@example.com>")
    assert msg["Auto-Submitted"] == "auto-generated"


def test_body_names_caller_local_time_duration_and_mailbox():
    body = parsed(build_email(notice(language="ru"), sender="pbx@example.com", recipient="a@example.com",
                              now=START, audio=None, tz=SHANGHAI)).get_content()
    assert "Bob (+4930123)" in body
    assert "2027-01-15 16:00:00 CST" in body  # the box's local time, not UTC
    assert "0:42" in body and "2001 (Alice)" in body
    assert "*61" in body  # how to listen, since no audio is attached


def test_wav_is_attached_with_a_telling_file_name():
    audio = b"RIFF" + bytes(range(256)) * 10
    msg = parsed(build_email(notice(), sender="pbx@example.com", recipient="a@example.com", now=START,
                             audio=audio, tz=SHANGHAI))
    [part] = list(msg.iter_attachments())
    assert part.get_content_type() == "audio/wav"
    assert part.get_filename() == "voicemail-+4930123-20270115-1600.wav"
    assert part.get_content() == audio


def test_shared_mailbox_notice_points_to_its_own_feature_code():
    msg = build_email(notice(mailbox="70000", mailbox_kind="shared"), sender="p@example.com",
                      recipient="a@example.com", now=START, audio=None)
    assert "*5670000" in parsed(msg).get_content()


def test_unknown_caller_and_odd_numbers_make_safe_names():
    assert "unknown caller" in render_subject(notice(caller="", caller_name=None))
    assert attachment_name(notice(caller="sip:evil/../x"), SHANGHAI) == "voicemail-sipevilx-20270115-1600.wav"
    assert format_duration(59.6) == "1:00" and format_duration(3725) == "1:02:05"


def test_sms_text_is_one_line_in_the_mailbox_language():
    text = render_sms(notice(language="zh"), tz=SHANGHAI)
    assert "\n" not in text and "2001" in text and "Bob (+4930123)" in text and "01-15 16:00" in text


# --- classification of SMTP failures ---------------------------------------------------------------------


def test_5xx_for_the_recipient_or_the_message_is_permanent_the_rest_is_retried():
    assert classify(smtplib.SMTPRecipientsRefused({"a@x.org": (550, b"no such user")})).permanent
    assert not classify(smtplib.SMTPRecipientsRefused({"a@x.org": (450, b"mailbox busy")})).permanent
    assert classify(smtplib.SMTPDataError(554, b"rejected")).permanent
    assert not classify(smtplib.SMTPDataError(451, b"try later")).permanent
    assert not classify(smtplib.SMTPAuthenticationError(535, b"bad password")).permanent
    assert not classify(smtplib.SMTPSenderRefused(553, b"bad sender", "pbx@x.org")).permanent
    assert classify(ConnectionRefusedError()).text == "connection refused"
    assert classify(socket.timeout()).text == "timed out"
    assert "550 no such user" in classify(smtplib.SMTPRecipientsRefused({"a@x.org": (550, b"no such user")})).text


def test_retry_policy_repeats_the_last_back_off_and_gives_up_late():
    policy = RetryPolicy((10, 20), give_up_after=100)
    assert policy.after_failure(1, 0, 0, False) == ("pending", 10)
    assert policy.after_failure(5, 0, 50, False) == ("pending", 70)
    assert policy.after_failure(1, 0, 500, False)[0] == "pending"  # a clock jump: tried only once
    assert policy.after_failure(2, 0, 100, False)[0] == "failed"
    assert policy.after_failure(1, 0, 0, True)[0] == "failed"


# --- the queue -------------------------------------------------------------------------------------------


def test_enqueued_mail_is_committed_pending_before_any_sending(env):
    configure_smtp(env.db)
    message = leave(env.store)
    seen = []
    env.transport.before_send = lambda: seen.append(EmailOutbox(env.path, env.store.root).log())
    env.outbox.enqueue(message, env.store.mailbox("2001"), "alice@example.com", True, "en")
    env.outbox.process_due()
    assert seen[0][0]["state"] == "pending" and seen[0][0]["attempts"] == 0
    assert row(env.outbox)["state"] == "sent" and row(env.outbox)["attempts"] == 1
    [(msg, sender, recipient)] = env.transport.sent
    assert (sender, recipient) == ("pbx@example.com", "alice@example.com")
    [part] = list(parsed(msg).iter_attachments())
    assert part.get_content() == env.store.audio_path(message).read_bytes()


def test_notice_only_mail_carries_no_audio(env):
    configure_smtp(env.db)
    env.outbox.enqueue(leave(env.store), env.store.mailbox("2001"), "alice@example.com", False, "en")
    env.outbox.process_due()
    msg = parsed(env.transport.sent[0][0])
    assert list(msg.iter_attachments()) == [] and "no audio" in msg.get_content()


def test_message_deleted_before_sending_is_announced_without_audio(env):
    configure_smtp(env.db)
    message = leave(env.store)
    env.outbox.enqueue(message, env.store.mailbox("2001"), "alice@example.com", True, "en")
    env.store.delete(message.id)
    env.outbox.process_due()
    msg = parsed(env.transport.sent[0][0])
    assert list(msg.iter_attachments()) == [] and "deleted" in msg.get_content()


def test_failures_back_off_by_the_schedule_and_are_logged(env, caplog):
    configure_smtp(env.db)
    env.outbox.enqueue(leave(env.store), env.store.mailbox("2001"), "alice@example.com", True, "en")
    env.transport.open_errors = [DeliveryError("connection refused") for _ in range(5)]
    waits = []
    with caplog.at_level(logging.WARNING, "appliance.voicemail.mailer"):
        for _ in range(5):
            env.outbox.process_due()
            r = row(env.outbox)
            waits.append(r["next_attempt_at"] - env.clock.now)
            env.clock.now = r["next_attempt_at"]
    assert waits == [10, 20, 40, 40, 40]
    assert (r["state"], r["attempts"], r["last_error"]) == ("pending", 5, "connection refused")
    assert sum("not delivered" in rec.message for rec in caplog.records) == 5
    env.outbox.process_due()
    assert row(env.outbox)["state"] == "sent" and row(env.outbox)["attempts"] == 6


def test_rows_are_not_tried_before_their_time(env):
    configure_smtp(env.db)
    env.outbox.enqueue(leave(env.store), env.store.mailbox("2001"), "alice@example.com", True, "en")
    env.transport.open_errors = [DeliveryError("timed out")]
    env.outbox.process_due()
    env.clock.now += 9
    env.outbox.process_due()
    assert env.transport.opened == 1 and row(env.outbox)["state"] == "pending"


def test_recipient_refused_with_5xx_fails_at_once(env, caplog):
    configure_smtp(env.db)
    env.outbox.enqueue(leave(env.store), env.store.mailbox("2001"), "alice@example.com", True, "en")
    env.transport.send_errors = [classify(smtplib.SMTPRecipientsRefused({"alice@example.com": (550, b"unknown")}))]
    assert env.outbox.process_due() is None  # nothing left to wait for
    r = row(env.outbox)
    assert (r["state"], r["attempts"]) == ("failed", 1) and "550 unknown" in r["last_error"]


def test_gives_up_after_give_up_after_once_tried_enough(env):
    configure_smtp(env.db)
    env.outbox.enqueue(leave(env.store), env.store.mailbox("2001"), "alice@example.com", True, "en")
    env.transport.open_errors = [DeliveryError("connection refused") for _ in range(100)]
    env.outbox.process_due()
    while row(env.outbox)["state"] == "pending":
        env.clock.now = row(env.outbox)["next_attempt_at"]
        env.outbox.process_due()
    r = row(env.outbox)
    assert r["state"] == "failed" and r["last_error"].startswith("gave up after")
    assert env.clock.now - START >= 1000
    assert env.store.audio_path(env.store.messages("2001")[0]).exists()  # the message itself stays


def test_without_smtp_settings_mail_waits_and_it_is_said_once(env, caplog):
    env.outbox.enqueue(leave(env.store), env.store.mailbox("2001"), "alice@example.com", True, "en")
    with caplog.at_level(logging.WARNING, "appliance.voicemail.mailer"):
        for _ in range(3):
            assert env.outbox.process_due() == 30.0  # polls for the settings
            env.clock.now += 10_000
    assert sum("no SMTP server" in rec.message for rec in caplog.records) == 1
    assert (row(env.outbox)["state"], row(env.outbox)["attempts"]) == ("pending", 0)
    configure_smtp(env.db)
    env.outbox.process_due()
    assert row(env.outbox)["state"] == "sent"


def test_a_server_down_counts_once_for_every_mail_of_the_pass(env):
    configure_smtp(env.db)
    for _ in range(3):
        env.outbox.enqueue(leave(env.store), env.store.mailbox("2001"), "alice@example.com", True, "en")
    env.transport.open_errors = [DeliveryError("connection refused")]
    env.outbox.process_due()
    assert env.transport.opened == 1
    assert [r["attempts"] for r in env.outbox.log()] == [1, 1, 1]
    env.clock.now += 10
    env.outbox.process_due()
    assert env.transport.opened == 2 and len(env.transport.sent) == 3  # one connection for the three


def test_a_too_large_message_is_sent_again_without_audio(env):
    configure_smtp(env.db)
    env.outbox.enqueue(leave(env.store), env.store.mailbox("2001"), "alice@example.com", True, "en")
    env.transport.send_errors = [DeliveryError("message refused: 552 too big", permanent=True, code=552)]
    assert env.outbox.process_due() == 0.0
    env.outbox.process_due()
    msg = parsed(env.transport.sent[0][0])
    assert list(msg.iter_attachments()) == []
    r = row(env.outbox)
    assert (r["state"], r["attach"], r["attempts"]) == ("sent", False, 2)


def test_a_new_outbox_sends_what_the_previous_one_left_pending(env):
    configure_smtp(env.db)
    env.outbox.enqueue(leave(env.store), env.store.mailbox("2001"), "alice@example.com", True, "en")
    env.transport.open_errors = [DeliveryError("connection refused")]
    env.outbox.process_due()
    env.clock.now += 10
    other = FakeTransport()
    EmailOutbox(env.path, env.store.root, clock=env.clock, backoff=(10,), transport=other).process_due()
    assert len(other.sent) == 1 and row(env.outbox)["state"] == "sent"


def test_wall_clock_gone_back_does_not_strand_a_row(env):
    configure_smtp(env.db)
    env.outbox.enqueue(leave(env.store), env.store.mailbox("2001"), "alice@example.com", True, "en")
    env.transport.open_errors = [DeliveryError("connection refused")]
    env.outbox.process_due()
    env.clock.now -= 86400  # NTP corrected a clock that ran a day ahead
    env.outbox.process_due()
    assert row(env.outbox)["state"] == "sent"


def test_a_bad_recipient_is_refused_at_enqueue(env):
    message = leave(env.store)
    with pytest.raises(InvalidValue):
        env.outbox.enqueue(message, env.store.mailbox("2001"), "not an address", True, "en")


def test_dispatch_follows_the_rule_action(env):
    message, box = leave(env.store), env.store.mailbox("2001")
    assert env.outbox.dispatch("none", message, box, recipient="alice@example.com", language="en") is None
    assert env.outbox.dispatch("notice", message, box, recipient=None, language="en") is None
    assert env.outbox.dispatch("attach", message, box, recipient="alice@example.com", language="en") == "attach"
    assert env.outbox.dispatch("sms", message, box, recipient=None, language="en") == "sms"
    env.outbox.process_due()
    assert sorted((r["channel"], r["attach"]) for r in env.outbox.log()) == [("email", True), ("sms", False)]


# --- SMS -------------------------------------------------------------------------------------------------


def test_sms_goes_to_the_webhook_with_the_mailbox_number(env):
    settings = SettingsStore(env.db)
    settings.set_many({"sms.webhook_url": "http://127.0.0.1:9/hook", "sms.number.2001": "+8613800000000",
                       "sms.webhook_token": "t0k"})
    env.outbox.enqueue_sms(leave(env.store), env.store.mailbox("2001"), "en")
    env.outbox.process_due()
    [(url, body, token)] = env.webhook.posts
    assert (url, body["to"], token) == ("http://127.0.0.1:9/hook", "+8613800000000", "t0k")
    assert "Bob (+4930123)" in body["text"]
    r = row(env.outbox)
    assert (r["channel"], r["state"], r["recipient"]) == ("sms", "sent", "+8613800000000")


def test_sms_without_gateway_waits_and_without_number_is_retried_with_a_reason(env):
    env.outbox.enqueue_sms(leave(env.store), env.store.mailbox("2001"), "en")
    assert env.outbox.process_due() == 30.0
    assert (row(env.outbox)["state"], row(env.outbox)["attempts"]) == ("pending", 0)
    SettingsStore(env.db).set("sms.webhook_url", "https://gateway.example.com/send")
    env.outbox.process_due()
    r = row(env.outbox)
    assert (r["state"], r["attempts"]) == ("pending", 1) and "sms.number.2001" in r["last_error"]


def test_sms_gateway_4xx_is_final(env):
    SettingsStore(env.db).set_many({"sms.webhook_url": "http://127.0.0.1:9/", "sms.number.2001": "+86138"})
    env.webhook.errors = [DeliveryError("SMS gateway answered 400 Bad Request", permanent=True, code=400)]
    env.outbox.enqueue_sms(leave(env.store), env.store.mailbox("2001"), "en")
    env.outbox.process_due()
    assert row(env.outbox)["state"] == "failed"


# --- the worker thread ---------------------------------------------------------------------------------------


def test_worker_thread_delivers_and_stops_promptly(env):
    configure_smtp(env.db)
    sent = threading.Event()
    env.outbox.on_sent = lambda r: sent.set()
    env.outbox.start()
    env.outbox.enqueue(leave(env.store), env.store.mailbox("2001"), "alice@example.com", True, "en")
    assert sent.wait(5)
    started = time.monotonic()
    env.outbox.stop()
    assert time.monotonic() - started < 1.0


def test_items_queued_before_start_or_at_stop_are_kept(env):
    message, box = leave(env.store), env.store.mailbox("2001")
    env.outbox.enqueue(message, box, "alice@example.com", True, "en")  # not started yet
    env.outbox.start()
    env.outbox.enqueue(message, box, "bob@example.com", True, "en")
    env.outbox.stop()
    assert sorted(r["recipient"] for r in env.outbox.log()) == ["alice@example.com", "bob@example.com"]
    assert {r["state"] for r in env.outbox.log()} == {"pending"}  # no SMTP configured


def test_enqueue_from_many_threads_loses_nothing(env):
    configure_smtp(env.db)
    message, box = leave(env.store), env.store.mailbox("2001")
    env.outbox.start()
    threads = [threading.Thread(target=lambda: [env.outbox.enqueue(message, box, "alice@example.com", False, "en")
                                                for _ in range(25)]) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    deadline = time.monotonic() + 10
    while len(env.transport.sent) < 100 and time.monotonic() < deadline:
        time.sleep(0.01)
    env.outbox.stop()
    assert len(env.transport.sent) == 100
    assert [r["state"] for r in env.outbox.log(200)] == ["sent"] * 100


def test_wake_and_changed_settings_end_a_back_off_at_once(env):
    configure_smtp(env.db)
    env.outbox.enqueue(leave(env.store), env.store.mailbox("2001"), "alice@example.com", True, "en")
    env.transport.open_errors = [DeliveryError("authentication failed: 535 no") for _ in range(2)]
    env.outbox.process_due()
    env.outbox.wake()  # the administrator pressed "retry now"
    env.outbox.process_due()
    assert env.transport.opened == 2 and row(env.outbox)["attempts"] == 2
    env.outbox.process_due()
    assert env.transport.opened == 2  # back-off again
    save_smtp(SettingsStore(env.db), SmtpSettings("127.0.0.1", 2525, "none", "pbx", "right", "pbx@example.com"))
    env.outbox.process_due()
    assert row(env.outbox)["state"] == "sent"
