"""The browser phone end to end: Debian's headless Chromium runs the dial page's JsSIP phone against the real
`appliance web` and pbxd (SIP over WSS, WebRTC media terminated by pbxd) and talks to a pjsua2 desk phone.

Chromium's fake microphone plays a 1000 Hz tone file; the desk phone plays 1600 Hz. Each side's tone is
found in what the other hears: the desk phone's recording, and the page's WebAudio analyser (loudest
frequency of the remote audio). Hold, DTMF and hang-up are exercised from both sides.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests import audio
from tests.integration.pbx import free_port
from tests.integration.test_webui_browser import (
    CHROMIUM,
    WebServer,
    enable_portal_user,
    log_in,
    new_page,
    shot,
)
from tests.phones import PhoneCall

sync_api = pytest.importorskip("playwright.sync_api")
pytest.importorskip("aiortc")

ROOT = Path(__file__).resolve().parents[2]
JSSIP = ROOT / "appliance" / "webui" / "static" / "vendor" / "jssip.min.js"
BROWSER_TONE = 1000
PHONE_TONE = 1600

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is missing (scripts/install-system-deps.sh)"),
    pytest.mark.skipif(not JSSIP.exists(), reason="JsSIP is not built (make webassets)"),
]


def chromium_args(microphone: Path) -> list[str]:
    """Headless Chromium as in the web UI tests, plus a fake microphone playing `microphone` and loopback ICE."""
    return [
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync",
        "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-audio-capture={microphone}",
        "--allow-loopback-in-peer-connection", "--disable-features=WebRtcHideLocalIpsWithMdns",
        "--autoplay-policy=no-user-gesture-required",
    ]


@pytest.fixture
def box(pbx_factory) -> Iterator[Any]:
    """pbxd with SIP over WSS on a free port (WS off) and the web UI beside it; 2001 may use the portal."""
    pbx = pbx_factory()
    pbx.wss_port = free_port(socket.SOCK_STREAM, ())
    pbx.set_setting("sip_wss_port", pbx.wss_port)
    pbx.set_setting("sip_ws_port", 0)
    pbx.start()
    enable_portal_user(pbx, "2001", "alice-web-pw")
    web = WebServer(pbx.data).start()
    try:
        yield pbx, web
    finally:
        web.stop()


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator[Any]:
    microphone = tmp_path / "microphone.wav"
    audio.write_wav(microphone, audio.tone(BROWSER_TONE, 5.0, rate=48000, amplitude=0.3), 48000)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=chromium_args(microphone))
        try:
            yield browser
        finally:
            browser.close()


def open_phone(chromium: Any, web: WebServer) -> Any:
    page = new_page(chromium, permissions=["notifications", "microphone"])
    page.add_init_script("""
        window.__notes = [];
        window.Notification = class {
            constructor(title, options) { window.__notes.push({title, body: (options || {}).body}); }
            close() {}
            static get permission() { return "granted"; }
            static requestPermission() { return Promise.resolve("granted"); }
        };
    """)
    console: list[str] = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: console.append(f"page error: {error}"))
    log_in(page, web, "2001", "alice-web-pw")
    page.goto(web.url + "/dial/")
    try:
        page.wait_for_function("() => window.browserPhone && window.browserPhone.state().registered",
                               timeout=20_000)
    except sync_api.TimeoutError:
        raise AssertionError(f"the browser phone did not register: {page.inner_text('#browser-phone')!r}\n"
                             + "\n".join(console[-30:])) from None
    return page


def wait_heard(page: Any, hz: float, seconds: float = 10.0, tolerance: float = 15.0) -> None:
    """Until the loudest frequency of what the page hears is `hz` (and loud enough to be audio)."""
    page.wait_for_function(
        f"() => {{ const h = window.browserPhone.heard(); return Math.abs(h.hz - {hz}) < {tolerance} && h.db > -70; }}",
        timeout=int(seconds * 1000))


def heard_for(page: Any, seconds: float) -> list[float]:
    """The loudest frequency the page hears, sampled every 100 ms for `seconds`."""
    samples = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        h = page.evaluate("window.browserPhone.heard()")
        samples.append(h["hz"] if h["db"] > -70 else 0.0)
        time.sleep(0.1)
    return samples


def near(samples: list[float], hz: float, tolerance: float = 15.0) -> float:
    return float(np.mean([abs(s - hz) < tolerance for s in samples])) if samples else 0.0


def phone_hears(call: PhoneCall, path: Path, seconds: float = 1.5) -> Path:
    call.record(path)
    time.sleep(seconds)
    return call.stop_recording()


def browser_events(page: Any, kind: str) -> list[dict[str, Any]]:
    return [e for e in page.evaluate("window.browserPhone.events") if e.get("type") == kind]


def test_the_browser_calls_a_desk_phone_audio_dtmf_and_hold_both_ways_then_hangs_up(box, chromium, phone_factory,
                                                                                     tmp_path):
    pbx, web = box
    bob = phone_factory("bob")
    pbx.register(bob, "2002")
    page = open_phone(chromium, web)
    registrations = pbx.control("status")["registrations"]
    assert any(r["extension"] == "2001" and r["source"].startswith("wss:") for r in registrations)
    shot(page, "50-browser-phone-ready")

    page.fill("#dial-number", "2002")
    page.click("#call-from-browser")
    call = bob.wait_incoming(15)
    assert "2001" in call.remote_uri
    # While the phone rings, the box answers the browser early (183) and plays ringback (US: 440+480 Hz).
    call.ringing()
    page.wait_for_function("() => { const h = window.browserPhone.heard(); return h.hz > 430 && h.hz < 490"
                           " && h.db > -70; }", timeout=10_000)
    call.answer()
    call.wait_confirmed(10)
    call.play_tone(PHONE_TONE)
    page.wait_for_function("() => window.browserPhone.state().inCall", timeout=10_000)

    # Audio both ways: the browser's microphone tone at the phone, the phone's tone in the page.
    assert audio.has_tone(phone_hears(call, tmp_path / "bob-1.wav"), BROWSER_TONE, 1.0)
    wait_heard(page, PHONE_TONE)
    shot(page, "51-browser-phone-in-call")

    # DTMF from the browser, as RFC 4733 in the media and as SIP INFO; from the phone to the browser.
    assert page.evaluate("window.browserPhone.dtmf('5', 'RFC2833')")
    assert call.wait_dtmf(1, 5) == "5"
    assert page.evaluate("window.browserPhone.dtmf('7', 'INFO')")
    assert call.wait_dtmf(1, 5) == "7"
    call.send_dtmf("9")
    page.wait_for_function(
        "() => window.browserPhone.events.some(e => e.type === 'dtmf' && e.originator === 'remote' && e.tone === '9')",
        timeout=5_000)

    # The browser holds: the phone stops hearing its tone (music on hold instead), then hears it again.
    page.click("#bp-hold")
    page.wait_for_function("() => window.browserPhone.state().held", timeout=5_000)
    time.sleep(0.5)
    held = phone_hears(call, tmp_path / "bob-held.wav")
    assert not audio.has_tone(held, BROWSER_TONE, 0.3) and not audio.is_silent(held)
    page.click("#bp-hold")
    time.sleep(0.5)
    assert audio.has_tone(phone_hears(call, tmp_path / "bob-2.wav"), BROWSER_TONE, 1.0)

    # The phone holds: the browser stops hearing 1600 Hz, then hears it again.
    call.hold()
    call.wait_media("local_hold", 5)
    time.sleep(0.5)
    assert near(heard_for(page, 1.5), PHONE_TONE) < 0.2
    call.unhold()
    call.wait_media("active", 5)
    wait_heard(page, PHONE_TONE)

    # Hang-up from the browser.
    page.click("#bp-hangup")
    call.wait_disconnected(10)
    page.wait_for_function("() => !window.browserPhone.state().inCall", timeout=5_000)
    [cdr] = pbx.wait_cdrs(1)
    assert (cdr["caller"], cdr["called"], cdr["status"]) == ("2001", "2002", "answered")
    page.context.close()


def test_a_desk_phone_calls_the_browser_which_answers_and_the_phone_hangs_up(box, chromium, phone_factory, tmp_path):
    pbx, web = box
    bob = phone_factory("bob")
    pbx.register(bob, "2002")
    page = open_phone(chromium, web)

    call = bob.call(pbx.uri("2001"))
    page.wait_for_selector("#bp-incoming:not([hidden])", timeout=15_000)
    assert "2002" in page.inner_text("#bp-caller")
    page.wait_for_function("() => window.__notes.some(n => n.title === 'Incoming call')", timeout=5_000)
    shot(page, "52-browser-phone-incoming")
    page.click("#bp-answer")
    call.wait_confirmed(10)
    call.play_tone(PHONE_TONE)
    wait_heard(page, PHONE_TONE)
    assert audio.has_tone(phone_hears(call, tmp_path / "bob.wav"), BROWSER_TONE, 1.0)

    # DTMF both ways on a call the browser answered (pbxd made the offer here).
    call.send_dtmf("4")
    page.wait_for_function(
        "() => window.browserPhone.events.some(e => e.type === 'dtmf' && e.originator === 'remote' && e.tone === '4')",
        timeout=5_000)
    assert page.evaluate("window.browserPhone.dtmf('6', 'RFC2833')")
    assert call.wait_dtmf(1, 5) == "6"

    # Hold from the browser on this call too, then the phone hangs up.
    page.click("#bp-hold")
    page.wait_for_function("() => window.browserPhone.state().held", timeout=5_000)
    time.sleep(0.5)
    assert not audio.has_tone(phone_hears(call, tmp_path / "bob-held.wav"), BROWSER_TONE, 0.3)
    page.click("#bp-hold")

    call.hangup()
    page.wait_for_function(
        "() => window.browserPhone.events.some(e => e.type === 'ended' && e.originator === 'remote')",
        timeout=10_000)
    assert not page.evaluate("window.browserPhone.state().inCall")
    assert "Call ended" in page.inner_text("#browser-phone")
    page.context.close()


def test_a_browser_that_rejects_leaves_the_caller_with_a_busy_or_declined_answer(box, chromium, phone_factory):
    pbx, web = box
    pbx.set_extension("2001", voicemail_enabled=False)  # else a declined call goes to the mailbox
    bob = phone_factory("bob")
    pbx.register(bob, "2002")
    page = open_phone(chromium, web)
    call = bob.call(pbx.uri("2001"))
    page.wait_for_selector("#bp-incoming:not([hidden])", timeout=15_000)
    page.click("#bp-reject")
    call.wait_disconnected(10)
    assert call.last_status_code >= 400
    page.context.close()
