"""Who may see what: an extension sees its own data, the company phonebook and statuses; admin sees all."""

from __future__ import annotations

import time

import pytest

from appliance.store import CallRecord, CdrStore
from appliance.store.contacts import Contact, ContactNumber, ContactStore
from tests.unit.webui.conftest import text

ADMIN_PAGES = [
    "/admin/extensions/", "/admin/extensions/new", "/admin/extensions/1001/edit", "/admin/portal",
    "/admin/smtp", "/admin/box", "/admin/password",
]
ADMIN_POSTS = [
    "/admin/extensions/1002/delete", "/admin/portal", "/admin/smtp", "/admin/smtp/test", "/admin/password",
    "/admin/box/certificate", "/admin/extensions/new", "/admin/extensions/1002/edit",
]
EXTENSION_PAGES = ["/dial/", "/settings/"]


@pytest.mark.parametrize("url", ADMIN_PAGES)
def test_extension_users_cannot_open_admin_pages(alice, url):
    assert alice.get(url).status_code == 403


@pytest.mark.parametrize("url", ADMIN_POSTS)
def test_extension_users_cannot_post_to_admin_pages(alice, url, db):
    assert alice.post(url, {"portal_enabled": "", "idle_minutes": "1"}).status_code == 403


@pytest.mark.parametrize("url", EXTENSION_PAGES)
def test_pages_of_ones_own_extension_are_not_for_the_admin(admin, url):
    assert admin.get(url).status_code == 403


def test_the_navigation_matches_the_role(admin, alice):
    admin_page, alice_page = text(admin.get("/extensions")), text(alice.get("/extensions"))
    assert "Portal and security" in admin_page and "Web dial" not in admin_page
    assert "Portal and security" not in alice_page and "Web dial" in alice_page


def test_the_navigation_lists_only_pages_that_exist(app, alice):
    from appliance.webui.nav import SECTIONS

    nav = text(alice.get("/dial/")).split('<nav id="sidenav"', 1)[1].split("</nav>", 1)[0]
    for item in SECTIONS[0].items:
        shown = f"<span>{item.label}</span>" in nav
        assert shown == (item.endpoint in app.view_functions), item.endpoint


def _personal(db, owner: str, name: str) -> int:
    contact = ContactStore(db).add(Contact(first_name=name, numbers=(ContactNumber("5550123"),), owner=owner))
    return int(contact.id)


def test_personal_contacts_are_private_to_their_owner(alice, bob, db):
    bobs = _personal(db, "1002", "BobsFriend")
    assert "BobsFriend" not in text(alice.get("/contacts/?book=personal"))
    assert alice.get("/contacts/?book=personal&owner=1002").status_code == 403
    assert alice.get(f"/contacts/{bobs}/edit?book=personal").status_code == 404
    assert alice.post(f"/contacts/{bobs}/delete?book=personal").status_code == 404
    assert alice.post(f"/contacts/{bobs}/edit?book=personal&owner=1002",
                      {"first_name": "Hacked", "number_work": "1"}).status_code == 403
    assert "BobsFriend" in text(bob.get("/contacts/?book=personal"))


def test_admin_sees_and_edits_anyones_personal_contacts(admin, db):
    bobs = _personal(db, "1002", "BobsFriend")
    assert "BobsFriend" in text(admin.get("/contacts/?book=personal&owner=1002"))
    response = admin.post(f"/contacts/{bobs}/edit?book=personal&owner=1002",
                          {"first_name": "Renamed", "number_work": "5550123"})
    assert response.status_code == 302
    assert ContactStore(db).get(bobs, owner="1002").first_name == "Renamed"


def test_everyone_reads_the_company_phonebook_but_only_admin_edits_it(alice, admin, db):
    shared = ContactStore(db).add(Contact(company="ACME", numbers=(ContactNumber("5550100"),)))
    assert "ACME" in text(alice.get("/contacts/?book=company"))
    assert alice.get("/contacts/new?book=company").status_code == 403
    assert alice.post(f"/contacts/{shared.id}/delete?book=company").status_code == 403
    assert alice.get("/contacts/import?book=company").status_code == 403
    assert admin.post(f"/contacts/{shared.id}/delete?book=company").status_code == 302


def test_call_logs_show_an_extension_only_its_own_calls(alice, admin, db):
    now = time.time()
    cdrs = CdrStore(db)
    cdrs.insert(CallRecord(call_id="a", start=now, end=now + 1, caller="1001", called="1002", type="internal",
                           status="no answer"))
    cdrs.insert(CallRecord(call_id="b", start=now, end=now + 1, caller="1002", called="5550199", type="outbound",
                           status="no answer"))
    mine = text(alice.get("/calls/"))
    assert "5550199" not in mine and "1 call" in mine
    # Asking for another extension's calls by parameter changes nothing for an extension user.
    assert "5550199" not in text(alice.get("/calls/?extension=1002"))
    assert "2 calls" in text(admin.get("/calls/"))
    assert "1 call" in text(admin.get("/calls/?extension=1001"))


def test_the_status_api_never_tells_an_extension_about_other_peoples_calls(alice, admin, pbx):
    pbx.calls = [{"id": 1, "caller": "1002", "called": "5550199", "final_called": "5550199", "state": "answered"}]
    reply = alice.get("/api/status").get_json()
    assert "calls" not in reply and reply["incoming"] == []
    assert admin.get("/api/status").get_json()["calls"][0]["called"] == "5550199"


def test_an_extension_cannot_hang_up_other_peoples_calls(alice, pbx):
    pbx.calls = [{"id": 9, "caller": "1002", "called": "5550199", "final_called": "5550199", "state": "answered"}]
    alice.post("/dial/hangup", {"call": "9"})
    assert pbx.hung_up == []
