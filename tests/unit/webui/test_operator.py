"""The operator role (FEATURES §6): an extension marked operator keeps the contacts like the administrator -
the company phonebook and every extension's personal contacts - and gets nothing else of the administrator's:
no admin page, no other mailbox, no other extension's call logs, recordings, calls or settings."""

from __future__ import annotations

import io
import re
import time
from typing import Any

import pytest

from appliance.store import CallRecord, CdrStore, ExtensionStore
from appliance.store.contacts import Contact, ContactNumber, ContactStore
from tests.unit.webui.conftest import Client, text


@pytest.fixture
def operator(app: Any, db: Any) -> Client:
    """Alice (1001), marked operator by the administrator, logged in to the portal as herself."""
    ExtensionStore(db).update("1001", operator=True)
    client = Client(app, address="192.0.2.31")
    assert client.login("1001").status_code == 302
    return client


def _personal(db: Any, owner: str, name: str, number: str = "5550123") -> int:
    contact = ContactStore(db).add(Contact(first_name=name, numbers=(ContactNumber(number),), owner=owner))
    return int(contact.id)


def _upload(client: Client, url: str, content: bytes) -> Any:
    return client.post(url, {"file": (io.BytesIO(content), "book.csv", "text/csv")},
                       content_type="multipart/form-data")


# -- what an operator may do: the contacts, like the administrator ---------------------------------------------


def test_an_operator_adds_edits_and_deletes_company_phonebook_contacts(operator, db):
    page = text(operator.get("/contacts/?book=company"))
    assert "Add contact" in page and "Import CSV" in page
    response = operator.post("/contacts/new?book=company", {"company": "ACME", "number_work": "555 0100"})
    assert response.status_code == 302
    [acme] = ContactStore(db).search(owner=None).contacts
    response = operator.post(f"/contacts/{acme.id}/edit?book=company", {"company": "ACME Ltd", "number_work": "5550100"})
    assert response.status_code == 302 and ContactStore(db).get(int(acme.id), owner=None).company == "ACME Ltd"
    assert operator.post(f"/contacts/{acme.id}/delete?book=company").status_code == 302
    assert ContactStore(db).search(owner=None).total == 0


def test_an_operator_imports_a_csv_into_the_company_phonebook(operator, db):
    page = text(_upload(operator, "/contacts/import?book=company", b"Ann,Lee,5550100\nBad,Row,12ab\n"))
    assert "<strong>1</strong> contact imported" in page
    assert "not a phone number" in page and ContactStore(db).search(owner=None).total == 1


def test_an_operator_sees_and_edits_another_extensions_personal_contacts(operator, db):
    bobs = _personal(db, "1002", "BobsFriend")
    page = text(operator.get("/contacts/?book=personal&owner=1002"))
    assert "BobsFriend" in page and "Personal contacts of 1002 Bob" in page
    response = operator.post(f"/contacts/{bobs}/edit?book=personal&owner=1002",
                             {"first_name": "Renamed", "number_work": "5550123"})
    assert response.status_code == 302 and ContactStore(db).get(bobs, owner="1002").first_name == "Renamed"
    response = operator.post("/contacts/new?book=personal&owner=1002", {"first_name": "Cy", "number_work": "5550124"})
    assert response.status_code == 302 and ContactStore(db).search(owner="1002").total == 2
    _upload(operator, "/contacts/import?book=personal&owner=1002", b"Di,Fu,5550125\n")
    assert ContactStore(db).search(owner="1002").total == 3
    assert operator.post(f"/contacts/{bobs}/delete?book=personal&owner=1002").status_code == 302
    assert ContactStore(db).search(owner="1002").total == 2
    # Nothing went to the operator's own book on the way.
    assert ContactStore(db).search(owner="1001").total == 0


def test_an_operator_picks_whose_personal_contacts_to_open_and_starts_with_their_own(operator, db):
    _personal(db, "1001", "AlicesFriend")
    page = text(operator.get("/contacts/?book=personal"))
    assert "My contacts" in page and "AlicesFriend" in page
    picker = page.split('id="f-owner"', 1)[1].split("</select>", 1)[0]
    assert '<option value="1001" selected>' in picker and '<option value="1002">' in picker
    assert operator.get("/contacts/?book=personal&owner=1999").status_code == 404


def test_switching_the_operator_flag_off_takes_effect_at_the_next_request(operator, db):
    assert operator.get("/contacts/new?book=company").status_code == 200
    ExtensionStore(db).update("1001", operator=False)
    assert operator.get("/contacts/new?book=company").status_code == 403
    assert operator.get("/contacts/?book=personal&owner=1002").status_code == 403
    assert "Add contact" not in text(operator.get("/contacts/?book=company"))


def test_a_plain_extension_is_still_kept_out_of_the_company_book_and_others_contacts(operator, bob, db):
    """Bob (no operator flag) beside an operator: the role is per extension, not per session or box."""
    bobs_view = text(bob.get("/contacts/?book=company"))
    assert "Add contact" not in bobs_view and bob.get("/contacts/new?book=company").status_code == 403
    assert bob.get("/contacts/?book=personal&owner=1001").status_code == 403
    assert 'id="f-owner"' not in text(bob.get("/contacts/?book=personal"))


# -- what an operator may not do: anything else of the administrator's ------------------------------------------

_SAMPLE = {"number": "1002", "contact_id": "1", "record_id": "1", "message_id": "1", "rule_id": "1", "kind": "busy"}


def _urls(app: Any, method: str, prefixes: tuple[str, ...]) -> list[str]:
    rules = [r.rule for r in app.url_map.iter_rules() if method in r.methods and r.rule.startswith(prefixes)]
    return sorted(re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", lambda m: _SAMPLE[m.group(1)], rule) for rule in rules)


def test_an_operator_cannot_open_or_post_to_any_admin_page(app, operator, db):
    before = [(e.number, e.name, e.operator) for e in ExtensionStore(db).list()]
    gets, posts = _urls(app, "GET", ("/admin/", "/api/network")), _urls(app, "POST", ("/admin/",))
    assert "/admin/extensions/" in gets and "/admin/smtp" in posts and "/admin/mailboxes/new" in gets
    for url in gets:
        assert operator.get(url).status_code == 403, url
    for url in posts:
        assert operator.post(url, {"name": "Hacked", "secret": "hacked-secret", "operator": "1",
                                   "portal_enabled": ""}).status_code == 403, url
    assert [(e.number, e.name, e.operator) for e in ExtensionStore(db).list()] == before


def test_an_operators_navigation_has_no_admin_section(operator):
    page = text(operator.get("/contacts/"))
    assert "Portal and security" not in page and "/admin/" not in page


def test_an_operator_cannot_open_another_extensions_mailbox(app, operator):
    """Every mailbox URL of another extension is a 404 for an operator, as for anybody (D-webvm-1)."""
    gets, posts = _urls(app, "GET", ("/voicemail/<",)), _urls(app, "POST", ("/voicemail/<",))
    assert "/voicemail/1002/" in gets and "/voicemail/1002/pin" in posts
    for url in gets:
        assert operator.get(url).status_code == 404, url
    for url in posts:
        assert operator.post(url, {"pin": "9999", "pin_confirm": "9999"}).status_code == 404, url


def test_an_operator_sees_only_their_own_call_logs_and_recordings(operator, db):
    now = time.time()
    cdrs = CdrStore(db)
    cdrs.insert(CallRecord(call_id="a", start=now, end=now + 1, caller="1001", called="1002", type="internal",
                           status="answered", answer=now))
    bobs = cdrs.insert(CallRecord(call_id="b", start=now, end=now + 1, caller="1002", called="5550199",
                                  type="outbound", status="answered", answer=now, recording="b.wav"))
    mine = text(operator.get("/calls/"))
    assert "5550199" not in mine and "1 call" in mine
    assert "5550199" not in text(operator.get("/calls/?extension=1002"))
    assert operator.get(f"/calls/{bobs.id}/recording").status_code == 403


def test_an_operator_changes_only_their_own_settings_and_calls(operator, db, pbx):
    ExtensionStore(db).update("1002", email="bob-private@example.com")
    assert "bob-private@example.com" not in text(operator.get("/settings/?extension=1002"))
    operator.post("/settings/preferences", {"email": "op@example.com", "extension": "1002", "number": "1002"})
    assert ExtensionStore(db).get("1002").email == "bob-private@example.com"
    pbx.calls = [{"id": 9, "caller": "1002", "called": "5550199", "final_called": "5550199", "state": "answered"}]
    operator.post("/dial/hangup", {"call": "9"})
    assert pbx.hung_up == []
    assert "calls" not in operator.get("/api/status").get_json()
