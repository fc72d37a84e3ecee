"""Extensions page and the status poll: live statuses, pbxd down, calls ringing the user."""

from __future__ import annotations

from appliance.store import ExtensionStore
from appliance.store.contacts import Contact, ContactNumber, ContactStore
from tests.unit.webui.conftest import text


def test_the_extensions_page_shows_each_status_with_a_call_button(alice, pbx):
    pbx.states = {"1001": "idle", "1002": "in use"}
    page = text(alice.get("/extensions"))
    assert 'data-number="1002"' in page and "badge-inuse" in page
    assert 'aria-label="Call Bob"' in page and 'aria-label="Call Alice"' not in page  # not oneself


def test_the_status_poll_lists_every_enabled_extension(alice, pbx, db):
    ExtensionStore(db).add("1003", "Carol", "carol-sip-secret", enabled=False)
    pbx.states = {"1001": "ringing", "1002": "unavailable"}
    reply = alice.get("/api/status").get_json()
    assert reply["daemon"] is True
    assert {e["number"]: e["status"] for e in reply["extensions"]} == {"1001": "ringing", "1002": "unavailable"}


def test_admin_sees_disabled_extensions_too(admin, pbx, db):
    ExtensionStore(db).add("1003", "Carol", "carol-sip-secret", enabled=False)
    statuses = {e["number"]: e["status"] for e in admin.get("/api/status").get_json()["extensions"]}
    assert statuses["1003"] == "disabled"


def test_when_pbxd_is_down_statuses_are_unknown_and_the_page_says_why(alice, pbx):
    pbx.running = False
    reply = alice.get("/api/status").get_json()
    assert reply["daemon"] is False and "not running" in reply["message"]
    assert {e["status"] for e in reply["extensions"]} == {"unknown"}
    assert "Live status is not available" in text(alice.get("/extensions"))


def test_calls_ringing_the_user_are_reported_with_the_callers_name(alice, pbx, db):
    ContactStore(db).add(Contact(first_name="Ann", last_name="Lee", numbers=(ContactNumber("5550100"),)))
    pbx.calls = [
        {"id": 1, "caller": "5550100", "called": "1001", "final_called": "1001", "state": "ringing"},
        {"id": 2, "caller": "1002", "called": "1001", "final_called": "1001", "state": "ringing"},
        {"id": 3, "caller": "1002", "called": "1001", "final_called": "1001", "state": "answered"},
        {"id": 4, "caller": "5550111", "called": "1002", "final_called": "1002", "state": "ringing"},
        {"id": 5, "caller": "1001", "called": "1002", "final_called": "1001", "state": "ringing"},
    ]
    incoming = alice.get("/api/status").get_json()["incoming"]
    assert incoming == [{"id": 1, "caller": "5550100", "caller_name": "Ann Lee"},
                        {"id": 2, "caller": "1002", "caller_name": "Bob"}]
