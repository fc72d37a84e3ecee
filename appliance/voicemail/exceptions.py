"""Voicemail's domain errors."""

from __future__ import annotations

from appliance.errors import ApplianceError


class VoicemailError(ApplianceError):
    pass


class NoSuchMailbox(VoicemailError):
    def __init__(self, number: str):
        super().__init__(f"no mailbox {number}")
        self.number = number


class NoSuchMessage(VoicemailError):
    def __init__(self, message_id: int):
        super().__init__(f"no voicemail message {message_id}")
        self.message_id = message_id


class MailboxFull(VoicemailError):
    def __init__(self, number: str):
        super().__init__(f"mailbox {number} is full")
        self.number = number


class InvalidMailboxValue(VoicemailError):
    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class InvalidLink(VoicemailError):
    """An e-mail action link that this box did not make, or that was altered."""

    def __init__(self) -> None:
        super().__init__("this link is not valid")


class ExpiredLink(InvalidLink):
    """A genuine e-mail action link past its expiry."""

    def __init__(self, expired_at: int) -> None:
        VoicemailError.__init__(self, "this link has expired")
        self.expired_at = expired_at
