"""E-mail (and SMS) notification of new voicemail, delivered by a worker thread that never loses one.

pbxd's event loop calls `enqueue()` and goes on at once. The worker thread, with its own SQLite
connection, first commits the notification as a pending row of `email_queue` (so it survives a crash
or restart), then hands it to the configured mail server. A server that is down, slow, refuses a login
or answers 4xx delays the mail (back-off, visible in `log()`); only a 5xx refusal of the recipient or
of the message, or days of failures, fail it. No SMTP server configured: rows wait, logged once, and
go out once one is configured. The mailer never deletes audio; a message deleted before its mail went
out is announced by a notice without audio.

SMS: a rule's 'sms' action POSTs {"to": <number>, "text": <one line>} as JSON to the settings key
`sms.webhook_url` (http/https; optional bearer token in `sms.webhook_token`); the number is the setting
`sms.number.<mailbox>`. It rides the same queue and back-off (channel 'sms').

A mail about a message still in the mailbox carries "Mark as read" and "Delete" links to the web portal
(links.py) unless `voicemail.email_links` is off or the portal's address is unknown.
"""

from __future__ import annotations

import datetime
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from appliance.store.db import open_database
from appliance.store.exceptions import InvalidValue
from appliance.store.extensions import validate_email
from appliance.store.settings import SettingsStore
from appliance.store.smtp import SmtpSettings, load_smtp

from . import box_settings, links
from .mail_templates import LANGUAGES, Notice, build_email, render_sms
from .outbox import OutboxQueue, OutboxRow, QueuedItem, RetryPolicy
from .smtp_client import DEFAULT_TIMEOUT, DeliveryError, SmtpSession, SmtpTransport, WebhookTransport
from .storage import Mailbox, Message, VoicemailStore

log = logging.getLogger(__name__)

SMS_URL_KEY = "sms.webhook_url"
SMS_TOKEN_KEY = "sms.webhook_token"
SMS_NUMBER_PREFIX = "sms.number."
TOO_LARGE = 552  # RFC 5321 §4.2.3: "message size exceeds fixed maximum" - worth a retry without audio


def notice_payload(message: Message, mailbox: Mailbox, language: str | None) -> dict[str, Any]:
    """The snapshot a queue row keeps of its message (see outbox.py)."""
    return {"message_id": message.id, "caller": message.caller, "caller_name": message.caller_name,
            "received_at": message.received_at, "duration": message.duration,
            "forwarded_from": message.forwarded_from, "mailbox_name": mailbox.name, "mailbox_kind": mailbox.kind,
            "language": language if language in LANGUAGES else "en"}


def _notice(row: OutboxRow) -> Notice:
    p = row.payload
    return Notice(mailbox=row.mailbox, mailbox_name=str(p.get("mailbox_name") or ""),
                  mailbox_kind=str(p.get("mailbox_kind") or "personal"), caller=str(p.get("caller") or ""),
                  caller_name=p.get("caller_name"), received_at=float(p.get("received_at") or row.created_at),
                  duration=float(p.get("duration") or 0.0), language=str(p.get("language") or "en"),
                  forwarded_from=p.get("forwarded_from"))


class EmailOutbox:
    """The notification queue and its worker thread. See the module docstring.

    `verify_tls=False` accepts any server certificate (self-signed office mail servers, tests); it is
    deliberately a constructor argument, not a setting. `transport`/`webhook` replace the real senders
    (unit tests); `tz` is the zone mails show times in (None: the host's local zone); `guess_url` finds
    the portal's address when the setting web.public_url is empty.
    """

    def __init__(self, database_path: str | os.PathLike[str], voicemail_root: str | os.PathLike[str], *,
                 clock: Callable[[], float] = time.time,
                 backoff: tuple[float, ...] = (30, 60, 120, 300, 600, 1800, 3600),
                 give_up_after: float = 3 * 86400,
                 on_sent: Callable[[dict[str, Any]], None] | None = None,
                 verify_tls: bool = True, smtp_timeout: float = DEFAULT_TIMEOUT,
                 transport: SmtpTransport | None = None, webhook: WebhookTransport | None = None,
                 tz: datetime.tzinfo | None = None, poll_interval: float = 30.0,
                 guess_url: Callable[[], str | None] = links.guess_public_url) -> None:
        self._path = database_path
        self._root = Path(voicemail_root)
        self._clock = clock
        self._policy = RetryPolicy(tuple(backoff), give_up_after)
        self.on_sent = on_sent
        self._transport = transport or SmtpTransport(timeout=smtp_timeout, verify_tls=verify_tls)
        self._webhook = webhook or WebhookTransport(timeout=min(smtp_timeout, 15.0), verify_tls=verify_tls)
        self._tz = tz
        self._poll = poll_interval
        self._guess_url = guess_url
        self._incoming: queue.SimpleQueue[QueuedItem] = queue.SimpleQueue()
        self._backlog: list[QueuedItem] = []  # taken from _incoming, not yet committed
        self._wakeup = threading.Event()
        self._retry_now = threading.Event()  # wake(): rows waiting out a back-off are tried at once
        self._settings_version: int | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._session: SmtpSession | None = None
        self._warned: set[str] = set()  # "not configured" said once per channel

    # -- public API (any thread) ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start the worker; it first sends whatever rows a previous run left pending."""
        if self._thread is not None and self._thread.is_alive():
            if not self._stopping.is_set():
                return
            self._thread.join()  # a stop() that timed out: never two workers on the same rows
        self._stopping.clear()
        self._retry_now.set()  # a restart is often a configuration change: try what waits now
        self._thread = threading.Thread(target=self._run, name="voicemail-outbox", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop promptly: a send in progress is cut off (its row stays pending); queued items are committed."""
        thread = self._thread
        if thread is None:
            return
        self._stopping.set()
        self._wakeup.set()
        deadline = time.monotonic() + timeout
        while thread.is_alive() and time.monotonic() < deadline:
            session = self._session
            if session is not None:
                session.abort()  # again each round: the socket may appear only after a connect
            thread.join(0.05)
        if thread.is_alive():
            log.warning("voicemail outbox: worker still busy after %.1f s (a connect in progress)", timeout)
        else:
            self._thread = None

    def enqueue(self, message: Message, mailbox: Mailbox, recipient: str, attach: bool, language: str) -> None:
        """Queue a "new voicemail" e-mail (with the WAV when `attach`); returns at once."""
        try:
            address = validate_email(recipient)
        except InvalidValue as err:
            raise InvalidValue("recipient", err.message) from err
        if address is None:
            raise InvalidValue("recipient", "an e-mail notification needs an address")
        self._put(QueuedItem(channel="email", message_uid=message.uid, mailbox=mailbox.number, recipient=address,
                             attach=bool(attach), payload=notice_payload(message, mailbox, language),
                             created_at=self._clock()))

    def enqueue_sms(self, message: Message, mailbox: Mailbox, language: str, to: str | None = None) -> None:
        """Queue an SMS through the webhook; `to` defaults to the setting sms.number.<mailbox> at send time."""
        self._put(QueuedItem(channel="sms", message_uid=message.uid, mailbox=mailbox.number, recipient=to or "",
                             attach=False, payload=notice_payload(message, mailbox, language),
                             created_at=self._clock()))

    def dispatch(self, action: str, message: Message, mailbox: Mailbox, *, recipient: str | None,
                 language: str) -> str | None:
        """Queue what a rule decided ('attach', 'notice', 'sms', 'none'); returns what was queued."""
        if action == "sms":
            self.enqueue_sms(message, mailbox, language)
            return "sms"
        if action in ("attach", "notice"):
            if not recipient:
                log.info("voicemail %s: no e-mail address, no notification for message %s", mailbox.number,
                         message.uid)
                return None
            self.enqueue(message, mailbox, recipient, action == "attach", language)
            return action
        return None

    def wake(self) -> None:
        """Try every pending row now, back-off or not (e.g. the SMTP settings were just changed).

        The worker also notices a change of the settings table by itself within `poll_interval`.
        """
        self._retry_now.set()
        self._wakeup.set()

    def log(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest notifications first: id, mailbox, recipient, state, attempts, last_error, times."""
        db = open_database(self._path)
        try:
            return OutboxQueue(db).log(limit)
        finally:
            db.conn.close()

    def process_due(self) -> float | None:
        """One pass on the calling thread (tests with a fake clock): commit queued, send what is due.

        Returns how long the worker would sleep next (None: until woken).
        """
        if self._thread is not None and self._thread.is_alive():
            raise RuntimeError("the outbox worker is running; process_due() is for a stopped outbox")
        db = open_database(self._path)
        try:
            out = OutboxQueue(db)
            self._drain(out)
            return self._pass(db, out)
        finally:
            db.conn.close()

    # -- worker ------------------------------------------------------------------------------------------

    def _put(self, item: QueuedItem) -> None:
        self._incoming.put(item)
        if self._thread is None:
            log.debug("voicemail outbox: %s queued before start(); committed when the worker starts", item.channel)
        self._wakeup.set()

    def _run(self) -> None:
        db = open_database(self._path, check_same_thread=False)
        out = OutboxQueue(db)
        try:
            while not self._stopping.is_set():
                self._wakeup.clear()  # before draining: an enqueue from now on sets it again
                try:
                    self._drain(out)
                    timeout = None if self._stopping.is_set() else self._pass(db, out)
                except Exception:  # the worker must outlive a bad row or a locked database
                    log.exception("voicemail outbox: pass failed; retrying in %.0f s", self._poll)
                    timeout = self._poll
                if not self._stopping.is_set():
                    self._wakeup.wait(timeout)
            try:
                self._drain(out)
            except Exception:
                log.exception("voicemail outbox: could not commit %d queued notifications at stop",
                              len(self._backlog))
        finally:
            db.conn.close()

    def _drain(self, out: OutboxQueue) -> None:
        """Commit everything enqueued so far as pending rows (kept in memory if the commit fails)."""
        while True:
            try:
                self._backlog.append(self._incoming.get_nowait())
            except queue.Empty:
                break
        if self._backlog:
            out.insert(self._backlog)
            self._backlog = []

    def _pass(self, db: Database, out: OutboxQueue) -> float | None:
        """Try every due row once; return the time to sleep until the next is due."""
        settings = SettingsStore(db)
        version = settings.version()
        changed = self._settings_version is not None and version != self._settings_version
        self._settings_version = version
        if self._retry_now.is_set() or changed:
            self._retry_now.clear()
            out.retry_now(self._clock())
        rows = out.due(self._clock(), longest_wait=self._policy.longest)
        smtp = load_smtp(settings) if any(r.channel == "email" for r in rows) else SmtpSettings()
        linker = self._action_links(db, settings) if smtp.configured else None
        blocked: set[str] = set()
        server_down: str | None = None  # a connection-level failure: applies to the pass's other e-mails
        session: SmtpSession | None = None
        store = VoicemailStore(db, self._root)
        try:
            for row in rows:
                if self._stopping.is_set():
                    break
                if row.channel in blocked:
                    continue
                try:
                    if row.channel == "email":
                        if not self._configured("email", smtp.configured, "no SMTP server is configured"):
                            blocked.add("email")
                        elif server_down is not None:
                            self._failed(out, row, DeliveryError(server_down))
                        else:
                            session = self._send_email(out, store, row, smtp, session, linker)
                    elif not self._send_sms(out, settings, row):
                        blocked.add("sms")
                except _ServerDown as down:
                    server_down = down.error.text
                    self._failed(out, row, down.error)
                    session = None
                except Exception as err:  # a bug must not block the rows behind this one, nor lose it
                    log.exception("voicemail outbox: row %d cannot be sent", row.id)
                    self._failed(out, row, DeliveryError(f"internal error: {err!r}"))
        finally:
            self._session = None
            if session is not None:
                session.close()
        if self._stopping.is_set():
            return None
        earliest = out.earliest(excluding=blocked)
        if earliest is None:
            return self._poll if blocked else None
        return min(self._poll, max(0.0, earliest - self._clock()))

    def _configured(self, channel: str, ok: bool, why: str) -> bool:
        if ok:
            self._warned.discard(channel)
        elif channel not in self._warned:
            self._warned.add(channel)
            log.warning("voicemail notifications (%s) wait: %s", channel, why)
        return ok

    def _action_links(self, db: Database, settings: SettingsStore) -> links.ActionLinks | None:
        """What makes the mails' "Mark as read"/"Delete" links this pass, or None (off, or no portal address)."""
        try:
            if not box_settings.load(settings).email_links:
                return None
            base = links.portal_url(settings, self._guess_url)
            if base is None:
                if "links" not in self._warned:
                    self._warned.add("links")
                    log.info("voicemail e-mails go without action links: the portal's address is unknown "
                             "(setting %s)", links.PUBLIC_URL)
                return None
            key, made = links.ensure_key(db)
            if made:  # our own write to the settings table is no configuration change to react to
                self._settings_version = settings.version()
            return links.ActionLinks(base, key)
        except Exception:  # the mail matters more than its links
            log.exception("voicemail outbox: cannot make the e-mail action links; sending without them")
            return None

    def _send_email(self, out: OutboxQueue, store: VoicemailStore, row: OutboxRow, smtp: SmtpSettings,
                    session: SmtpSession | None, linker: links.ActionLinks | None = None) -> SmtpSession | None:
        """Send one row over `session` (opened if None); returns the session still usable, if any."""
        notice = _notice(row)
        audio, gone = self._audio(store, row, notice)
        urls = None
        if linker is not None and row.message_uid and not gone:
            try:
                urls = linker.for_message(row.message_uid, self._clock())
            except ValueError as err:  # a uid no link can carry: the mail goes without links
                log.warning("voicemail e-mail %d: no action links (%s)", row.id, err)
        message = build_email(notice, sender=smtp.from_address, recipient=row.recipient, now=self._clock(),
                              audio=audio, gone=gone, tz=self._tz, links=urls,
                              link_days=linker.days if linker else links.LIFETIME // 86400)
        if session is None:
            try:
                session = self._transport.session(smtp, on_connecting=self._connecting)
            except DeliveryError as err:
                self._session = None
                if self._stopping.is_set():
                    return None
                raise _ServerDown(err) from err
        try:
            session.send(message, smtp.from_address, row.recipient)
        except DeliveryError as err:
            if self._stopping.is_set():
                return None  # cut off by stop(): the row stays pending as it was
            if err.code == TOO_LARGE and audio is not None:
                out.downgrade_to_notice(row, err.text, self._clock())
                log.warning("voicemail e-mail %d to %s too large (%s): sending it without the audio", row.id,
                            row.recipient, err.text)
            else:
                self._failed(out, row, err)
            if err.code is None or err.code < 500:  # disconnected or unhappy server: start afresh
                session.abort()
                session.close()
                self._session = None
                return None
            return session
        self._sent(out, row)
        return session

    def _connecting(self, session: SmtpSession) -> None:
        if self._stopping.is_set():
            raise DeliveryError("stopping")  # do not even connect
        self._session = session

    def _audio(self, store: VoicemailStore, row: OutboxRow, notice: Notice) -> tuple[bytes | None, bool]:
        """(the WAV to attach or None, whether the message is gone from the mailbox)."""
        if row.message_uid is None or store.db.conn.execute(
                "SELECT 1 FROM voicemail_messages WHERE uid = ?", (row.message_uid,)).fetchone() is None:
            return None, True
        if not row.attach:
            return None, False
        message = Message(id=int(row.payload.get("message_id") or 0), uid=row.message_uid, mailbox=row.mailbox,
                          folder="new", caller=notice.caller, caller_name=notice.caller_name,
                          received_at=notice.received_at, duration=notice.duration)
        try:
            return store.audio_path(message).read_bytes(), False
        except FileNotFoundError:
            return None, True

    def _send_sms(self, out: OutboxQueue, settings: SettingsStore, row: OutboxRow) -> bool:
        """Post one SMS row; False when no webhook is configured (the row waits)."""
        url = str(settings.get(SMS_URL_KEY) or "").strip()
        if not self._configured("sms", url.startswith(("http://", "https://")),
                                f"no SMS gateway ({SMS_URL_KEY} must be an http or https URL)"):
            return False
        number = row.recipient or str(settings.get(SMS_NUMBER_PREFIX + row.mailbox) or "").strip()
        if not number:
            self._failed(out, row, DeliveryError(
                f"no mobile number for mailbox {row.mailbox} (setting {SMS_NUMBER_PREFIX}{row.mailbox})"))
            return True
        if number != row.recipient:
            row = out.set_recipient(row, number)
        text = render_sms(_notice(row), tz=self._tz)
        try:
            self._webhook.post(url, {"to": number, "text": text}, token=settings.get(SMS_TOKEN_KEY) or None)
        except DeliveryError as err:
            if not self._stopping.is_set():
                self._failed(out, row, err)
            return True
        self._sent(out, row)
        return True

    def _failed(self, out: OutboxQueue, row: OutboxRow, err: DeliveryError) -> None:
        updated = out.mark_failure(row, err.text, self._clock(), permanent=err.permanent, policy=self._policy)
        if updated.state == "failed":
            log.warning("voicemail %s %d to %s failed for good after %d attempts: %s", row.channel, row.id,
                        row.recipient or row.mailbox, updated.attempts, updated.last_error)
        else:
            log.warning("voicemail %s %d to %s not delivered (attempt %d): %s; next try in %.0f s", row.channel,
                        row.id, row.recipient or row.mailbox, updated.attempts, err.text,
                        updated.next_attempt_at - self._clock())

    def _sent(self, out: OutboxQueue, row: OutboxRow) -> None:
        updated = out.mark_sent(row, self._clock())
        log.info("voicemail %s %d for mailbox %s delivered to %s", row.channel, row.id, row.mailbox,
                 updated.recipient)
        if self.on_sent is not None:
            try:
                self.on_sent(updated.as_log())
            except Exception:
                log.exception("voicemail outbox: on_sent callback failed")


class _ServerDown(Exception):
    """Opening the SMTP session failed: the same error holds for every e-mail of this pass."""

    def __init__(self, error: DeliveryError) -> None:
        super().__init__(error.text)
        self.error = error
