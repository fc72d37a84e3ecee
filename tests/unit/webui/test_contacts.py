"""Contacts pages: add, edit, delete, search, page, import CSV; form errors keep what was typed."""

from __future__ import annotations

import io

from appliance.store.contacts import Contact, ContactNumber, ContactStore
from tests.unit.webui.conftest import text


def test_an_extension_user_adds_a_personal_contact(alice, db):
    response = alice.post("/contacts/new?book=personal", {
        "first_name": "Ann", "last_name": "Lee", "company": "ACME", "email": "ann@example.com",
        "number_work": "+86 10 1234 5678", "number_mobile": "138-0013-8000"})
    assert response.status_code == 302
    [ann] = ContactStore(db).search(owner="1001").contacts
    assert [n.number for n in ann.numbers] == ["+861012345678", "13800138000"]
    page = text(alice.get("/contacts/?book=personal"))
    assert "Ann" in page and "+861012345678" in page and 'title="Call +861012345678 from my phone"' in page


def test_bad_values_are_shown_next_to_their_fields_and_kept(alice):
    response = alice.post("/contacts/new?book=personal", {
        "first_name": "Ann", "email": "not-an-address", "number_work": "12ab", "number_home": "555 0100"})
    page = text(response)
    assert response.status_code == 400
    assert 'id="number_work-error"' in page and 'value="12ab"' in page and 'value="555 0100"' in page
    response = alice.post("/contacts/new?book=personal", {"first_name": "Ann", "email": "bad", "number_work": "1234"})
    assert 'id="email-error"' in text(response) and 'value="bad"' in text(response)


def test_a_contact_needs_a_name_and_a_number(alice):
    page = text(alice.post("/contacts/new?book=personal", {"number_work": "1234"}))
    assert 'id="first_name-error"' in page
    page = text(alice.post("/contacts/new?book=personal", {"first_name": "Ann"}))
    assert 'id="number_work-error"' in page and "at least one number" in page


def test_edit_and_delete(alice, db):
    store = ContactStore(db)
    contact = store.add(Contact(first_name="Ann", numbers=(ContactNumber("1234"),), owner="1001"))
    form = text(alice.get(f"/contacts/{contact.id}/edit?book=personal"))
    assert 'value="Ann"' in form and 'value="1234"' in form
    alice.post(f"/contacts/{contact.id}/edit?book=personal", {"first_name": "Anna", "number_mobile": "5678"})
    changed = store.get(contact.id, owner="1001")
    assert changed.first_name == "Anna" and changed.numbers == (ContactNumber("5678", "mobile"),)
    alice.post(f"/contacts/{contact.id}/delete?book=personal")
    assert store.search(owner="1001").total == 0
    assert alice.get("/contacts/999/edit?book=personal").status_code == 404


def test_search_and_paging(admin, db):
    ContactStore(db).add_many(
        Contact(first_name=f"Person{i:03d}", last_name="Z", numbers=(ContactNumber(f"7{i:05d}"),))
        for i in range(120))
    page = text(admin.get("/contacts/?book=company"))
    assert "120 contacts" in page and "Page 1 of 3" in page and "Person049" in page and "Person050" not in page
    page = text(admin.get("/contacts/?book=company&page=3"))
    assert "Person119" in page and "Person099" not in page
    page = text(admin.get("/contacts/?book=company&q=700 011"))
    assert "Person011" in page and "1 contact" in page
    assert "No contact matches" in text(admin.get("/contacts/?book=company&q=nobody"))


def test_admin_without_chosen_owner_sees_the_extension_picker(admin):
    page = text(admin.get("/contacts/?book=personal"))
    assert "Choose an extension" in page and "1001 · Alice" in page
    assert admin.get("/contacts/?book=personal&owner=4711").status_code == 404
    assert admin.get("/contacts/?book=nonsense").status_code == 404


def _upload(client, content: bytes, name: str = "book.csv", kind: str = "text/csv", url: str = "/contacts/import?book=personal"):
    return client.post(url, {"file": (io.BytesIO(content), name, kind)}, content_type="multipart/form-data")


def test_csv_import_reports_rejected_rows_and_imports_the_rest(alice, db):
    response = _upload(alice, b"First name,Last name,Number\nAnn,Lee,555 0100\nBad,Row,12ab\nBo,Chen,555-0101\n")
    page = text(response)
    assert response.status_code == 200
    assert "<strong>2</strong> contacts imported" in page and "header line skipped" in page
    assert "12ab" in page and "not a phone number" in page and "<td data-label=\"Line\">3</td>" in page
    assert ContactStore(db).search(owner="1001").total == 2


def test_csv_import_into_the_company_phonebook_is_admins(admin, db):
    _upload(admin, b"Ann,Lee,5550100\n", url="/contacts/import?book=company")
    assert ContactStore(db).search(owner=None).total == 1


def test_csv_upload_type_size_and_encoding_are_checked(alice, app):
    assert "Choose a .csv file" in text(_upload(alice, b"a,b,1", name="book.exe"))
    assert "not a CSV" in text(_upload(alice, b"a,b,1", kind="application/x-msdownload"))
    app.config["CSV_MAX_BYTES"] = 10
    assert "larger than" in text(_upload(alice, b"Ann,Lee,5550100\n"))
    app.config["CSV_MAX_BYTES"] = 1024 * 1024
    assert "not UTF-8" in text(_upload(alice, "Änn,Lee,5550100".encode("latin-1")))
    assert "Choose a CSV file" in text(alice.post("/contacts/import?book=personal", {}))


def test_a_request_body_over_the_limit_is_refused(alice):
    response = _upload(alice, b"x" * (3 * 1024 * 1024))
    assert response.status_code == 413
