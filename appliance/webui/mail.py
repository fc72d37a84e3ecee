"""Sending mail through the configured SMTP server (smtplib): the admin page's test mail for now.

No Flask in here: the voicemail and fax services can send through `send_message` as well (this module
can move to a shared place when they do).
"""

from __future__ import annotations

import email.utils
import logging
import smtplib
import socket
import ssl
from email.message import EmailMessage

from appliance.errors import ApplianceError
from appliance.store.smtp import SmtpSettings

log = logging.getLogger(__name__)

TIMEOUT = 15.0


class MailError(ApplianceError):
    """The mail could not be handed to the server; the message says why, in words for the admin."""


def send_message(settings: SmtpSettings, message: EmailMessage, *, timeout: float = TIMEOUT) -> None:
    """Deliver one message to the configured server (TLS, STARTTLS or plain, login when a user is set)."""
    if not settings.configured:
        raise MailError("no mail server is configured")
    context = ssl.create_default_context()
    try:
        if settings.security == "tls":
            client: smtplib.SMTP = smtplib.SMTP_SSL(settings.host, settings.port, timeout=timeout, context=context)
        else:
            client = smtplib.SMTP(settings.host, settings.port, timeout=timeout)
        with client:
            client.ehlo()
            if settings.security == "starttls":
                client.starttls(context=context)
                client.ehlo()
            if settings.user:
                client.login(settings.user, settings.password)
            client.send_message(message)
    except smtplib.SMTPAuthenticationError as err:
        raise MailError(f"the server refused the user name or password ({err.smtp_code})") from err
    except smtplib.SMTPNotSupportedError as err:
        raise MailError(f"the server does not support this ({err}); check the security setting") from err
    except smtplib.SMTPRecipientsRefused as err:
        raise MailError("the server refused the recipient address") from err
    except smtplib.SMTPException as err:
        raise MailError(f"the mail server said: {err}") from err
    except ssl.SSLError as err:
        raise MailError(f"TLS failed ({err.reason or err}); check the security setting and the port") from err
    except (socket.timeout, TimeoutError) as err:
        raise MailError(f"no answer from {settings.host}:{settings.port} within {timeout:.0f} s") from err
    except OSError as err:
        raise MailError(f"cannot reach {settings.host}:{settings.port} ({err.strerror or err})") from err
    log.info("mail sent to %s through %s:%d", message["To"], settings.host, settings.port)


def send_test_mail(settings: SmtpSettings, to: str, *, box_name: str) -> None:
    """A short mail proving that the settings work."""
    message = EmailMessage()
    message["From"] = settings.from_address
    message["To"] = to
    message["Subject"] = f"Test mail from the PBX {box_name}"
    message["Date"] = email.utils.formatdate(localtime=True)
    message["Message-ID"] = email.utils.make_msgid(domain=settings.from_address.rpartition("@")[2] or None)
    message.set_content(
        f"This is a test mail from the PBX {box_name}.\n\n"
        f"It was sent through {settings.host}:{settings.port} ({settings.security}). "
        "Voicemail and fax notifications will be sent the same way.\n"
    )
    send_message(settings, message)
