"""The browser phone end to end: Debian's headless Chromium runs the dial page's JsSIP phone against the real
`appliance web` and pbxd (SIP over WSS, WebRTC media terminated by pbxd) and talks to a pjsua2 desk phone.

Chromium's fake microphone plays a 1000 Hz tone file; the desk phone plays 1600 Hz. Each side's tone is
found in what the other hears: the desk phone's recording, and the page's WebAudio analyser (loudest
frequency of the remote audio). Hold, DTMF and hang-up are exercised from both sides in both directions: each
test places a second, short call on the same page (cheaper than another browser) so that whoever did not hang up
the first call hangs up the second.
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
    CAPTURE_NOTIFICATIONS,
    CHROMIUM,
    CHROMIUM_ARGS,
    WebServer,
    enable_portal_user,
    launched_chromium,
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

pytestmark = pytest.mark.integration


def chromium_args(microphone: Path) -> list[str]:
    """Headless Chromium as in the web UI tests, plus a fake microphone playing `microphone` and loopback ICE."""
    return [
        *CHROMIUM_ARGS,
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
    web = WebServer(pbx.data, pbx.admin_password).start()
    try:
        yield pbx, web
    finally:
        web.stop()


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is missing (scripts/install-system-deps.sh)")
    if not JSSIP.exists():
        pytest.skip("JsSIP is not built (make webassets)")
    microphone = tmp_path / "microphone.wav"
    audio.write_wav(microphone, audio.tone(BROWSER_TONE, 5.0, rate=48000, amplitude=0.3), 48000)
    with launched_chromium(chromium_args(microphone)) as browser:
        yield browser


def open_phone(chromium: Any, web: WebServer) -> Any:
    page = new_page(chromium, permissions=["notifications", "microphone"])
    page.add_init_script(CAPTURE_NOTIFICATIONS)
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

    # A second call from the browser, which the desk phone ends: the browser sees the call end.
    page.fill("#dial-number", "2002")
    page.click("#call-from-browser")
    call = bob.wait_incoming(15)
    call.answer()
    call.wait_confirmed(10)
    call.play_tone(PHONE_TONE)
    page.wait_for_function("() => window.browserPhone.state().inCall", timeout=10_000)
    wait_heard(page, PHONE_TONE)
    call.hangup()
    page.wait_for_function(
        "() => window.browserPhone.events.some(e => e.type === 'ended' && e.originator === 'remote')",
        timeout=10_000)
    assert not page.evaluate("window.browserPhone.state().inCall")
    assert "Call ended" in page.inner_text("#browser-phone")
    assert [c["status"] for c in pbx.wait_cdrs(2)] == ["answered", "answered"]
    page.context.close()


def test_a_desk_phone_calls_the_browser_holds_and_hangs_up_then_the_browser_hangs_up_a_second_call(
        box, chromium, phone_factory, tmp_path):
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

    # Hold from the browser on this call too.
    page.click("#bp-hold")
    page.wait_for_function("() => window.browserPhone.state().held", timeout=5_000)
    time.sleep(0.5)
    assert not audio.has_tone(phone_hears(call, tmp_path / "bob-held.wav"), BROWSER_TONE, 0.3)
    page.click("#bp-hold")
    page.wait_for_function("() => !window.browserPhone.state().held", timeout=5_000)

    # The desk phone holds: the browser hears music on hold instead of 1600 Hz, then the tone again.
    call.hold()
    call.wait_media("local_hold", 5)
    time.sleep(0.5)
    held = heard_for(page, 1.5)
    assert near(held, PHONE_TONE) < 0.2 and np.mean([hz > 0 for hz in held]) > 0.5, held
    call.unhold()
    call.wait_media("active", 5)
    wait_heard(page, PHONE_TONE)
    assert audio.has_tone(phone_hears(call, tmp_path / "bob-resumed.wav"), BROWSER_TONE, 1.0)

    # The phone hangs up.
    call.hangup()
    page.wait_for_function(
        "() => window.browserPhone.events.some(e => e.type === 'ended' && e.originator === 'remote')",
        timeout=10_000)
    assert not page.evaluate("window.browserPhone.state().inCall")
    assert "Call ended" in page.inner_text("#browser-phone")

    # A second call from the desk phone, which the browser answers and ends: the phone sees the BYE.
    call = bob.call(pbx.uri("2001"))
    page.wait_for_selector("#bp-incoming:not([hidden])", timeout=15_000)
    page.click("#bp-answer")
    call.wait_confirmed(10)
    call.play_tone(PHONE_TONE)
    wait_heard(page, PHONE_TONE)
    page.click("#bp-hangup")
    call.wait_disconnected(10)
    page.wait_for_function("() => !window.browserPhone.state().inCall", timeout=5_000)
    assert any(e["originator"] == "local" for e in browser_events(page, "ended"))
    cdrs = pbx.wait_cdrs(2)
    assert [(c["caller"], c["called"], c["status"]) for c in cdrs] == [("2002", "2001", "answered")] * 2
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


# -- without a browser: a scripted WebRTC client over plain WS with the SIP secret ------------------------------
# The same legs, the WS (not WSS) listener and the digest path with the extension's SIP secret, driven by a small
# SIP client written here (websockets + aiortc), so that the browser legs are covered where Chromium is not.


class ScriptedBrowser:
    """Just enough of a WebRTC SIP client: REGISTER/INVITE with digest, ACK, re-INVITE, BYE; a tone out."""

    def __init__(self, pbx: Any, number: str, tone: float) -> None:
        from aiortc import RTCConfiguration, RTCPeerConnection

        from appliance.media.webrtc import set_ice_addresses

        set_ice_addresses(["127.0.0.1"])  # this test process's aioice too: loopback candidates only
        self.pbx, self.number, self.realm = pbx, number, pbx.realm
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.tone = tone
        self.heard: list[np.ndarray] = []
        self.inbox: Any = None
        self.requests: list[Any] = []
        self.cseq = 0
        self.branch = ""
        self.pc.on("track", self._on_track)

    def _on_track(self, track: Any) -> None:
        import asyncio

        from aiortc.mediastreams import MediaStreamError

        async def read() -> None:
            while True:
                try:
                    frame = await track.recv()
                except MediaStreamError:  # the track ended with the call
                    return
                samples = frame.to_ndarray().reshape(-1)
                self.heard.append(samples[::2] if frame.layout.name == "stereo" else samples)
        asyncio.ensure_future(read())

    def loudest(self, seconds: float = 1.0) -> float:
        pcm = np.concatenate(self.heard[-int(seconds * 50):]).astype(float)
        return float(np.argmax(np.abs(np.fft.rfft(pcm * np.hanning(len(pcm))))) * 48000 / len(pcm))

    async def open(self) -> None:
        import asyncio

        from websockets.asyncio.client import connect

        self.ws = await connect(f"ws://127.0.0.1:{self.pbx.ws_port}/", subprotocols=["sip"])
        self.inbox = asyncio.Queue()
        self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        from tests.sip_client import parse_message

        async for data in self.ws:
            message = parse_message(data.encode() if isinstance(data, str) else data)
            if message.is_request:
                self.requests.append(message)
                if message.method not in ("ACK", "INVITE"):  # an INVITE is answered by the test
                    await self.reply(message, 200)
            else:
                await self.inbox.put(message)

    async def reply(self, request: Any, status: int, body: str = "") -> None:
        heads = [f"{n}: {v}" for n, v in request.headers if n.lower() in ("via", "from", "call-id", "cseq")]
        to = request.header("To")
        heads.append(f"To: {to}" if ";tag=" in to else f"To: {to};tag=b1")
        if body:
            heads += [f"Contact: <sip:{self.number}@b.invalid;transport=ws>", "Content-Type: application/sdp"]
        await self.ws.send("\r\n".join([f"SIP/2.0 {status} OK", *heads, f"Content-Length: {len(body)}", "", ""])
                           + body)

    async def send(self, method: str, uri: str, headers: list[tuple[str, str]], body: str = "",
                   ack_of: tuple[int, str] | None = None) -> None:
        """Send a request; `ack_of` (CSeq number, branch) makes it the ACK of that INVITE (RFC 3261 §17.1.1.3)."""
        import secrets

        if ack_of is None:
            self.cseq += 1
            number, self.branch = self.cseq, f"z9hG4bK{secrets.token_hex(6)}"
        else:
            number, _ = ack_of
        branch = ack_of[1] if ack_of else self.branch
        lines = [f"{method} {uri} SIP/2.0", f"Via: SIP/2.0/WS b.invalid;branch={branch}",
                 "Max-Forwards: 70", *(f"{n}: {v}" for n, v in headers),
                 f"CSeq: {number} {method}", f"Contact: <sip:{self.number}@b.invalid;transport=ws>"]
        if body:
            lines.append("Content-Type: application/sdp")
        await self.ws.send("\r\n".join([*lines, f"Content-Length: {len(body.encode())}", "", ""]) + body)

    async def response(self, *, final: bool = True) -> Any:
        import asyncio

        while True:
            message = await asyncio.wait_for(self.inbox.get(), 15)
            if not final or message.status >= 200:
                return message

    async def authenticated(self, method: str, uri: str, headers: list[tuple[str, str]], body: str = "") -> Any:
        """Send, answer a 401/407 with the SIP secret (ACKing a challenged INVITE), return the final response."""
        from tests.sip_client import authorization

        await self.send(method, uri, headers, body)
        challenge = await self.response()
        if challenge.status not in (401, 407):
            return challenge
        if method == "INVITE":
            acked = [(n, challenge.header("To") if n == "To" else v) for n, v in headers]
            await self.send("ACK", uri, acked, ack_of=(self.cseq, self.branch))
        name = "WWW-Authenticate" if challenge.status == 401 else "Proxy-Authenticate"
        [offer] = challenge.header_all(name)  # MD5 only on WebSocket flows (D-webrtc-2)
        field = "Authorization" if challenge.status == 401 else "Proxy-Authorization"
        credentials = authorization(offer, method, uri, self.number, self.pbx.secrets[self.number])
        await self.send(method, uri, [*headers, (field, credentials)], body)
        return await self.response()

    async def register(self) -> None:
        me = f"<sip:{self.number}@{self.realm}>"
        ok = await self.authenticated("REGISTER", f"sip:{self.realm}",
                                      [("From", f"{me};tag=r1"), ("To", me), ("Call-ID", "reg-scripted"),
                                       ("Expires", "300")])
        assert ok.status == 200, ok.first_line

    async def close(self) -> None:
        from appliance.media.webrtc import set_ice_addresses

        await self.pc.close()
        await self.ws.close()
        self._reader.cancel()
        set_ice_addresses(None)


def _scripted(pbx_factory: Any) -> Any:
    pbx = pbx_factory()
    pbx.ws_port = free_port(socket.SOCK_STREAM, ())
    pbx.set_setting("sip_ws_port", pbx.ws_port)
    pbx.set_setting("sip_wss_port", 0)
    return pbx.start()


def test_a_scripted_webrtc_client_calls_a_desk_phone_holds_and_hangs_up(pbx_factory, phone_factory, tmp_path):
    import asyncio

    from aiortc import RTCSessionDescription

    from tests.unit.media.test_webrtc import Tone

    pbx = _scripted(pbx_factory)
    bob = phone_factory("bob")
    pbx.register(bob, "2002")

    async def scenario() -> None:
        client = ScriptedBrowser(pbx, "2001", BROWSER_TONE)
        await client.open()
        try:
            await client.register()
            transceiver = client.pc.addTransceiver(Tone(BROWSER_TONE), direction="sendrecv")
            await client.pc.setLocalDescription(await client.pc.createOffer())
            target = f"sip:2002@{pbx.realm}"
            dialog = [("From", f"<sip:2001@{pbx.realm}>;tag=c1"), ("To", f"<{target}>"), ("Call-ID", "scripted-1")]
            invite = asyncio.ensure_future(client.authenticated("INVITE", target, dialog,
                                                                client.pc.localDescription.sdp))
            call = await asyncio.to_thread(bob.wait_incoming, 10)
            call.answer()
            call.play_tone(PHONE_TONE)
            ok = await invite
            assert ok.status == 200 and "UDP/TLS/RTP/SAVPF" in ok.body.decode()
            await client.pc.setRemoteDescription(RTCSessionDescription(ok.body.decode(), "answer"))
            contact = ok.header("Contact").strip("<>").split(">")[0]
            dialog[1] = ("To", ok.header("To"))
            await client.send("ACK", contact, dialog, ack_of=(client.cseq, "z9hG4bKack1"))
            await asyncio.sleep(2.0)
            assert abs(client.loudest() - PHONE_TONE) < 20
            heard = await asyncio.to_thread(phone_hears, call, tmp_path / "bob.wav")
            assert audio.has_tone(heard, BROWSER_TONE, 1.0)

            # Hold: a re-INVITE with a=sendonly is answered (recvonly) and the phone gets music instead.
            transceiver.direction = "sendonly"
            await client.pc.setLocalDescription(await client.pc.createOffer())
            await client.send("INVITE", contact, dialog, client.pc.localDescription.sdp)
            held = await client.response()
            assert held.status == 200 and "a=recvonly" in held.body.decode()
            await client.pc.setRemoteDescription(RTCSessionDescription(held.body.decode(), "answer"))
            await client.send("ACK", contact, dialog, ack_of=(client.cseq, "z9hG4bKack2"))
            await asyncio.sleep(0.5)
            on_hold = await asyncio.to_thread(phone_hears, call, tmp_path / "bob-held.wav")
            assert not audio.has_tone(on_hold, BROWSER_TONE, 0.3) and not audio.is_silent(on_hold)
            transceiver.direction = "sendrecv"
            await client.pc.setLocalDescription(await client.pc.createOffer())
            await client.send("INVITE", contact, dialog, client.pc.localDescription.sdp)
            resumed = await client.response()
            assert resumed.status == 200 and "a=sendrecv" in resumed.body.decode()
            await client.pc.setRemoteDescription(RTCSessionDescription(resumed.body.decode(), "answer"))
            await client.send("ACK", contact, dialog, ack_of=(client.cseq, "z9hG4bKack3"))
            await asyncio.sleep(0.5)
            again = await asyncio.to_thread(phone_hears, call, tmp_path / "bob-resumed.wav")
            assert audio.has_tone(again, BROWSER_TONE, 1.0)

            # The phone's RFC 4733 digit reaches the client as SIP INFO; then the client hangs up.
            call.send_dtmf("8")
            for _ in range(100):
                if any(r.method == "INFO" for r in client.requests):
                    break
                await asyncio.sleep(0.05)
            [info] = [r for r in client.requests if r.method == "INFO"]
            assert b"Signal=8" in info.body
            await client.send("BYE", contact, dialog)
            assert (await client.response()).status == 200
            await asyncio.to_thread(call.wait_disconnected, 10)
        finally:
            await client.close()

    asyncio.run(scenario())


def test_a_desk_phone_calls_a_scripted_webrtc_client_which_answers(pbx_factory, phone_factory, tmp_path):
    import asyncio

    from aiortc import RTCSessionDescription

    from tests.unit.media.test_webrtc import Tone

    pbx = _scripted(pbx_factory)
    bob = phone_factory("bob")
    pbx.register(bob, "2002")

    async def scenario() -> None:
        client = ScriptedBrowser(pbx, "2001", BROWSER_TONE)
        await client.open()
        try:
            await client.register()
            client.requests.clear()
            call = bob.call(pbx.uri("2001"))
            for _ in range(200):
                invites = [r for r in client.requests if r.method == "INVITE"]
                if invites:
                    break
                await asyncio.sleep(0.05)
            [invite] = invites
            assert "UDP/TLS/RTP/SAVPF" in invite.body.decode() and "a=fingerprint:" in invite.body.decode()
            await client.pc.setRemoteDescription(RTCSessionDescription(invite.body.decode(), "offer"))
            client.pc.addTrack(Tone(BROWSER_TONE))
            await client.pc.setLocalDescription(await client.pc.createAnswer())
            await client.reply(invite, 200, client.pc.localDescription.sdp)
            await asyncio.to_thread(call.wait_confirmed, 10)
            call.play_tone(PHONE_TONE)
            await asyncio.sleep(2.0)
            assert abs(client.loudest() - PHONE_TONE) < 20
            heard = await asyncio.to_thread(phone_hears, call, tmp_path / "bob.wav")
            assert audio.has_tone(heard, BROWSER_TONE, 1.0)
            call.hangup()
            for _ in range(100):
                if any(r.method == "BYE" for r in client.requests):
                    break
                await asyncio.sleep(0.05)
            assert any(r.method == "BYE" for r in client.requests)
        finally:
            await client.close()

    asyncio.run(scenario())
