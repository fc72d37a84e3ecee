"""The web UI's view of voicemail: listing, streaming, deleting, marking, greetings, and isolation."""

from __future__ import annotations

import io
import wave

import numpy as np
import pytest

from appliance.media.wav import write_wav_atomic
from appliance.store import ExtensionStore, initialize_database
from appliance.voicemail.exceptions import InvalidMailboxValue, NoSuchMessage
from appliance.voicemail.storage import VoicemailStore
from appliance.voicemail.web_api import VoicemailWeb


@pytest.fixture
def web(tmp_path):
    db = initialize_database(tmp_path / "pbx.sqlite3", seed=False)
    extensions = ExtensionStore(db)
    extensions.add("2001", "Alice", "secret-2001")
    extensions.add("2002", "Bob", "secret-2002")
    store = VoicemailStore(db, tmp_path / "voicemail", find_extension=extensions.find)
    notified: list[str] = []
    return VoicemailWeb(store, notified.append), store, notified


def leave(store, mailbox="2001"):
    uid, path = store.begin_message(mailbox, "2002", "Bob", 1_800_000_000.0)
    write_wav_atomic(path, np.full(16000, 1000, dtype=np.int16))
    return store.commit_message(uid, mailbox, 2.0)


def wav_bytes(rate: int, channels: int, seconds: float) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.zeros(int(rate * seconds) * channels, dtype=np.int16).tobytes())
    return buffer.getvalue()


def test_listing_marking_and_deleting_tell_pbxd(web):
    api, store, notified = web
    message = leave(store)
    [row] = api.messages("2001")
    assert (row["caller"], row["read"], row["duration"]) == ("2002", False, 2.0)
    api.mark("2001", message.id, read=True)
    assert api.messages("2001")[0]["read"] is True and api.counts("2001")["old"] == 1
    api.delete("2001", message.id)
    assert api.messages("2001") == [] and notified == ["2001", "2001"]


def test_another_mailbox_message_is_invisible(web):
    api, store, _ = web
    message = leave(store, "2002")
    for action in (lambda: api.audio("2001", message.id), lambda: api.delete("2001", message.id),
                   lambda: api.mark("2001", message.id, True)):
        with pytest.raises(NoSuchMessage):
            action()
    assert store.count("2002")["total"] == 1


def test_audio_and_download_name(web):
    api, store, _ = web
    message = leave(store)
    assert api.audio("2001", message.id).read_bytes()[:4] == b"RIFF"
    assert api.download_name("2001", message.id).startswith("voicemail-2002-")


def test_uploaded_greeting_is_converted_to_8khz_mono(web):
    api, store, _ = web
    assert api.upload_greeting("2001", "unavailable", wav_bytes(44100, 2, 2.0)) == pytest.approx(2.0, abs=0.01)
    assert api.greetings("2001")["unavailable"]
    with wave.open(str(store.greeting("2001", "unavailable"))) as w:
        assert (w.getframerate(), w.getnchannels()) == (8000, 1)


@pytest.mark.parametrize("data,reason", [(b"not a wav", "not a WAV"), (None, "shorter")])
def test_bad_greeting_uploads_are_refused_with_a_reason(web, data, reason):
    api, _, _ = web
    with pytest.raises(InvalidMailboxValue) as err:
        api.upload_greeting("2001", "busy", data if data is not None else wav_bytes(8000, 1, 0.1))
    assert reason in str(err.value)
