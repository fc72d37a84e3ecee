"""Admin: extensions with every field - create, edit, web password, voicemail PIN, delete."""

from __future__ import annotations

import pytest

from appliance.store import ExtensionStore
from tests.unit.webui.conftest import Client, text

NEW = {"number": "1005", "name": "Dora", "secret": "dora-sip-secret", "email": "dora@example.com",
       "department": "Support", "language": "zh", "enabled": "1", "dnd": "1", "voicemail_enabled": "",
       "web_password": "dora-web-pw", "voicemail_pin": "2468"}


def test_the_list_shows_extensions_with_status_and_flags(admin, pbx):
    pbx.states = {"1001": "idle"}
    page = text(admin.get("/admin/extensions/"))
    assert "Alice" in page and "Bob" in page and "portal login" in page and "badge-idle" in page


def test_the_new_form_offers_a_generated_sip_password(admin):
    page = text(admin.get("/admin/extensions/new"))
    assert 'name="secret"' in page and 'id="f-secret"' in page


def test_creating_an_extension_stores_every_field(admin, app, db, pbx):
    response = admin.post("/admin/extensions/new", NEW)
    assert response.status_code == 302
    ext = ExtensionStore(db).get("1005")
    assert (ext.name, ext.secret, ext.email, ext.department, ext.language) == (
        "Dora", "dora-sip-secret", "dora@example.com", "Support", "zh")
    assert ext.enabled and ext.dnd and not ext.voicemail_enabled
    assert ExtensionStore(db).check_voicemail_pin("1005", "2468")
    assert pbx.reloads == 1
    assert Client(app, address="198.51.100.20").login("1005", "dora-web-pw").status_code == 302


@pytest.mark.parametrize("field, value", [
    ("number", "0123"), ("number", "12a"), ("name", ""), ("secret", "short"), ("secret", "has space in it"),
    ("email", "dora@"), ("language", "xx"), ("web_password", "short"), ("voicemail_pin", "12"),
])
def test_bad_values_are_reported_next_to_the_field_and_kept(admin, db, field, value):
    response = admin.post("/admin/extensions/new", {**NEW, field: value})
    page = text(response)
    assert response.status_code == 400 and f'id="{field}-error"' in page
    if field not in ("web_password", "voicemail_pin", "language"):
        assert f'value="{value}"' in page
    assert ExtensionStore(db).find("1005") is None


def test_an_existing_number_is_refused(admin):
    page = text(admin.post("/admin/extensions/new", {**NEW, "number": "1001"}))
    assert 'id="number-error"' in page and "already exists" in page


def test_editing_changes_fields_and_keeps_the_web_password_when_left_empty(admin, db):
    before = ExtensionStore(db).get("1001").web_password_hash
    response = admin.post("/admin/extensions/1001/edit", {
        "name": "Alice Wong", "secret": "alice-sip-secret-2", "email": "", "department": "Sales",
        "language": "", "enabled": "1", "voicemail_enabled": "1"})
    assert response.status_code == 302
    ext = ExtensionStore(db).get("1001")
    assert ext.name == "Alice Wong" and ext.secret == "alice-sip-secret-2" and ext.email is None
    assert ext.web_password_hash == before


def test_the_admin_sets_and_removes_an_extensions_web_password(admin, app, db):
    form = {"name": "Bob", "secret": "bob-sip-secret", "enabled": "1", "web_password": "bob-new-pw-1"}
    admin.post("/admin/extensions/1002/edit", form)
    assert ExtensionStore(db).check_web_password("1002", "bob-new-pw-1")
    admin.post("/admin/extensions/1002/edit", {**form, "web_password": "", "remove_web_password": "1"})
    assert ExtensionStore(db).get("1002").web_password_hash is None
    assert Client(app, address="198.51.100.21").login("1002", "bob-new-pw-1").status_code == 401


def test_the_edit_form_never_shows_password_hashes(admin):
    page = text(admin.get("/admin/extensions/1001/edit"))
    assert "scrypt$" not in page and 'value="alice-sip-secret"' in page


def test_deleting_an_extension(admin, db, pbx):
    assert admin.post("/admin/extensions/1002/delete").status_code == 302
    assert ExtensionStore(db).find("1002") is None and pbx.reloads == 1
    assert admin.post("/admin/extensions/1002/delete").status_code == 404
    assert admin.get("/admin/extensions/4711/edit").status_code == 404


def test_the_form_offers_the_operator_role_and_recording_every_call(admin, db):
    page = text(admin.get("/admin/extensions/new"))
    assert "Operator (keeps the company phonebook)" in page and 'name="operator"' in page
    assert "Record every call" in page and 'name="record_calls"' in page
    ExtensionStore(db).update("1002", operator=True, record_calls=True)
    page = text(admin.get("/admin/extensions/1002/edit"))
    assert 'name="operator" value="1" checked' in page and 'name="record_calls" value="1" checked' in page
    page = text(admin.get("/admin/extensions/1001/edit"))
    assert 'name="operator" value="1">' in page and 'name="record_calls" value="1">' in page


def test_creating_an_operator_that_records_every_call(admin, db):
    assert admin.post("/admin/extensions/new", {**NEW, "operator": "1", "record_calls": "1"}).status_code == 302
    ext = ExtensionStore(db).get("1005")
    assert ext.operator and ext.record_calls
    assert admin.post("/admin/extensions/new", {**NEW, "number": "1006"}).status_code == 302
    ext = ExtensionStore(db).get("1006")
    assert not ext.operator and not ext.record_calls


def test_editing_switches_the_operator_role_and_recording_on_and_off(admin, db, pbx):
    form = {"name": "Bob", "secret": "bob-sip-secret", "enabled": "1"}
    admin.post("/admin/extensions/1002/edit", {**form, "operator": "1", "record_calls": "1"})
    assert (ExtensionStore(db).get("1002").operator, ExtensionStore(db).get("1002").record_calls) == (True, True)
    assert pbx.reloads == 1  # pbxd reads record_calls from the store when told to reload
    page = text(admin.get("/admin/extensions/"))
    assert 'data-flag="operator"' in page and 'data-flag="record_calls"' in page
    admin.post("/admin/extensions/1002/edit", form)  # unticked boxes are not sent: both off
    assert (ExtensionStore(db).get("1002").operator, ExtensionStore(db).get("1002").record_calls) == (False, False)


def test_a_form_error_keeps_the_ticked_operator_and_recording_boxes(admin, db):
    page = text(admin.post("/admin/extensions/new", {**NEW, "name": "", "operator": "1", "record_calls": "1"}))
    assert 'name="operator" value="1" checked' in page and 'name="record_calls" value="1" checked' in page
    assert ExtensionStore(db).find("1005") is None
