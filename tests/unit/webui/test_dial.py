"""Web dial: keypad page, click-to-call through pbxd (the user's own phone first), hang-up."""

from __future__ import annotations

import pytest

from appliance.webui.views.dial import parse_dial_number
from tests.unit.webui.conftest import text


def test_the_dial_page_has_a_keypad_a_number_field_and_a_place_for_the_browser_phone(alice):
    page = text(alice.get("/dial/"))
    assert 'id="dial-number"' in page and page.count('class="key"') == 12
    assert 'id="browser-phone"' in page and "Call from my phone" in page


def test_call_from_my_phone_originates_from_the_users_own_extension(alice, pbx):
    response = alice.post("/dial/call", {"number": "1002"})
    assert response.status_code == 302 and pbx.originated == [("1001", "1002")]
    assert "Your phone is ringing" in text(alice.get(response.headers["Location"]))


def test_separators_are_removed_and_feature_codes_allowed(alice, pbx):
    alice.post("/dial/call", {"number": "+86 (10) 1234-5678"})
    alice.post("/dial/call", {"number": "*61"})
    assert pbx.originated == [("1001", "+861012345678"), ("1001", "*61")]


@pytest.mark.parametrize("typed, message", [
    ("", "Enter a number"),
    ("12ab", "A number may hold digits"),
    ("1" * 33, "A number may hold digits"),
    ("1001", "your own extension"),
])
def test_a_bad_number_is_reported_next_to_the_field_and_kept(alice, pbx, typed, message):
    response = alice.post("/dial/call", {"number": typed})
    assert response.status_code == 400 and message in text(response)
    assert f'value="{typed}"' in text(response) and pbx.originated == []


def test_the_call_button_returns_to_the_page_it_was_pressed_on(alice):
    response = alice.post("/dial/call", {"number": "1002", "back": "/contacts/?book=company"})
    assert response.headers["Location"].endswith("/contacts/?book=company")
    response = alice.post("/dial/call", {"number": "1002", "back": "//evil.example/"})
    assert response.headers["Location"].endswith("/dial/")


def test_when_pbxd_is_down_the_page_says_so_and_still_renders(alice, pbx):
    pbx.running = False
    page = text(alice.get("/dial/"))
    assert "not running" in page and 'id="dial-number"' in page
    response = alice.post("/dial/call", {"number": "1002"})
    assert "Cannot call now" in text(alice.get(response.headers["Location"]))


def test_an_unregistered_phone_gets_a_plain_explanation(alice, pbx):
    pbx.refuse = "extension 1001 has no registered device"
    response = alice.post("/dial/call", {"number": "1002"})
    assert "Your phone is not registered" in text(alice.get(response.headers["Location"]))


def test_my_calls_are_listed_with_a_hang_up_button(alice, pbx):
    pbx.calls = [{"id": 4, "caller": "1001", "called": "1002", "final_called": "1002", "state": "answered"},
                 {"id": 5, "caller": "1002", "called": "5550100", "final_called": "5550100", "state": "ringing"}]
    page = text(alice.get("/dial/"))
    assert 'name="call" value="4"' in page and 'value="5"' not in page
    alice.post("/dial/hangup", {"call": "4"})
    assert pbx.hung_up == [4]


def test_hangup_with_garbage_call_id_is_harmless(alice, pbx):
    assert alice.post("/dial/hangup", {"call": "x"}).status_code == 302 and pbx.hung_up == []


def test_parse_dial_number():
    assert parse_dial_number(" 555-0100 ") == "5550100"
    assert parse_dial_number("#31#") == "#31#"
    with pytest.raises(ValueError):
        parse_dial_number("1+2")
