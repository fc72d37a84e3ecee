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
