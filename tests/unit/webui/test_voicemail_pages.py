"""Voicemail pages: an extension's own mailbox (messages, audio with ranges, greetings, options, PIN,
caller rules), the administrator's shared mailboxes and notification log, contact groups, and who may
see what. pbxd is a fake that records the voicemail_changed and mail_wake commands it is sent."""

from __future__ import annotations

import io
import re
import wave
from typing import Any

import numpy as np
import pytest

from appliance.media.wav import read_wav, write_wav_atomic
from appliance.store import ExtensionStore
from appliance.store.contact_groups import ContactGroups
from appliance.store.contacts import Contact, ContactNumber, ContactStore
from appliance.voicemail.outbox import OutboxQueue, QueuedItem
from appliance.voicemail.rules import CallerRules
from appliance.voicemail.storage import VoicemailStore
from appliance.voicemail.web_api import MAX_GREETING_BYTES, VoicemailWeb
from appliance.webui.pbx import PbxUnavailable
from tests.unit.webui.conftest import FakePbx, text


class VoicemailPbx(FakePbx):
    """The fake pbxd, also taking voicemail_changed and mail_wake."""

    def __init__(self) -> None:
        super().__init__()
        self.changed: list[str] = []
        self.wakes = 0

    def voicemail_changed(self, mailbox: str) -> bool:
        if not self.running:
            return False
        self.changed.append(mailbox)
        return True

    def mail_wake(self) -> bool:
        self._check()
        self.wakes += 1
        return True


@pytest.fixture
def pbx() -> VoicemailPbx:
    return VoicemailPbx()


def leave(vm: VoicemailStore, mailbox: str = "1001", caller: str = "5550100", *, name: str | None = "Caller",
          at: float = 1_700_000_000.0, seconds: float = 2.0, forwarded_from: str | None = None) -> Any:
    uid, path = vm.begin_message(mailbox, caller, name, at, forwarded_from=forwarded_from)
    write_wav_atomic(path, np.full(int(8000 * seconds), 1000, dtype=np.int16))
    return vm.commit_message(uid, mailbox, seconds)


def wav_bytes(rate: int = 16000, channels: int = 2, seconds: float = 1.0) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        t = np.arange(int(rate * seconds)) / rate
        tone = (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16)
        w.writeframes(np.repeat(tone, channels).tobytes())
    return buffer.getvalue()


def upload(client: Any, data: bytes, *, kind: str = "unavailable", name: str = "", filename: str = "hello.wav",
           mimetype: str = "audio/wav", mailbox: str = "1001", **kw: Any) -> Any:
    return client.post(f"/voicemail/{mailbox}/greetings",
                       {"kind": kind, "name": name, "file": (io.BytesIO(data), filename, mimetype)},
                       content_type="multipart/form-data", **kw)


def field_error(page: str, name: str) -> str:
    match = re.search(rf'id="{re.escape(name)}-error"[^>]*>([^<]*)<', page)
    assert match, f"no error shown next to {name}"
    return match.group(1)


# -- the page and who may open it --------------------------------------------------------------------------


def test_the_navigation_offers_voicemail_to_extension_users(alice):
    nav = text(alice.get("/dial/")).split('<nav id="sidenav"', 1)[1].split("</nav>", 1)[0]
    assert 'href="/voicemail/"' in nav and "<span>Voicemail</span>" in nav


def test_the_own_mailbox_lists_messages_new_first_with_phonebook_names(alice, vm, db):
    ContactStore(db).add(Contact(first_name="Reception", numbers=(ContactNumber("5550100"),)))
    old = leave(vm, caller="5550100", name="As it came in", at=1_700_000_000.0)
    vm.mark(old.id, True)
    leave(vm, caller="5550199", name="Dialled name", at=1_700_000_600.0, seconds=65, forwarded_from="1002")
    page = text(alice.get("/voicemail/"))
    rows = re.findall(r'<tr data-message="(\d+)" data-read="(\d)"', page)
    assert [read for _, read in rows] == ["0", "1"]  # new first
    assert "Reception" in page and "As it came in" not in page  # the phonebook's name wins
    assert "Dialled name" in page and "forwarded by 1002" in page and "00:01:05" in page
    assert re.search(r'data-count="new">1<', page) and re.search(r'data-count="old">1<', page)
    assert f'/voicemail/1001/messages/{old.id}.wav' in page


def test_an_extension_opens_only_its_own_mailbox(alice, bob, vm):
    bobs = leave(vm, "1002")
    assert alice.get("/voicemail/1002/").status_code == 404
    assert alice.get(f"/voicemail/1002/messages/{bobs.id}.wav").status_code == 404
    assert alice.get(f"/voicemail/1001/messages/{bobs.id}.wav").status_code == 404
    for url in (f"/voicemail/1002/messages/{bobs.id}/delete", f"/voicemail/1001/messages/{bobs.id}/delete",
                f"/voicemail/1001/messages/{bobs.id}/mark"):
        assert alice.post(url, {"read": "1"}).status_code == 404
    assert vm.message(bobs.id).is_new  # untouched
    assert f"{bobs.id}.wav" in text(bob.get("/voicemail/"))
    assert alice.get("/voicemail/1001/").headers["Location"].endswith("/voicemail/")


def test_the_administrator_opens_every_mailbox(admin, vm):
    message = leave(vm, "1002")
    vm.create_shared("7000", "Sales", "4321")
    leave(vm, "7000", caller="5550111")
    assert admin.get("/voicemail/").headers["Location"].endswith("/admin/mailboxes/")
    page = text(admin.get("/voicemail/1002/"))
    assert "Mailbox 1002 · Bob" in page and f"/voicemail/1002/messages/{message.id}.wav" in page
    assert "5550111" in text(admin.get("/voicemail/7000/"))
    assert admin.get("/voicemail/9999/").status_code == 404


def test_the_voicemail_pages_need_a_login(client):
    assert client.get("/voicemail/").status_code == 302
    assert client.get("/voicemail/1001/messages/1.wav").status_code == 302


# -- audio ----------------------------------------------------------------------------------------------


def test_a_message_streams_as_wav_and_answers_range_requests(alice, vm):
    message = leave(vm, seconds=2.0)
    url = f"/voicemail/1001/messages/{message.id}.wav"
    whole = alice.get(url)
    assert whole.status_code == 200 and whole.mimetype == "audio/wav"
    assert whole.headers["Accept-Ranges"] == "bytes" and len(whole.data) == 44 + 32000
    part = alice.get(url, headers={"Range": "bytes=44-143"})
    assert part.status_code == 206 and len(part.data) == 100
    assert part.headers["Content-Range"] == f"bytes 44-143/{len(whole.data)}"
    assert part.data == whole.data[44:144]
    tail = alice.get(url, headers={"Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.data == whole.data[-10:]
    assert alice.get(url, headers={"Range": "bytes=999999-"}).status_code == 416
    assert alice.get(url, headers={"If-None-Match": whole.headers["ETag"]}).status_code == 304
    assert "inline" in whole.headers.get("Content-Disposition", "inline")
    assert whole.headers["Cache-Control"] == "private, no-cache"


def test_download_names_the_file_after_the_caller_and_time(alice, vm):
    message = leave(vm, caller="+49 30 1234")
    response = alice.get(f"/voicemail/1001/messages/{message.id}.wav?download=1")
    assert response.status_code == 200
    disposition = response.headers["Content-Disposition"]
    assert re.fullmatch(r"attachment; filename=voicemail-49301234-\d{8}-\d{4}\.wav", disposition)


def test_a_message_whose_audio_vanished_is_404(alice, vm):
    message = leave(vm)
    vm.audio_path(message).unlink()
    assert alice.get(f"/voicemail/1001/messages/{message.id}.wav").status_code == 404


# -- delete, mark ------------------------------------------------------------------------------------------


def test_deleting_a_message_removes_it_and_tells_pbxd(alice, vm, pbx):
    message = leave(vm)
    page = text(alice.get("/voicemail/"))
    assert "data-confirm=\"Delete the message from Caller 5550100" in page
    response = alice.post(f"/voicemail/1001/messages/{message.id}/delete")
    assert response.status_code == 302 and response.headers["Location"].endswith("/voicemail/")
    assert vm.messages("1001") == [] and not vm.audio_path(message).exists()
    assert pbx.changed == ["1001"]
    assert "Message deleted." in text(alice.get("/voicemail/"))


def test_marking_read_and_unread_tells_pbxd(alice, vm, pbx):
    message = leave(vm)
    assert alice.post(f"/voicemail/1001/messages/{message.id}/mark", {"read": "1"}).status_code == 302
    assert not vm.message(message.id).is_new
    assert alice.post(f"/voicemail/1001/messages/{message.id}/mark", {"read": "0"}).status_code == 302
    assert vm.message(message.id).is_new
    assert pbx.changed == ["1001", "1001"]


def test_the_player_marks_read_through_json_with_the_csrf_header(alice, vm):
    message = leave(vm)
    reply = alice.flask.post(f"/voicemail/1001/messages/{message.id}/mark", data={"read": "1"},
                             base_url="https://pbx.test", environ_overrides=alice._environ(),
                             headers={"Accept": "application/json", "X-CSRF-Token": alice.csrf_token()})
    assert reply.status_code == 200
    assert reply.get_json() == {"ok": True, "read": True, "counts": {"new": 0, "old": 1, "total": 1}}


def test_a_post_without_the_csrf_token_changes_nothing(alice, vm, pbx):
    message = leave(vm)
    assert alice.post(f"/voicemail/1001/messages/{message.id}/delete", csrf=False).status_code == 400
    forged = alice.post(f"/voicemail/1001/messages/{message.id}/mark", {"read": "1"}, csrf="forged" * 8)
    assert forged.status_code == 400
    assert vm.message(message.id).is_new and pbx.changed == []


def test_deleting_works_while_pbxd_is_down(alice, vm, pbx):
    message = leave(vm)
    pbx.running = False
    assert alice.post(f"/voicemail/1001/messages/{message.id}/delete").status_code == 302
    assert vm.messages("1001") == []


def test_the_real_pbx_client_sends_voicemail_changed_best_effort(tmp_path):
    from appliance.webui.pbx import PbxClient

    client = PbxClient(tmp_path / "no-such.sock", timeout=0.2)
    assert client.voicemail_changed("1001") is False  # pbxd down: no error for the page
    with pytest.raises(PbxUnavailable):
        client.mail_wake()


# -- greetings ---------------------------------------------------------------------------------------------


def test_an_uploaded_greeting_is_converted_listed_played_and_deleted(alice, vm):
    response = upload(alice, wav_bytes(rate=16000, channels=2, seconds=1.5), kind="busy")
    assert response.status_code == 302
    path = vm.greeting("1001", "busy")
    assert path is not None and len(read_wav(path)) == 12000  # 8 kHz mono
    page = text(alice.get("/voicemail/"))
    assert "Greeting saved (1.5 s)." in page and "/voicemail/1001/greetings/busy.wav" in page
    played = alice.get("/voicemail/1001/greetings/busy.wav", headers={"Range": "bytes=0-43"})
    assert played.status_code == 206 and played.data[:4] == b"RIFF"
    assert alice.post("/voicemail/1001/greetings/busy/delete").status_code == 302
    assert vm.greeting("1001", "busy") is None
    assert alice.post("/voicemail/1001/greetings/busy/delete").status_code == 404
    assert alice.get("/voicemail/1001/greetings/busy.wav").status_code == 404


def test_a_recorded_greeting_posted_by_script_gets_json(alice, vm):
    reply = upload(alice, wav_bytes(rate=8000, channels=1, seconds=1.0), filename="greeting.wav",
                   headers={"Accept": "application/json"})
    assert reply.status_code == 200 and reply.get_json()["ok"] and reply.get_json()["kind"] == "unavailable"
    bad = upload(alice, b"RIFF....WAVEjunk", headers={"Accept": "application/json"})
    assert bad.status_code == 400 and "file" in bad.get_json()["errors"]


@pytest.mark.parametrize("data, filename, mimetype, message", [
    (b"ID3\x03\x00" + b"\x00" * 100, "song.mp3", "audio/mpeg", "not a WAV file"),
    (b"RIFF\x00\x00\x00\x00AVI LIST", "clip.wav", "audio/wav", "no RIFF/WAVE header"),
    (wav_bytes(), "hello.wav", "video/mp4", "not WAV audio"),
    (b"RIFF\x10\x00\x00\x00WAVEfmt \x02\x00", "broken.wav", "audio/wav", "WAV file this box can read"),
    (wav_bytes(seconds=0.2), "short.wav", "audio/wav", "shorter than half a second"),
])
def test_bad_greeting_files_are_refused_next_to_the_file_field(alice, vm, data, filename, mimetype, message):
    response = upload(alice, data, filename=filename, mimetype=mimetype, kind="name")
    assert response.status_code == 400
    page = text(response)
    assert message in field_error(page, "file")
    assert '<option value="name" selected>' in page  # the choice is kept
    assert vm.greeting("1001", "name") is None


def test_a_missing_file_is_reported(alice):
    response = alice.post("/voicemail/1001/greetings", {"kind": "unavailable"}, content_type="multipart/form-data")
    assert response.status_code == 400 and "Choose a WAV file" in field_error(text(response), "file")


def test_a_greeting_larger_than_the_limit_is_refused_without_a_413(alice, vm):
    data = b"RIFF\x00\x00\x00\x00WAVE" + b"\x00" * MAX_GREETING_BYTES
    response = upload(alice, data)
    assert response.status_code == 400 and "larger than 10 MiB" in field_error(text(response), "file")


def test_other_forms_keep_the_small_body_limit(alice):
    response = alice.post("/settings/preferences", {"email": "x" * (3 * 1024 * 1024)},
                          content_type="multipart/form-data")
    assert response.status_code == 413


def test_another_greeting_needs_a_good_name_and_can_serve_a_caller_rule(alice, vm):
    assert "Give the greeting a name" in field_error(text(upload(alice, wav_bytes(), kind="custom")), "name")
    assert "lower-case" in field_error(text(upload(alice, wav_bytes(), kind="custom", name="Big Customers")), "name")
    assert "standard greetings" in field_error(text(upload(alice, wav_bytes(), kind="custom", name="busy")), "name")
    assert upload(alice, wav_bytes(), kind="custom", name="customers").status_code == 302
    page = text(alice.get("/voicemail/"))
    assert "/voicemail/1001/greetings/customers.wav" in page and '<option value="customers">' in page
    assert alice.post("/voicemail/1001/rules", {"match_kind": "number", "match_value": "5550100",
                                                "greeting": "customers"}).status_code == 302
    [rule] = CallerRules(vm.db).list("1001")
    assert rule.greeting == "customers"


def test_named_greetings_lists_only_greetings_with_a_file(vm):
    api = VoicemailWeb(vm)
    api.upload_greeting("1001", "customers", wav_bytes())
    api.upload_greeting("1001", "busy", wav_bytes())
    api.upload_greeting("1001", "vip", wav_bytes())
    vm.greeting_path("1001", "vip").unlink()
    assert api.named_greetings("1001") == ["customers"]
    assert api.named_greetings("1002") == []


# -- options and PIN ----------------------------------------------------------------------------------------


def test_options_are_saved_in_the_mailbox_and_the_extension(alice, vm, db, pbx):
    response = alice.post("/voicemail/1001/options", {"voicemail_enabled": "", "announce_caller": "1",
                                                      "email_mode": "notice", "language": "zh",
                                                      "max_messages": "5000"})
    assert response.status_code == 302
    box = vm.mailbox("1001")
    assert box.announce_caller and not box.announce_time and box.email_on_new and not box.attach_audio
    assert box.language == "zh" and box.max_messages == 100  # limits are the administrator's
    assert not ExtensionStore(db).get("1001").voicemail_enabled and pbx.reloads == 1
    page = text(alice.get("/voicemail/"))
    assert "Voicemail is switched off" in page and '<option value="notice" selected>' in page


def test_the_conditions_that_send_calls_to_voicemail_are_saved(alice, vm):
    response = alice.post("/voicemail/1001/options", {"voicemail_enabled": "1", "on_busy": "1",
                                                      "email_mode": "off", "language": ""})
    assert response.status_code == 302
    box = vm.mailbox("1001")
    assert (box.on_busy, box.on_no_answer, box.on_unavailable) == (True, False, False)
    assert box.takes("busy") and not box.takes("no answer") and box.takes("direct")
    assert 'name="on_busy" value="1" checked' in text(alice.get("/voicemail/")).replace("\n", " ")


def test_email_without_an_address_is_saved_with_a_warning(bob, vm):
    response = bob.post("/voicemail/1002/options", {"voicemail_enabled": "1", "email_mode": "attach"})
    assert response.status_code == 302
    assert vm.mailbox("1002").email_on_new and "no e-mail address" in text(bob.get("/voicemail/"))


def test_bad_options_are_reported_and_kept(alice, vm):
    response = alice.post("/voicemail/1001/options", {"voicemail_enabled": "1", "email_mode": "fax",
                                                      "language": "xx", "announce_time": "1"})
    assert response.status_code == 400
    page = text(response)
    assert field_error(page, "email_mode") and "Must be one of" in field_error(page, "language")
    assert vm.mailbox("1001").language is None


def test_the_administrator_sets_an_extensions_limits(admin, vm):
    page = text(admin.post("/voicemail/1001/options", {"email_mode": "off", "max_messages": "0",
                                                       "max_seconds": "abc"}))
    assert "from 1 to 10000" in field_error(page, "max_messages") and field_error(page, "max_seconds")
    assert admin.post("/voicemail/1001/options", {"email_mode": "off", "max_messages": "20",
                                                  "max_seconds": "60"}).status_code == 302
    box = vm.mailbox("1001")
    assert (box.max_messages, box.max_seconds, box.email_on_new) == (20, 60, False)


def test_the_pin_is_changed_when_both_entries_agree(alice, db):
    page = text(alice.post("/voicemail/1001/pin", {"pin": "12", "pin_confirm": "12"}))
    assert "4 to 8 digits" in field_error(page, "pin")
    page = text(alice.post("/voicemail/1001/pin", {"pin": "4321", "pin_confirm": "4322"}))
    assert field_error(page, "pin_confirm") and "4321" not in page
    assert alice.post("/voicemail/1001/pin", {"pin": "4321", "pin_confirm": "4321"}).status_code == 302
    assert ExtensionStore(db).check_voicemail_pin("1001", "4321")


def test_a_shared_mailbox_pin_is_changed_by_the_administrator(admin, alice, vm):
    vm.create_shared("7000", "Sales", "1111")
    assert alice.post("/voicemail/7000/pin", {"pin": "2222", "pin_confirm": "2222"}).status_code == 404
    assert admin.post("/voicemail/7000/pin", {"pin": "2222", "pin_confirm": "2222"}).status_code == 302
    assert vm.check_shared_pin("7000", "2222")
    assert admin.post("/voicemail/7000/options", {"email_mode": "off"}).status_code == 404  # its own form


# -- caller rules ------------------------------------------------------------------------------------------


def test_caller_rules_are_added_reordered_and_deleted(alice, vm, db):
    ContactGroups(db).add(int(ContactStore(db).add(Contact(first_name="ACME", numbers=(ContactNumber("5550123"),),
                                                           owner="1001")).id), "Customers")
    assert '<option value="Customers">' in text(alice.get("/voicemail/"))  # offered as a group
    assert alice.post("/voicemail/1001/rules", {"match_kind": "group", "match_value": "Customers",
                                                "email_action": "attach"}).status_code == 302
    assert alice.post("/voicemail/1001/rules", {"match_kind": "number", "match_value": "+49 30*",
                                                "email_action": "none"}).status_code == 302
    rules = CallerRules(db)
    first, second = rules.list("1001")
    assert (first.match_value, second.match_value) == ("Customers", "+4930*")
    assert alice.post(f"/voicemail/1001/rules/{second.id}/move", {"direction": "up"}).status_code == 302
    assert [r.id for r in rules.list("1001")] == [second.id, first.id]
    alice.post(f"/voicemail/1001/rules/{second.id}/move", {"direction": "up"})  # already first: no change
    assert [r.id for r in rules.list("1001")] == [second.id, first.id]
    assert alice.post(f"/voicemail/1001/rules/{second.id}/move", {"direction": "sideways"}).status_code == 400
    page = text(alice.get("/voicemail/"))
    assert "a number starting with" in page and "in the contact group" in page
    assert alice.post(f"/voicemail/1001/rules/{first.id}/delete").status_code == 302
    assert [r.id for r in rules.list("1001")] == [second.id]


@pytest.mark.parametrize("values, field, message", [
    ({"match_kind": "number", "match_value": "12ab", "email_action": "none"}, "match_value", "not a phone number"),
    ({"match_kind": "number", "match_value": "", "email_action": "none"}, "match_value", "caller number"),
    ({"match_kind": "number", "match_value": "5550100"}, "greeting", "choose a greeting, a notification"),
    ({"match_kind": "planet", "match_value": "5550100", "email_action": "none"}, "match_kind", "must be one of"),
    ({"match_kind": "number", "match_value": "5550100", "greeting": "busy"}, "greeting", "Record or upload"),
])
def test_bad_rules_are_reported_next_to_their_field(alice, db, values, field, message):
    response = alice.post("/voicemail/1001/rules", values)
    assert response.status_code == 400
    page = text(response)
    assert message.lower() in field_error(page, field).lower()
    assert f'value="{values["match_value"]}"' in page if values["match_value"] else True
    assert CallerRules(db).list("1001") == []


def test_an_extension_cannot_touch_another_mailboxs_rules(alice, db):
    rule = CallerRules(db).add("1002", "number", "5550100", email_action="none")
    assert alice.post(f"/voicemail/1001/rules/{rule.id}/delete").status_code == 404
    assert alice.post(f"/voicemail/1002/rules/{rule.id}/delete").status_code == 404
    assert alice.post(f"/voicemail/1001/rules/{rule.id}/move", {"direction": "up"}).status_code == 404
    assert alice.post("/voicemail/1002/rules", {"match_kind": "number", "match_value": "1",
                                                "email_action": "none"}).status_code == 404
    assert CallerRules(db).list("1002") == [rule]


# -- shared mailboxes (administrator) ----------------------------------------------------------------------


SHARED = {"number": "7000", "name": "Sales line", "language": "ru", "pin": "2468", "email": "sales@example.com",
          "require_pin": "1", "email_on_new": "1", "attach_audio": "", "announce_caller": "1",
          "announce_time": "1", "max_messages": "50", "max_seconds": "120"}


def test_the_administrator_creates_edits_and_deletes_a_shared_mailbox(admin, vm, pbx):
    assert admin.post("/admin/mailboxes/new", SHARED).status_code == 302
    box = vm.mailbox("7000")
    assert (box.kind, box.name, box.language, box.email) == ("shared", "Sales line", "ru", "sales@example.com")
    assert box.require_pin and box.email_on_new and not box.attach_audio and box.max_messages == 50
    assert vm.check_shared_pin("7000", "2468")
    page = text(admin.get("/admin/mailboxes/"))
    assert 'data-number="7000"' in page and "Sales line" in page and "PIN required" in page

    assert 'value="Sales line"' in text(admin.get("/admin/mailboxes/7000/edit"))
    changed = {**SHARED, "name": "Sales", "pin": "", "require_pin": "", "email_on_new": ""}
    assert admin.post("/admin/mailboxes/7000/edit", changed).status_code == 302
    box = vm.mailbox("7000")
    assert box.name == "Sales" and not box.require_pin and not box.email_on_new
    assert vm.check_shared_pin("7000", "2468")  # an empty PIN field keeps the PIN
    assert admin.post("/admin/mailboxes/7000/edit", {**changed, "pin": "1357"}).status_code == 302
    assert vm.check_shared_pin("7000", "1357")

    leave(vm, "7000")
    assert admin.post("/admin/mailboxes/7000/delete").status_code == 302
    assert vm.shared_mailboxes() == [] and pbx.changed == ["7000"]
    assert admin.get("/admin/mailboxes/7000/edit").status_code == 404


@pytest.mark.parametrize("changes, field, message", [
    ({"number": "1001"}, "number", "already in use"),
    ({"number": "7a"}, "number", "2 to 8 digits"),
    ({"pin": ""}, "pin", "Give the mailbox a PIN"),
    ({"pin": "12"}, "pin", "4 to 8 digits"),
    ({"name": "  "}, "name", "Must not be empty"),
    ({"email": "sales at example"}, "email", "not an e-mail address"),
    ({"email": ""}, "email", "switch the e-mail off"),
    ({"language": "de"}, "language", "Must be one of"),
    ({"max_seconds": "5"}, "max_seconds", "from 10 to 3600"),
])
def test_bad_shared_mailbox_values_are_reported_and_kept(admin, vm, changes, field, message):
    response = admin.post("/admin/mailboxes/new", {**SHARED, **changes})
    assert response.status_code == 400
    page = text(response)
    assert message in field_error(page, field)
    assert 'value="Sales line"' in page or field == "name"  # what was typed stays
    assert 'value="2468"' not in page  # a PIN is never sent back
    assert vm.shared_mailboxes() == []


def test_a_taken_shared_number_is_refused(admin, vm):
    vm.create_shared("7000", "Sales", "1111")
    assert "already in use" in field_error(text(admin.post("/admin/mailboxes/new", SHARED)), "number")


def test_the_administrator_manages_a_shared_mailboxs_messages(admin, vm, pbx):
    vm.create_shared("7000", "Sales", "1111")
    message = leave(vm, "7000", caller="5550111")
    assert admin.get(f"/voicemail/7000/messages/{message.id}.wav").status_code == 200
    assert admin.post(f"/voicemail/7000/messages/{message.id}/mark", {"read": "1"}).status_code == 302
    assert admin.post(f"/voicemail/7000/messages/{message.id}/delete").status_code == 302
    assert vm.messages("7000") == [] and pbx.changed == ["7000", "7000"]
    assert "1 new" not in text(admin.get("/admin/mailboxes/"))


@pytest.mark.parametrize("method, url", [
    ("get", "/admin/mailboxes/"), ("get", "/admin/mailboxes/new"), ("get", "/admin/mailboxes/notifications"),
    ("post", "/admin/mailboxes/new"), ("post", "/admin/mailboxes/notifications/retry"),
    ("get", "/admin/mailboxes/7000/edit"), ("post", "/admin/mailboxes/7000/delete"),
])
def test_extension_users_cannot_open_the_mailbox_administration(alice, vm, method, url):
    vm.create_shared("7000", "Sales", "1111")
    response = alice.get(url) if method == "get" else alice.post(url, SHARED)
    assert response.status_code == 403
    assert alice.get("/voicemail/7000/").status_code == 404
    assert vm.mailbox("7000").name == "Sales"


def test_the_extension_form_links_to_the_extensions_mailbox(admin):
    assert 'href="/voicemail/1001/"' in text(admin.get("/admin/extensions/1001/edit"))


# -- the notification log ------------------------------------------------------------------------------------


def _queue(db: Any, **changes: Any) -> int:
    item = QueuedItem(channel="email", message_uid="u1", mailbox="1001", recipient="alice@example.com",
                      attach=True, payload={}, created_at=1_700_000_000.0)
    [row_id] = OutboxQueue(db).insert([item])
    if changes:
        assignments = ", ".join(f"{k} = ?" for k in changes)
        db.conn.execute(f"UPDATE email_queue SET {assignments} WHERE id = ?", [*changes.values(), row_id])
    return row_id


def test_the_notification_log_shows_state_attempts_and_errors(admin, db):
    _queue(db, attempts=3, last_error="connection refused by mail.example.com")
    _queue(db, state="sent", attempts=1, sent_at=1_700_000_100.0)
    _queue(db, state="failed", attempts=1, last_error="550 no such user", recipient="bob@example.com")
    page = text(admin.get("/admin/mailboxes/notifications"))
    assert "3 notifications shown, 1 waiting." in page
    assert "connection refused by mail.example.com" in page and "550 no such user" in page
    assert re.search(r'data-state="pending">.*?<td data-label="Attempts">3</td>', page, re.DOTALL)
    assert "badge-mail-failed" in page and "badge-mail-sent" in page


def test_retry_now_wakes_the_outbox_in_pbxd(admin, pbx):
    response = admin.post("/admin/mailboxes/notifications/retry")
    assert response.status_code == 302 and pbx.wakes == 1
    assert "being tried again now" in text(admin.get("/admin/mailboxes/notifications"))
    pbx.running = False
    admin.post("/admin/mailboxes/notifications/retry")
    assert "not running" in text(admin.get("/admin/mailboxes/notifications"))


# -- contact groups on the contacts page ----------------------------------------------------------------------


def test_contacts_carry_groups_that_caller_rules_use(alice, db):
    response = alice.post("/contacts/new?book=personal", {"first_name": "Ann", "number_work": "5550123",
                                                          "groups": "Customers, VIP,  ,customers"})
    assert response.status_code == 302
    [contact] = ContactStore(db).search(owner="1001").contacts
    assert ContactGroups(db).groups_of(int(contact.id)) == ["Customers", "VIP"]
    page = text(alice.get("/contacts/?book=personal"))
    assert '<span class="tag" data-group>Customers</span>' in page
    assert 'value="Customers, VIP"' in text(alice.get(f"/contacts/{contact.id}/edit?book=personal"))
    response = alice.post(f"/contacts/{contact.id}/edit?book=personal",
                          {"first_name": "Ann", "number_work": "5550123", "groups": "Suppliers"})
    assert response.status_code == 302
    assert ContactGroups(db).groups_of(int(contact.id)) == ["Suppliers"]


def test_a_bad_group_name_is_reported_and_nothing_is_saved(alice, db):
    response = alice.post("/contacts/new?book=personal", {"first_name": "Ann", "number_work": "5550123",
                                                          "groups": "x" * 70})
    assert response.status_code == 400
    assert "at most 64 characters" in field_error(text(response), "groups")
    assert ContactStore(db).search(owner="1001").total == 0
