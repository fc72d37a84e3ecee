"""Voicemail storage: mailboxes, the message life cycle, and recovery after a crash at any step."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from appliance.media.wav import WavWriter, read_wav, write_wav_atomic
from appliance.store import ExtensionStore, initialize_database
from appliance.voicemail.exceptions import InvalidMailboxValue, MailboxFull, NoSuchMailbox
from appliance.voicemail.storage import VoicemailStore


class Clock:
    now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(tmp_path) -> VoicemailStore:
    db = initialize_database(tmp_path / "pbx.sqlite3", seed=False)
    extensions = ExtensionStore(db)
    extensions.add("2001", "Alice", "secret-2001")
    extensions.add("2002", "Bob", "secret-2002")
    return VoicemailStore(db, tmp_path / "voicemail", clock=Clock(), find_extension=extensions.find)


def leave(store: VoicemailStore, mailbox: str = "2001", seconds: float = 2.0, caller: str = "2002"):
    uid, path = store.begin_message(mailbox, caller, "Bob", store.clock())
    write_wav_atomic(path, (np.sin(np.arange(int(8000 * seconds)) * 0.3) * 8000).astype(np.int16))
    return store.commit_message(uid, mailbox, seconds)


def test_every_extension_has_a_personal_mailbox_with_defaults(store):
    box = store.mailbox("2001")
    assert (box.kind, box.name, box.require_pin, box.email_on_new, box.max_messages) == (
        "personal", "Alice", True, True, 100)
    with pytest.raises(NoSuchMailbox):
        store.mailbox("7777")


def test_personal_options_are_stored_on_first_change(store):
    box = store.update("2001", announce_time=False, max_seconds=60)
    assert (box.announce_time, box.max_seconds) == (False, 60)
    with pytest.raises(InvalidMailboxValue):
        store.update("2001", max_seconds="long")


def test_shared_mailbox_has_its_own_number_name_and_pin(store):
    box = store.create_shared("70000", "Sales", "2468", email="sales@example.com", language="zh")
    assert (box.kind, box.name, box.language, box.email) == ("shared", "Sales", "zh", "sales@example.com")
    assert store.check_shared_pin("70000", "2468") and not store.check_shared_pin("70000", "1234")
    with pytest.raises(InvalidMailboxValue):
        store.create_shared("2001", "Clash", "2468")  # an extension's number
    with pytest.raises(InvalidMailboxValue):
        store.create_shared("70001", "Bad PIN", "12")
    assert [b.number for b in store.shared_mailboxes()] == ["70000"]


def test_a_message_is_listed_counted_marked_and_deleted(store):
    message = leave(store)
    assert store.count("2001") == {"new": 1, "old": 0, "total": 1}
    assert store.audio_path(message).exists()
    assert len(read_wav(store.audio_path(message))) == 16000
    store.mark(message.id, read=True)
    assert store.count("2001") == {"new": 0, "old": 1, "total": 1}
    store.delete(message.id)
    assert store.count("2001")["total"] == 0
    assert list((store.root / "2001").iterdir()) == []


def test_new_messages_come_first(store):
    first = leave(store)
    store.clock.now += 60
    second = leave(store)
    store.mark(first.id, read=True)
    assert [m.id for m in store.messages("2001")] == [second.id, first.id]


def test_a_full_mailbox_refuses_new_messages(store):
    store.update("2001", max_messages=1)
    leave(store)
    with pytest.raises(MailboxFull):
        store.begin_message("2001", "2002", None, store.clock())


def test_forwarding_copies_the_audio_to_the_other_mailbox(store):
    message = leave(store)
    copy = store.copy_to(message, "2002", forwarded_by="2001")
    assert copy.mailbox == "2002" and copy.forwarded_from == "2001" and copy.caller == "2002"
    assert store.audio_path(copy).read_bytes() == store.audio_path(message).read_bytes()


def test_delete_read_keeps_new_messages(store):
    old = leave(store)
    new = leave(store)
    store.mark(old.id, read=True)
    assert store.delete_read("2001") == 1
    assert [m.id for m in store.messages("2001")] == [new.id]


# --- crashes -------------------------------------------------------------------------------------------

def test_recovery_indexes_audio_committed_before_its_row(store):
    uid, path = store.begin_message("2001", "2002", "Bob", store.clock())
    write_wav_atomic(path, np.zeros(16000, dtype=np.int16))
    # crash here: no row yet
    assert store.recover()["indexed"] == 1
    [message] = store.messages("2001")
    assert message.uid == uid and message.duration == pytest.approx(2.0)


def test_recovery_drops_a_row_whose_audio_is_gone(store):
    message = leave(store)
    store.audio_path(message).unlink()
    assert store.recover()["dropped_rows"] == 1
    assert store.messages("2001") == []


def test_recovery_salvages_a_recording_cut_short_by_a_crash(store):
    uid, path = store.begin_message("2001", "2002", "Bob", store.clock())
    writer = WavWriter(path)
    writer.write(np.full(8000 * 3, 1000, dtype=np.int16))
    writer._file.flush()  # the daemon dies here: the temp file holds audio, its header says 0 bytes
    writer._finalizer.detach()
    done = store.recover()
    assert done["salvaged"] == 1 and done["indexed"] == 1
    [message] = store.messages("2001")
    assert len(read_wav(store.audio_path(message))) == 8000 * 3
    assert not list(path.parent.glob(".*.tmp"))


def test_recovery_removes_a_crashed_recording_too_short_to_keep(store):
    uid, path = store.begin_message("2001", "2002", "Bob", store.clock())
    writer = WavWriter(path)
    writer.write(np.zeros(800, dtype=np.int16))
    writer._file.flush()
    writer._finalizer.detach()
    store.recover()
    assert store.messages("2001") == [] and list(path.parent.iterdir()) == []


def test_recovery_removes_audio_left_by_an_interrupted_delete(store):
    message = leave(store)
    with store.db.conn:
        store.db.conn.execute("DELETE FROM voicemail_messages WHERE id = ?", (message.id,))
    (store.root / "2001" / f"{message.uid}.json").unlink()
    assert store.recover()["removed_files"] == 1
    assert list((store.root / "2001").iterdir()) == []


def test_recovery_of_a_consistent_store_changes_nothing(store):
    leave(store)
    assert store.recover() == {"indexed": 0, "salvaged": 0, "dropped_rows": 0, "removed_files": 0}
