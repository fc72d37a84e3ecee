"""Voicemail in the web UI end to end: the real `appliance web` beside the real pbxd, Debian's headless
Chromium through Playwright, and a pjsua2 phone subscribed to message-summary.

A user plays a message in the browser (the <audio> element really plays the WAV, fetched with range
requests), marks messages, deletes them, and the phone's message lamp follows every change down to 0/0;
a greeting is recorded with Chromium's fake microphone and uploaded as WAV; the administrator creates a
shared mailbox and looks at the notification log. Screenshots go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from appliance.media.wav import read_wav, write_wav_atomic
from appliance.store import ExtensionStore
from appliance.voicemail.outbox import OutboxQueue, QueuedItem
from appliance.voicemail.storage import VoicemailStore
from tests import audio
from tests.integration.test_webui_browser import (  # noqa: F401 - `web` is a fixture used by name
    CHROMIUM,
    CHROMIUM_ARGS,
    enable_portal_user,
    launched_chromium,
    log_in,
    new_page,
    web,
    with_db,
)
from tests.integration.test_webui_browser import shot as full_page_shot

sync_api = pytest.importorskip("playwright.sync_api")

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed"),
]

#: Media may play without a click (the test starts players by script); the fake microphone is a beep.
VOICEMAIL_ARGS = [*CHROMIUM_ARGS, "--autoplay-policy=no-user-gesture-required",
                  "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]


@pytest.fixture
def browser() -> Iterator[Any]:
    with launched_chromium(VOICEMAIL_ARGS) as chromium:
        yield chromium


def shot(page: Any, name: str) -> None:
    page.evaluate("window.scrollTo(0, 0)")  # the sticky top bar stays at the top of a full-page picture
    full_page_shot(page, name)


def deposit(pbx: Any, mailbox: str, caller: str, freq: float, seconds: float, at: float) -> int:
    """A message made of a known tone, stored the way the deposit path stores one."""

    def store(db: Any) -> int:
        vm = VoicemailStore(db, pbx.data / "voicemail", find_extension=ExtensionStore(db).find)
        uid, path = vm.begin_message(mailbox, caller, None, at)
        samples = audio.tone(freq, seconds, rate=8000, amplitude=0.4)
        write_wav_atomic(path, np.round(samples * 32767).astype(np.int16))
        return vm.commit_message(uid, mailbox, seconds).id

    return with_db(pbx, store)


def wait_mwi(phone: Any, new: int, old: int, since: int, timeout: float = 10.0) -> dict:
    def counts(event: dict) -> bool:
        found = re.search(r"Voice-Message:\s*(\d+)/(\d+)", event.get("body", ""))
        return bool(found) and (int(found.group(1)), int(found.group(2))) == (new, old)

    return phone.wait_event("mwi", timeout, since=since, where=counts)


def row(page: Any, message_id: int) -> Any:
    return page.locator(f"#vm-messages tr[data-message='{message_id}']")


def play_to_the_end(page: Any, message_id: int) -> list[str]:
    """Start the row's <audio> and resolve with the media events seen once it has ended."""
    player = row(page, message_id).locator("audio")
    return player.evaluate("""(el) => new Promise((resolve, reject) => {
        const seen = [];
        ["playing", "ended"].forEach((name) => el.addEventListener(name, () => seen.push(name)));
        el.addEventListener("ended", () => resolve(seen));
        el.addEventListener("error", () => reject(new Error("media error " + (el.error && el.error.code))));
        el.play().catch(reject);
    })""")


def test_a_user_plays_marks_and_deletes_voicemail_and_the_lamp_follows(pbx, web, browser, phone_factory, tmp_path):
    enable_portal_user(pbx, "2001", "alice-web-pw")
    first = deposit(pbx, "2001", "2002", 700, 2.0, 1_710_000_000.0)
    second = deposit(pbx, "2001", "5550100", 1200, 1.5, 1_710_000_600.0)
    desk = phone_factory("desk")
    pbx.register(desk, "2001", mwi=True)
    wait_mwi(desk, 2, 0, since=0)

    page = new_page(browser)
    wav_responses: list[tuple[int, str, str]] = []
    page.on("response", lambda r: wav_responses.append((r.status, r.headers.get("content-type", ""),
                                                        r.request.headers.get("range", "")))
            if r.url.endswith(f"/messages/{first}.wav") else None)
    log_in(page, web, "2001", "alice-web-pw")
    page.click("#sidenav a:has-text('Voicemail')")
    page.wait_for_selector("#vm-messages")
    assert page.locator("#vm-counts [data-count='new']").inner_text() == "2"
    shot(page, "30-voicemail")

    # The WAV itself: 200, audio/wav, the tone that was left.
    wav_url = web.url + f"/voicemail/2001/messages/{first}.wav"
    response = page.request.get(wav_url)
    assert response.status == 200 and response.headers["content-type"] == "audio/wav"
    fetched = tmp_path / "fetched.wav"
    fetched.write_bytes(response.body())
    assert audio.has_tone(fetched, 700, 1.8)

    # Playing the first message in the page: it plays to its end, and is marked read on the way.
    mark = len(desk.events())
    assert play_to_the_end(page, first) == ["playing", "ended"]
    # Chromium's media stack asks for ranges; the box answers them with 206.
    assert any(status == 206 and ctype == "audio/wav" and asked.startswith("bytes=")
               for status, ctype, asked in wav_responses), wav_responses
    page.wait_for_selector(f"#vm-messages tr[data-message='{first}'][data-read='1']")
    wait_mwi(desk, 1, 1, since=mark)
    assert page.locator("#vm-counts [data-count='new']").inner_text() == "1"
    shot(page, "31-voicemail-played")

    # "Mark read" on the second: in place, the lamp goes out (0 new, 2 old).
    mark = len(desk.events())
    row(page, second).locator("button:has-text('Mark read')").click()
    page.wait_for_selector(f"#vm-messages tr[data-message='{second}'][data-read='1']")
    wait_mwi(desk, 0, 2, since=mark)
    # ... and "Mark unread" brings it back.
    mark = len(desk.events())
    row(page, second).locator("button:has-text('Mark unread')").click()
    page.wait_for_selector(f"#vm-messages tr[data-message='{second}'][data-read='0']")
    wait_mwi(desk, 1, 1, since=mark)

    # Deleting asks first; each deletion reaches the phone, the last one as 0/0.
    page.on("dialog", lambda dialog: dialog.accept())
    mark = len(desk.events())
    row(page, first).locator("button[aria-label^='Delete']").click()
    page.wait_for_selector("text=Message deleted.")
    wait_mwi(desk, 1, 0, since=mark)
    mark = len(desk.events())
    row(page, second).locator("button[aria-label^='Delete']").click()
    page.wait_for_selector("#messages >> text=No messages.")
    event = wait_mwi(desk, 0, 0, since=mark)
    assert "Messages-Waiting: no" in event["body"]
    assert page.request.get(wav_url).status == 404
    shot(page, "32-voicemail-empty")
    page.context.close()


def test_a_greeting_is_recorded_in_the_browser_and_a_caller_rule_uses_it(pbx, web, browser):
    enable_portal_user(pbx, "2001", "alice-web-pw")
    page = new_page(browser, permissions=["microphone"])
    log_in(page, web, "2001", "alice-web-pw")
    page.goto(web.url + "/voicemail/")
    page.wait_for_selector("#vm-recorder:not([hidden])")
    page.select_option("#f-kind", "custom")
    page.fill("#f-name", "customers")
    page.click("#rec-start")
    page.wait_for_selector(".vm-recorder.recording")
    page.wait_for_function("() => document.getElementById('rec-time').textContent >= '0:03'")
    page.click("#rec-stop")
    page.wait_for_selector("#rec-save:not([hidden])")
    shot(page, "33-voicemail-recorded-greeting")
    page.click("#rec-save")
    page.wait_for_selector("text=Greeting saved")
    greeting = pbx.data / "voicemail" / "2001" / "greeting-customers.wav"
    samples = read_wav(greeting)
    assert 2.5 <= len(samples) / 8000 <= 5.0  # 8 kHz after the browser's own resampling
    assert not audio.is_silent(greeting)  # the fake microphone's beeps are in it

    # The new greeting is offered to caller rules; a rule for a prefix is added with it.
    page.select_option("#f-greeting", "customers")
    page.fill("#f-match_value", "555*")
    page.select_option("#f-email_action", "notice")
    page.click("#form-vm-rule button[type=submit]")
    page.wait_for_selector("text=Caller rule added.")
    assert "a number starting with" in page.locator("#vm-rules").inner_text()

    # A bad upload is refused next to the file field, the choice kept.
    page.select_option("#f-kind", "busy")
    mp3 = {"name": "song.mp3", "mimeType": "audio/mpeg", "buffer": b"ID3" + bytes(64)}
    page.set_input_files("#f-file", files=[mp3])
    page.click("#greeting-form button[type=submit]")
    assert "not a WAV file" in page.locator("#file-error").inner_text()
    assert page.input_value("#f-kind") == "busy"
    shot(page, "34-voicemail-greetings-and-rules")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(web.url + "/voicemail/")
    shot(page, "39-voicemail-phone-sized")
    page.context.close()


def test_the_administrator_creates_a_shared_mailbox_and_reads_the_notification_log(pbx, web, browser):
    deposit(pbx, "2002", "5550100", 900, 1.0, 1_710_000_000.0)

    def queue(db: Any) -> None:
        out = OutboxQueue(db)
        [row_id] = out.insert([QueuedItem(channel="email", message_uid="x", mailbox="2002",
                                          recipient="bob@example.com", attach=True, payload={},
                                          created_at=1_710_000_001.0)])
        db.conn.execute("UPDATE email_queue SET attempts = 2, last_error = 'connection refused' WHERE id = ?",
                        (row_id,))

    with_db(pbx, queue)
    page = new_page(browser)
    log_in(page, web, "admin", web.admin_password)
    page.click("#sidenav a:has-text('Shared mailboxes')")
    page.click("text=New shared mailbox")
    page.fill("#f-number", "7000")
    page.fill("#f-name", "Sales line")
    page.fill("#f-pin", "12")
    page.fill("#f-email", "sales@example.com")
    page.click("#form-mailbox button[type=submit]")
    assert "4 to 8 digits" in page.locator("#pin-error").inner_text()
    assert page.input_value("#f-name") == "Sales line"
    page.fill("#f-pin", "2468")
    page.select_option("#f-language", "zh")
    shot(page, "35-admin-shared-mailbox-form")
    page.click("#form-mailbox button[type=submit]")
    page.wait_for_selector("text=Shared mailbox 7000 created.")
    assert "Sales line" in page.locator("#shared-mailboxes").inner_text()
    assert "1 new" in page.locator("#extension-mailboxes tr[data-number='2002']").inner_text()
    shot(page, "36-admin-mailboxes")

    page.click("#extension-mailboxes tr[data-number='2002'] a:has-text('Open')")
    page.wait_for_selector("#vm-messages")
    assert "5550100" in page.locator("#vm-messages").inner_text()
    shot(page, "37-admin-extension-mailbox")

    page.goto(web.url + "/admin/mailboxes/notifications")
    log_text = page.locator("#notification-log").inner_text()
    assert "connection refused" in log_text and "waiting" in log_text
    page.click("#form-retry button")
    page.wait_for_selector("text=/being tried again now|sends no notifications/")
    shot(page, "38-admin-notification-log")
    page.context.close()
