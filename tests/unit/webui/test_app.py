"""Application-wide behaviour: security headers, error pages, static files, navigation hooks."""

from __future__ import annotations

from tests.unit.webui.conftest import text


def test_pages_carry_a_strict_content_security_policy_and_no_hsts(alice):
    response = alice.get("/dial/")
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy and "unsafe-inline" not in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
    assert "Strict-Transport-Security" not in response.headers  # self-signed: keep "proceed anyway" possible


def test_templates_use_no_inline_script(alice, admin):
    for client, url in ((alice, "/dial/"), (alice, "/settings/"), (admin, "/admin/extensions/")):
        page = text(client.get(url))
        assert "<script>" not in page and "onclick=" not in page


def test_static_files_are_served_and_cacheable(client):
    css = client.get("/static/app.css")
    assert css.status_code == 200 and "no-store" not in css.headers.get("Cache-Control", "")
    assert client.get("/static/app.js").status_code == 200


def test_unknown_pages_get_a_friendly_404_and_api_errors_are_json(alice):
    response = alice.get("/no/such/page")
    assert response.status_code == 404 and "404" in text(response) and "Web dial" in text(response)
    response = alice.get("/api/nothing")
    assert response.status_code == 404 and response.get_json()["ok"] is False


def test_the_root_sends_each_role_home(alice, admin, client):
    assert alice.get("/").headers["Location"].endswith("/dial/")
    assert admin.get("/").headers["Location"].endswith("/admin/extensions/")
    assert client.get("/").headers["Location"].endswith("/login")
