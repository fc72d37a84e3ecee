"""Mailbox retention on the web: the administrator sets "delete read / every message after N days" on an
extension's voicemail options and on a shared mailbox's form; bad values are kept and explained; an extension
user sees the policy but cannot change it."""

from __future__ import annotations


import pytest

from tests.unit.webui.conftest import text
from tests.unit.webui.test_voicemail_pages import VoicemailPbx

OPTIONS = {"voicemail_enabled": "1", "on_busy": "1", "on_no_answer": "1", "on_unavailable": "1",
           "email_mode": "off", "language": "", "max_messages": "100", "max_seconds": "180"}
SHARED = {"number": "70000", "name": "Sales", "language": "", "pin": "2468", "email": "", "max_messages": "100",
          "max_seconds": "180", "require_pin": "1"}


@pytest.fixture
def pbx() -> VoicemailPbx:
    return VoicemailPbx()


def test_the_administrator_sets_an_extensions_retention(admin, vm):
    page = text(admin.get("/voicemail/1001/"))
    assert 'name="delete_read_after_days" type="text" value="0"' in page
    response = admin.post("/voicemail/1001/options",
                          {**OPTIONS, "delete_read_after_days": "30", "delete_all_after_days": "365"})
    assert response.status_code == 302
    box = vm.mailbox("1001")
    assert (box.delete_read_after_days, box.delete_all_after_days) == (30, 365)


@pytest.mark.parametrize("value", ["-1", "3651", "thirty", "1.5", "٣"])
def test_bad_retention_is_reported_next_to_the_field_and_kept(admin, vm, value):
    response = admin.post("/voicemail/1001/options",
                          {**OPTIONS, "delete_read_after_days": value, "delete_all_after_days": "0"})
    page = text(response)
    assert response.status_code == 400
    assert "Give a whole number of days from 0 (keep) to 3650." in page
    assert f'name="delete_read_after_days" type="text" value="{value}"' in page
    assert vm.mailbox("1001").delete_read_after_days == 0


def test_an_empty_retention_field_means_keep(admin, vm):
    vm.update("1001", delete_read_after_days=30)
    admin.post("/voicemail/1001/options", {**OPTIONS, "delete_read_after_days": "", "delete_all_after_days": ""})
    assert vm.mailbox("1001").delete_read_after_days == 0


def test_an_extension_user_sees_the_retention_but_cannot_change_it(alice, vm):
    vm.update("1001", delete_read_after_days=30)
    page = text(alice.get("/voicemail/"))
    assert "read messages 30 days after they were heard" in page
    assert 'name="delete_read_after_days"' not in page
    alice.post("/voicemail/1001/options", {**OPTIONS, "delete_read_after_days": "1", "delete_all_after_days": "1"})
    box = vm.mailbox("1001")
    assert (box.delete_read_after_days, box.delete_all_after_days) == (30, 0)


def test_a_mailbox_without_retention_says_messages_are_kept(alice):
    assert "Messages are kept until they are deleted." in text(alice.get("/voicemail/"))


def test_a_shared_mailbox_is_created_and_edited_with_retention(admin, vm):
    assert 'name="delete_all_after_days" type="text" value="0"' in text(admin.get("/admin/mailboxes/new"))
    response = admin.post("/admin/mailboxes/new",
                          {**SHARED, "delete_read_after_days": "7", "delete_all_after_days": "90"})
    assert response.status_code == 302
    assert (vm.mailbox("70000").delete_read_after_days, vm.mailbox("70000").delete_all_after_days) == (7, 90)
    assert 'name="delete_read_after_days" type="text" value="7"' in text(admin.get("/admin/mailboxes/70000/edit"))
    admin.post("/admin/mailboxes/70000/edit", {**SHARED, "pin": "", "delete_read_after_days": "0",
                                               "delete_all_after_days": "30"})
    assert (vm.mailbox("70000").delete_read_after_days, vm.mailbox("70000").delete_all_after_days) == (0, 30)
    assert "every message 30 days after it came in" in text(admin.get("/voicemail/70000/"))


def test_bad_shared_retention_creates_nothing(admin, vm):
    response = admin.post("/admin/mailboxes/new",
                          {**SHARED, "delete_read_after_days": "0", "delete_all_after_days": "99999"})
    assert response.status_code == 400
    assert "Give a whole number of days from 0 (keep) to 3650." in text(response)
    assert not vm.exists("70000")
