"""Voicemail expiry with the real daemon: a message past its mailbox's retention is deleted (row and audio) by
pbxd's housekeeping, at start and on the `voicemail_housekeeping` command, and the owner's lamp follows."""

from __future__ import annotations

import sqlite3
import time

import numpy as np
import pytest

from appliance.media.wav import write_wav_atomic
from appliance.store import ExtensionStore, open_database
from appliance.voicemail.storage import VoicemailStore
from tests.integration.test_voicemail import audio_file, leave_message, messages, wait_messages, wait_mwi

pytestmark = pytest.mark.integration

DAY = 86400.0


def store_of(pbx) -> VoicemailStore:
    db = open_database(pbx.data / "pbx.sqlite3")
    return VoicemailStore(db, pbx.data / "voicemail", find_extension=ExtensionStore(db).find)


def drop_in_message(pbx, mailbox: str, caller: str) -> str:
    """A message written straight into the data directory, as a second process (the web UI) would."""
    store = store_of(pbx)
    try:
        uid, path = store.begin_message(mailbox, caller, None, time.time())
        write_wav_atomic(path, np.full(16000, 800, dtype=np.int16))
        return store.commit_message(uid, mailbox, 2.0).uid
    finally:
        store.db.conn.close()


def age(pbx, uid: str, days: float) -> None:
    conn = sqlite3.connect(pbx.data / "pbx.sqlite3")
    try:
        with conn:
            conn.execute("UPDATE voicemail_messages SET received_at = received_at - ? WHERE uid = ?",
                         (days * DAY, uid))
    finally:
        conn.close()


def set_retention(pbx, mailbox: str, **days: int) -> None:
    store = store_of(pbx)
    try:
        store.update(mailbox, **days)
    finally:
        store.db.conn.close()


def test_an_old_message_is_deleted_by_housekeeping_and_the_lamp_drops(pbx_factory, phone_factory, tmp_path):
    pbx = pbx_factory()
    pbx.set_setting("ring_timeout", 3)
    pbx.start()
    alice, bob = phone_factory.many("alice", "bob")
    pbx.register(alice, "2001")
    pbx.register(bob, "2002", mwi=True)
    wait_mwi(bob, 0, 0)
    leave_message(pbx, alice, "*42002", 700, 2.0, tmp_path)
    [old] = wait_messages(pbx, "2002", 1)
    wait_mwi(bob, 1, 0)
    fresh = drop_in_message(pbx, "2002", "2003")
    pbx.control("voicemail_changed", mailbox="2002")
    wait_mwi(bob, 2, 0)

    set_retention(pbx, "2002", delete_all_after_days=30)
    assert pbx.control("voicemail_housekeeping")["deleted"] == {}  # nothing is old enough yet
    age(pbx, old["uid"], 31)
    reply = pbx.control("voicemail_housekeeping")
    assert reply["deleted"] == {"2002": 1}
    assert "Messages-Waiting: yes" in wait_mwi(bob, 1, 0)["body"]
    assert [m["uid"] for m in messages(pbx, "2002")] == [fresh]
    assert not audio_file(pbx, old).exists()
    assert not audio_file(pbx, old).with_suffix(".json").exists()


def test_messages_that_expired_while_pbxd_was_stopped_go_at_start(pbx_factory):
    pbx = pbx_factory()
    uid = drop_in_message(pbx, "2002", "2001")
    set_retention(pbx, "2002", delete_read_after_days=7)
    age(pbx, uid, 8)
    conn = sqlite3.connect(pbx.data / "pbx.sqlite3")
    try:
        with conn:  # heard on the day it came in, 8 days ago
            conn.execute("UPDATE voicemail_messages SET folder = 'old', read_at = received_at WHERE uid = ?", (uid,))
    finally:
        conn.close()
    pbx.start()
    deadline = time.monotonic() + 10
    while messages(pbx, "2002") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert messages(pbx, "2002") == []
    assert "expired messages deleted (2002: 1)" in pbx.log_tail(400)
