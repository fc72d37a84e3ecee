"""Every form is protected by a per-session CSRF token; state-changing requests without it are refused."""

from __future__ import annotations

import pytest

from tests.unit.webui.conftest import Client, text

POSTS = [
    ("/login", {"account": "1001", "password": "alice-web-pw"}),
    ("/dial/call", {"number": "1002"}),
    ("/settings/preferences", {"email": "x@example.com"}),
    ("/contacts/new?book=personal", {"first_name": "A", "number_work": "123"}),
]


@pytest.mark.parametrize("url, data", POSTS)
def test_a_post_without_a_token_is_refused(alice, url, data):
    response = alice.post(url, data, csrf=False)
    assert response.status_code == 400 and "stale" in text(response)


@pytest.mark.parametrize("url, data", POSTS)
def test_a_post_with_a_wrong_token_is_refused(alice, url, data):
    assert alice.post(url, data, csrf="x" * 43).status_code == 400


def test_a_token_from_another_session_is_refused(app, alice, bob, pbx):
    response = alice.post("/dial/call", {"number": "1002"}, csrf=bob.csrf_token())
    assert response.status_code == 400 and pbx.originated == []


def test_the_token_may_come_in_a_header_for_scripts(alice, pbx):
    response = alice.flask.post("/dial/call", data={"number": "1002"}, base_url="https://pbx.test",
                                headers={"X-CSRF-Token": alice.csrf_token()})
    assert response.status_code == 302 and pbx.originated == [("1001", "1002")]


def test_logging_in_issues_a_new_token(app):
    client = Client(app)
    before = client.csrf_token()
    client.login("1001")
    assert client.csrf_token() != before


def test_admin_forms_are_protected_too(admin, db):
    from appliance.store import ExtensionStore

    assert admin.post("/admin/extensions/1002/delete", csrf=False).status_code == 400
    assert ExtensionStore(db).find("1002") is not None
    assert admin.post("/admin/portal", {"idle_minutes": "5"}, csrf=False).status_code == 400
