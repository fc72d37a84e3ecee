"""Message expiry: which messages a mailbox's retention settings let go, and deleting them.

Pure functions of the store and a wall-clock `now` (the service passes its injected clock). Expired
messages are removed one by one through `VoicemailStore.delete`, so a crash in the middle leaves the
same states a delete from the phone or the web can leave, and `recover()` knows them all.
"""

from __future__ import annotations

import logging
from dataclasses import fields

from .exceptions import NoSuchMessage
from .storage import Message, VoicemailStore

log = logging.getLogger(__name__)

DAY = 86400.0
_FIELDS = tuple(f.name for f in fields(Message))


def expired(store: VoicemailStore, now: float) -> list[Message]:
    """Messages past their mailbox's retention at `now`, per mailbox oldest first.

    Only mailboxes with a row can have retention set (a personal mailbox gets its row on first change).
    A read message counts from the later of received and first read, so reading an old message does not
    make it vanish within the hour. Messages "from the future" (the clock went back) never expire.
    """
    db = store.db
    boxes = db.conn.execute(
        "SELECT number, delete_read_after_days, delete_all_after_days FROM mailboxes"
        " WHERE delete_read_after_days > 0 OR delete_all_after_days > 0 ORDER BY number").fetchall()
    found: list[Message] = []
    for number, read_days, all_days in boxes:
        conditions, params = [], []
        if all_days > 0:
            conditions.append("received_at < ?")
            params.append(now - all_days * DAY)
        if read_days > 0:
            conditions.append("(folder = 'old' AND max(received_at, coalesce(read_at, received_at)) < ?)")
            params.append(now - read_days * DAY)
        rows = db.conn.execute(
            f"SELECT {', '.join(_FIELDS)} FROM voicemail_messages WHERE mailbox = ? AND ({' OR '.join(conditions)})"
            " ORDER BY received_at, id", [number, *params])
        found += [Message(**dict(zip(_FIELDS, row))) for row in rows]
    return found


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
