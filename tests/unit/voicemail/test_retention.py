"""Message expiry: the mailbox retention settings, which messages they let go, how they are deleted, and the
service's housekeeping pass that updates the message lamps (the clock is injected everywhere)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from appliance.media.wav import write_wav_atomic
from appliance.prompts import say_count, say_digits, say_time
from appliance.store import ExtensionStore, initialize_database
from appliance.voicemail.exceptions import InvalidMailboxValue
from appliance.voicemail.menus import Speech
from appliance.voicemail.retention import DAY, expire, expired
from appliance.voicemail.service import VoicemailService
from appliance.voicemail.storage import VoicemailStore

START = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now

    def days_later(self, days: float) -> None:
        self.now += days * DAY


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path, clock) -> VoicemailStore:
    db = initialize_database(tmp_path / "pbx.sqlite3", seed=False)
    extensions = ExtensionStore(db)
    extensions.add("2001", "Alice", "secret-2001")
    extensions.add("2002", "Bob", "secret-2002")
    return VoicemailStore(db, tmp_path / "voicemail", clock=clock, find_extension=extensions.find)


def leave(store: VoicemailStore, mailbox: str = "2001", caller: str = "2002"):
    uid, path = store.begin_message(mailbox, caller, None, store.clock())
    write_wav_atomic(path, np.full(8000, 500, dtype=np.int16))
    return store.commit_message(uid, mailbox, 1.0)


def files(store: VoicemailStore, message) -> list[bool]:
    folder = store.root / message.mailbox
    return [(folder / f"{message.uid}.wav").exists(), (folder / f"{message.uid}.json").exists()]


# --- settings -----------------------------------------------------------------------------------------------

def test_retention_is_off_by_default(store):
    box = store.mailbox("2001")
    assert (box.delete_read_after_days, box.delete_all_after_days) == (0, 0)


def test_retention_is_stored_per_mailbox_and_checked(store):
    box = store.update("2001", delete_read_after_days=30, delete_all_after_days=365)
    assert (box.delete_read_after_days, box.delete_all_after_days) == (30, 365)
    assert store.mailbox("2002").delete_read_after_days == 0
    for bad in (-1, 3651, "30", True, 1.5):
        with pytest.raises(InvalidMailboxValue) as err:
            store.update("2001", delete_read_after_days=bad)
        assert err.value.field == "delete_read_after_days"
    assert store.mailbox("2001").delete_read_after_days == 30


# --- which messages go --------------------------------------------------------------------------------------

def test_nothing_expires_while_retention_is_never(store, clock):
    message = leave(store)
    store.mark(message.id, True)
    clock.days_later(10_000)
    assert expired(store, clock()) == []


def test_a_read_message_goes_n_days_after_it_was_read(store, clock):
    store.update("2001", delete_read_after_days=30)
    old = leave(store)
    clock.days_later(20)
    store.mark(old.id, True)  # heard on day 20: kept until day 50, not day 30
    unread = leave(store)
    clock.days_later(29)
    assert expired(store, clock()) == []
    clock.days_later(1.01)
    assert [m.uid for m in expired(store, clock())] == [old.uid]  # the unread one stays whatever its age
    clock.days_later(400)
    assert [m.uid for m in expired(store, clock())] == [old.uid]
    assert store.message(unread.id).is_new


def test_marking_unread_and_read_again_keeps_the_first_read_time(store, clock):
    store.update("2001", delete_read_after_days=10)
    message = leave(store)
    store.mark(message.id, True)
    assert store.message(message.id).read_at == START
    clock.days_later(5)
    store.mark(message.id, False)
    assert store.message(message.id).read_at is None
    store.mark(message.id, True)
    assert store.message(message.id).read_at == clock()


def test_every_message_goes_m_days_after_it_was_received(store, clock):
    store.update("2001", delete_all_after_days=60)
    first = leave(store)
    clock.days_later(30)
    second = leave(store)
    clock.days_later(30.5)
    assert [m.uid for m in expired(store, clock())] == [first.uid]
    clock.days_later(30)
    assert [m.uid for m in expired(store, clock())] == [first.uid, second.uid]


def test_the_shorter_of_the_two_limits_applies(store, clock):
    store.update("2001", delete_read_after_days=30, delete_all_after_days=7)
    message = leave(store)
    store.mark(message.id, True)
    clock.days_later(8)
    assert [m.uid for m in expired(store, clock())] == [message.uid]


def test_retention_is_per_mailbox(store, clock):
    store.update("2001", delete_all_after_days=1)
    mine, theirs = leave(store, "2001"), leave(store, "2002", caller="2001")
    clock.days_later(2)
    assert [m.uid for m in expired(store, clock())] == [mine.uid]
    assert store.message(theirs.id)


def test_a_clock_that_went_back_expires_nothing(store, clock):
    store.update("2001", delete_all_after_days=1)
    leave(store)
    clock.days_later(-365)
    assert expired(store, clock()) == []


# --- how they go --------------------------------------------------------------------------------------------

def test_expire_deletes_row_metadata_and_audio(store, clock):
    store.update("2001", delete_all_after_days=1)
    message, kept = leave(store), None
    clock.days_later(1.5)
    kept = leave(store)
    gone = expire(store, clock())
    assert [m.uid for m in gone] == [message.uid]
    assert files(store, message) == [False, False]
    assert [m.uid for m in store.messages("2001")] == [kept.uid] and files(store, kept) == [True, True]


def test_a_crash_between_row_and_files_is_finished_by_recovery(store, clock, monkeypatch):
    """The row goes first; a crash before the files leaves files whose metadata recover() removes."""
    store.update("2001", delete_all_after_days=1)
    message = leave(store)
    clock.days_later(2)
    real_unlink = type(store.root).unlink

    def crash(path, missing_ok=False):
        raise OSError("power cut")

    monkeypatch.setattr(type(store.root), "unlink", crash)
    with pytest.raises(OSError):
        expire(store, clock())
    monkeypatch.setattr(type(store.root), "unlink", real_unlink)
    assert store.messages("2001") == []
    # The metadata survived: recover() would re-index the message (it is only "undeleted", never lost).
    done = store.recover()
    assert done["indexed"] == 1 and files(store, message) == [True, True]
    assert expire(store, clock())  # … and the next pass deletes it again
    assert files(store, message) == [False, False]


def test_a_message_deleted_meanwhile_is_skipped(store, clock, monkeypatch):
    store.update("2001", delete_all_after_days=1)
    first, second = leave(store), leave(store)
    clock.days_later(2)
    listed = expired(store, clock())
    store.delete(first.id)  # the owner deleted it by phone between the query and the deletion
    monkeypatch.setattr("appliance.voicemail.retention.expired", lambda s, now: listed)
    assert [m.uid for m in expire(store, clock())] == [second.uid]


# --- the service's pass -------------------------------------------------------------------------------------

@pytest.fixture
def service(tmp_path, store, clock):
    changed: list[str] = []
    speech = Speech(say_digits, lambda n, noun, lang: say_count(n, noun, lang, you_have=False), say_time)
    service = VoicemailService(tmp_path / "pbx.sqlite3", tmp_path / "voicemail", speech, wallclock=clock,
                               mailbox_changed=changed.append)
    service.changed = changed
    yield service
    service.close()


def test_housekeeping_deletes_expired_messages_and_updates_the_lamps_once_per_mailbox(service, store, clock):
    store.update("2001", delete_all_after_days=3)
    store.update("2002", delete_read_after_days=3)
    leave(store, "2001"), leave(store, "2001")
    unread = leave(store, "2002", caller="2001")
    clock.days_later(4)
    assert asyncio.run(service.housekeeping()) == {"2001": 2}
    assert service.changed == ["2001"]  # 2002's message is unread: it stays, its lamp is left alone
    assert store.count("2001")["total"] == 0 and store.message(unread.id)
    assert asyncio.run(service.housekeeping()) == {} and service.changed == ["2001"]


async def until(condition, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.005)


def test_housekeeping_runs_at_start_and_then_every_interval(service, store, clock):
    store.update("2001", delete_all_after_days=1)
    leave(store)
    clock.days_later(2)

    async def scenario() -> None:
        service.start_housekeeping(interval=0.2)
        await until(lambda: service.changed == ["2001"])  # the first pass runs at once
        leave(store)
        clock.days_later(2)
        await until(lambda: service.changed == ["2001", "2001"])  # and again after the interval

    asyncio.run(scenario())  # asyncio.run cancels the periodic task when the scenario ends


def test_a_failing_pass_is_logged_and_retried_at_the_next_interval(service, store, clock, caplog, monkeypatch):
    calls = []

    def broken(store, now):
        calls.append(now)
        if len(calls) == 1:
            raise OSError("database is locked")
        return []

    monkeypatch.setattr("appliance.voicemail.service.expire", broken)

    async def scenario() -> None:
        service.start_housekeeping(interval=0.03)
        await until(lambda: len(calls) >= 2)

    asyncio.run(scenario())
    assert "voicemail housekeeping failed" in caplog.text
