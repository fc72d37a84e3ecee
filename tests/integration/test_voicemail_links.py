"""Voicemail e-mail action links with the real daemon: the portal (Flask app on the daemon's data directory,
the real control-socket client) marks a message read and deletes it through the links, and the message lamp
of a subscribed pjsua2 phone follows each step; opening a link changes nothing."""

from __future__ import annotations

import re
import time

import pytest

from appliance.store import open_database
from appliance.voicemail import links
from appliance.webui import create_app
from tests.integration.test_voicemail import messages, wait_mwi
from tests.integration.test_voicemail_expiry import drop_in_message

pytestmark = pytest.mark.integration

BASE = "https://pbx.test"


def press(client, path: str):
    """Open the link, then press the page's button (its form carries the CSRF token)."""
    page = client.get(path, base_url=BASE).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    return client.post(path, data={"csrf_token": token}, base_url=BASE)


def test_email_links_mark_read_and_delete_and_the_lamp_follows(pbx, phone_factory):
    bob = phone_factory("bob")
    pbx.register(bob, "2002", mwi=True)
    wait_mwi(bob, 0, 0)
    uid = drop_in_message(pbx, "2002", "2001")
    pbx.control("voicemail_changed", mailbox="2002")
    wait_mwi(bob, 1, 0)

    db = open_database(pbx.data / "pbx.sqlite3")
    try:
        key, _ = links.ensure_key(db)
    finally:
        db.conn.close()
    made = links.ActionLinks(BASE, key).for_message(uid, time.time())
    paths = {action: url.removeprefix(BASE) for action, url in made.items()}
    client = create_app({"DATA_DIR": str(pbx.data), "TESTING": True}).test_client()

    assert client.get(paths["delete"], base_url=BASE).status_code == 200  # a mail scanner opening the link
    time.sleep(0.5)
    wait_mwi(bob, 1, 0)
    assert [m["folder"] for m in messages(pbx, "2002")] == ["new"]
    assert press(client, paths["read"]).status_code == 200
    assert "Messages-Waiting: no" in wait_mwi(bob, 0, 1)["body"]
    assert press(client, paths["delete"]).status_code == 200
    wait_mwi(bob, 0, 0)
    assert messages(pbx, "2002") == []
