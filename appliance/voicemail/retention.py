"""Message expiry: which messages a mailbox's retention settings let go, and deleting them.

Pure functions of the store and a wall-clock `now` (the service passes its injected clock). Expired
messages are removed one by one through `VoicemailStore.delete`, so a crash in the middle leaves the
same states a delete from the phone or the web can leave, and `recover()` knows them all.
"""

from __future__ import annotations

import logging

from .exceptions import NoSuchMessage
from .storage import Message, VoicemailStore

log = logging.getLogger(__name__)

DAY = 86400.0


def expired(store: VoicemailStore, now: float) -> list[Message]:
    """Messages past their mailbox's retention at `now`, per mailbox oldest first.

    Only mailboxes with a row can have retention set (a personal mailbox gets its row on first change).
    A read message counts from the later of received and first read, so reading an old message does not
    make it vanish within the hour. Messages "from the future" (the clock went back) never expire.
    """
    boxes = store.db.conn.execute(
        "SELECT number, delete_read_after_days, delete_all_after_days FROM mailboxes"
        " WHERE delete_read_after_days > 0 OR delete_all_after_days > 0 ORDER BY number").fetchall()
    found: list[Message] = []
    for number, read_days, all_days in boxes:
        every_before = now - all_days * DAY if all_days > 0 else None
        read_before = now - read_days * DAY if read_days > 0 else None
        found += sorted((m for m in store.messages(number) if _past(m, every_before, read_before)),
                        key=lambda m: (m.received_at, m.id))
    return found


def _past(message: Message, every_before: float | None, read_before: float | None) -> bool:
    if every_before is not None and message.received_at < every_before:
        return True
    read_at = max(message.received_at, message.read_at or message.received_at)
    return read_before is not None and message.folder == "old" and read_at < read_before


def expire(store: VoicemailStore, now: float) -> list[Message]:
    """Delete every expired message exactly as a delete from the phone does (row, metadata, audio)."""
    gone = []
    for message in expired(store, now):
        try:
            gone.append(store.delete(message.id))
        except NoSuchMessage:  # deleted by a phone or the web in the meantime
            continue
        log.info("voicemail %s of mailbox %s expired (received %.0f, %s)", message.uid, message.mailbox,
                 message.received_at, "read" if message.folder == "old" else "unread")
    return gone
