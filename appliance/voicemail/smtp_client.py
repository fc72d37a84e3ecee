"""Handing notifications over: SMTP (plain, STARTTLS, implicit TLS, AUTH) and an SMS-gateway webhook.

Blocking code, run only on the outbox's worker thread. Every failure becomes a `DeliveryError` that says
whether trying again can help: a 5xx answer to RCPT or DATA is the server's final word on this message;
everything else (refused connection, timeout, 4xx, bad password, untrusted certificate) may be fixed by
time or by the administrator, so it is retried.
"""

from __future__ import annotations

import json
import smtplib
import socket
import ssl
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from email.message import EmailMessage
from urllib.parse import urlsplit

from appliance.store.smtp import SmtpSettings

DEFAULT_TIMEOUT = 30.0


class DeliveryError(Exception):
    """A notification was not handed over; `permanent` means retrying cannot help."""

    def __init__(self, text: str, *, permanent: bool = False, code: int | None = None) -> None:
        super().__init__(text)
        self.text = text
        self.permanent = permanent
        self.code = code


def tls_context(verify: bool = True, cafile: str | None = None) -> ssl.SSLContext:
    """Verification on (system CAs, or `cafile`) unless `verify` is False (self-signed office servers)."""
    context = ssl.create_default_context(cafile=cafile)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _reply(code: int, message: bytes | str) -> str:
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)
    return f"{code} {' '.join(text.split())}"


def classify(err: BaseException) -> DeliveryError:
    """Turn an smtplib/socket/ssl exception into a DeliveryError with a message an administrator reads."""
    if isinstance(err, DeliveryError):
        return err
    if isinstance(err, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in err.recipients.values()]
        replies = "; ".join(_reply(code, msg) for code, msg in err.recipients.values())
        return DeliveryError(f"recipient refused: {replies}", permanent=bool(codes) and min(codes) >= 500,
                             code=min(codes) if codes else None)
    if isinstance(err, smtplib.SMTPDataError):
        return DeliveryError(f"message refused: {_reply(err.smtp_code, err.smtp_error)}",
                             permanent=err.smtp_code >= 500, code=err.smtp_code)
    if isinstance(err, smtplib.SMTPSenderRefused):
        return DeliveryError(f"sender address refused (check the sender setting): "
                             f"{_reply(err.smtp_code, err.smtp_error)}", code=err.smtp_code)
    if isinstance(err, smtplib.SMTPAuthenticationError):
        return DeliveryError(f"authentication failed: {_reply(err.smtp_code, err.smtp_error)}",
                             code=err.smtp_code)
    if isinstance(err, smtplib.SMTPResponseException):
        return DeliveryError(f"server answered {_reply(err.smtp_code, err.smtp_error)}", code=err.smtp_code)
    if isinstance(err, smtplib.SMTPNotSupportedError):
        return DeliveryError(f"server does not support what the settings ask for: {err}")
    if isinstance(err, smtplib.SMTPServerDisconnected):
        return DeliveryError(f"server closed the connection ({err})" if str(err) else "server closed the connection")
    if isinstance(err, ssl.SSLCertVerificationError):
        return DeliveryError(f"TLS certificate not trusted: {err.verify_message or err}")
    if isinstance(err, ssl.SSLError):
        return DeliveryError(f"TLS failed: {err}")
    if isinstance(err, ConnectionRefusedError):
        return DeliveryError("connection refused")
    if isinstance(err, (socket.timeout, TimeoutError)):
        return DeliveryError("timed out")
    if isinstance(err, socket.gaierror):
        return DeliveryError(f"cannot resolve the server name: {err}")
    if isinstance(err, smtplib.SMTPException | OSError):
        return DeliveryError(f"{type(err).__name__}: {err}")
    raise err


class SmtpSession:
    """One connection to the mail server, logged in, over which several messages may go."""

    def __init__(self, client: smtplib.SMTP) -> None:
        self._client = client
        self._lock = threading.Lock()

    def send(self, message: EmailMessage, sender: str, recipient: str) -> None:
        """Hand one message over (MAIL FROM `sender`, RCPT TO `recipient`); raises DeliveryError."""
        try:
            self._client.send_message(message, from_addr=sender, to_addrs=[recipient])
        except (smtplib.SMTPException, OSError) as err:
            raise classify(err) from err

    def close(self) -> None:
        """QUIT politely; a server that went away meanwhile is no error."""
        try:
            self._client.quit()
        except (smtplib.SMTPException, OSError):
            self._client.close()

    def abort(self) -> None:
        """Wake a blocked send from another thread (stop()): shut the socket down under it."""
        sock = getattr(self._client, "sock", None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed: nothing is blocked on it


class SmtpTransport:
    """Opens sessions according to `SmtpSettings`.

    `verify_tls=False` accepts any certificate (an office server with a self-signed one, tests); it is a
    constructor argument on purpose, not a setting, so that it cannot be switched off from the web UI.
    `context` replaces the TLS context entirely (e.g. one trusting a private CA).
    """

    def __init__(self, *, timeout: float = DEFAULT_TIMEOUT, verify_tls: bool = True,
                 context: ssl.SSLContext | None = None, local_hostname: str | None = None) -> None:
        self.timeout = timeout
        self.context = context or tls_context(verify_tls)
        self.local_hostname = local_hostname

    def session(self, settings: SmtpSettings,
                on_connecting: Callable[[SmtpSession], None] | None = None) -> SmtpSession:
        """Connect, secure and authenticate as the settings say; raises DeliveryError.

        `on_connecting` gets the session before the first byte is read, so that another thread can
        abort() a server that accepts the connection and then says nothing.
        """
        client: smtplib.SMTP
        if settings.security == "tls":
            client = smtplib.SMTP_SSL(local_hostname=self.local_hostname, timeout=self.timeout,
                                      context=self.context)
        else:
            client = smtplib.SMTP(local_hostname=self.local_hostname, timeout=self.timeout)
        # smtplib takes the TLS server name from _host, which only its constructor sets; we connect
        # separately (so that the session can be aborted while the greeting is awaited)
        client._host = settings.host
        session = SmtpSession(client)
        if on_connecting is not None:
            on_connecting(session)
        try:
            client.connect(settings.host, settings.port)
            client.ehlo()
            if settings.security == "starttls":
                client.starttls(context=self.context)  # raises SMTPNotSupportedError if not offered
                client.ehlo()
            if settings.user:
                client.login(settings.user, settings.password)
        except (smtplib.SMTPException, OSError) as err:
            client.close()
            raise classify(err) from err
        return session


class WebhookTransport:
    """POSTs JSON to an SMS gateway's HTTP(S) hook (loopback-safe: no proxy from the environment)."""

    def __init__(self, *, timeout: float = 15.0, verify_tls: bool = True,
                 context: ssl.SSLContext | None = None) -> None:
        self.timeout = timeout
        context = context or tls_context(verify_tls)
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                                   urllib.request.HTTPSHandler(context=context))

    def post(self, url: str, body: dict[str, str], token: str | None = None) -> None:
        """Send `body`; a 2xx answer is success. 4xx (but 408/429) is permanent, the rest retried."""
        if urlsplit(url).scheme not in ("http", "https"):
            raise DeliveryError(f"not an http(s) URL: {url!r}")
        headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "pbx-voicemail/1"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        request = urllib.request.Request(url, data=json.dumps(body, ensure_ascii=False).encode(), method="POST",
                                         headers=headers)
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                response.read(65536)
        except urllib.error.HTTPError as err:
            permanent = 400 <= err.code < 500 and err.code not in (408, 429)
            raise DeliveryError(f"SMS gateway answered {err.code} {err.reason}", permanent=permanent,
                                code=err.code) from err
        except urllib.error.URLError as err:
            why = classify(err.reason).text if isinstance(err.reason, OSError) else str(err.reason)
            raise DeliveryError(f"SMS gateway unreachable: {why}") from err
        except (OSError, ValueError) as err:  # timeouts while reading, malformed URLs
            raise DeliveryError(f"SMS gateway: {err}") from err
