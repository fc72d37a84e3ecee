"""`python -m bench.webrtc`: the browser phone on loopback — time from answer to first audio in the browser,
and pbxd's CPU per browser call.

Real pieces throughout: pbxd with SIP over WSS, `appliance web`, Debian's headless Chromium running the dial
page's JsSIP phone (fake microphone: a tone file), pjsua2 desk phones. pbxd logs at INFO (DEBUG costs CPU).

Time to first audio: the page gets its own analyser on the remote stream (1024-point FFT, no smoothing,
polled every 2 ms) and notes when the desk phone's 1600 Hz tone becomes the loudest sound; the answer is
JsSIP's "accepted" event (browser calls the phone) or the click on Answer (the phone calls the browser).
Three cases: the phone answers at once (ICE and DTLS start with the 200 OK), the phone rings first (pbxd
answers the browser early with 183 + ringback, so ICE/DTLS are done at answer), and the browser answers a
call from the phone (pbxd made the offer). The detector's window adds up to ~20 ms; the phone→browser case
also includes the desk phone's own reaction (its tone starts when it sees the call confirmed). Goal < 1 s.

CPU: pbxd's user+system time over a 10 s window (/proc), idle with every phone registered, then with one
desk-phone-to-desk-phone call (the reference: relayed without decoding), one browser call, and four browser
calls at once; per-call figures are above idle, with the ratio to the reference call. Not a pass/fail test.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import socket
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench.harness import sample_tree

ROUNDS = int(os.environ.get("BENCH_WEBRTC_ROUNDS", "5"))
WINDOW = float(os.environ.get("BENCH_WEBRTC_WINDOW", "10"))
BROWSERS = ("2001", "2002", "2003", "2004")
DESK, DESK_A, DESK_B = "2010", "2011", "2012"
PHONE_TONE = 1600

WATCH = """(hz) => {
  window.__firstHeard = null;
  const out = document.getElementById('bp-audio');
  const ctx = new AudioContext();
  let analyser = null, bins = null;
  const timer = setInterval(() => {
    if (!analyser && out.srcObject) {
      analyser = ctx.createAnalyser();
      analyser.fftSize = 1024;
      analyser.smoothingTimeConstant = 0;
      ctx.createMediaStreamSource(out.srcObject).connect(analyser);
      bins = new Float32Array(analyser.frequencyBinCount);
    }
    if (!analyser) return;
    analyser.getFloatFrequencyData(bins);
    let peak = 1;
    for (let i = 2; i < bins.length; i++) if (bins[i] > bins[peak]) peak = i;
    const want = Math.round(hz * analyser.fftSize / ctx.sampleRate);
    if (Math.abs(peak - want) <= 1 && bins[peak] > -60) {
      window.__firstHeard = Date.now();
      clearInterval(timer);
      ctx.close();
    }
  }, 2);
}"""


def _accepted_at(page: Any) -> float:
    events = [e for e in page.evaluate("window.browserPhone.events") if e.get("type") == "accepted"]
    return float(events[-1]["at"])


def _first_heard(page: Any, timeout: float = 10.0) -> float:
    page.wait_for_function("() => window.__firstHeard !== null", timeout=int(timeout * 1000))
    return float(page.evaluate("window.__firstHeard"))


def _hang_up(page: Any, call: Any) -> None:
    page.evaluate("window.browserPhone.hangup()")
    call.wait_disconnected(10)
    page.wait_for_function("() => !window.browserPhone.state().inCall", timeout=10_000)
    time.sleep(0.3)


def browser_calls_phone(page: Any, phone: Any, ring_first: bool) -> float:
    page.evaluate(WATCH, PHONE_TONE)
    page.evaluate(f"window.browserPhone.call('{DESK}')")
    call = phone.wait_incoming(10)
    if ring_first:
        call.ringing()
        time.sleep(1.5)
    call.answer()
    call.play_tone(PHONE_TONE)
    heard = _first_heard(page)
    delay = heard - _accepted_at(page)
    _hang_up(page, call)
    return delay


def phone_calls_browser(page: Any, phone: Any, uri: str) -> float:
    call = phone.call(uri)
    page.wait_for_function("() => window.browserPhone.state().incoming", timeout=10_000)
    page.evaluate(WATCH, PHONE_TONE)
    answered = float(page.evaluate("(() => { const at = Date.now(); window.browserPhone.answer(); return at; })()"))
    call.wait_confirmed(10)
    call.play_tone(PHONE_TONE)
    delay = _first_heard(page) - answered
    _hang_up(page, call)
    return delay


def cpu_window(pbx: Any, seconds: float) -> float:
    a = sample_tree(pbx.proc.pid)  # pbxd and its relay workers: a relayed call's packets are the worker's
    time.sleep(seconds)
    b = sample_tree(pbx.proc.pid)
    return 100.0 * (b.cpu_seconds - a.cpu_seconds) / (b.at - a.at)


def unavailable() -> str | None:
    """Why this benchmark cannot run on this host, or None. Checked before anything starts, so that
    `python -m bench` skips it with the reason instead of failing halfway (or on the tests' import-time
    `pytest.importorskip`, which raises a BaseException outside pytest)."""
    try:
        importlib.import_module("playwright.sync_api")
    except ImportError:
        return "Playwright is not installed (pip install -e '.[test]')"
    from tests.integration.test_webui_browser import CHROMIUM  # noqa: PLC0415

    if not CHROMIUM.exists():
        return f"Debian's Chromium is not installed at {CHROMIUM} (scripts/install-system-deps.sh)"
    try:
        importlib.import_module("aiortc")
    except ImportError:
        return "aiortc is not installed: pbxd cannot terminate WebRTC media (pip install -e '.[test]')"
    if importlib.util.find_spec("pjsua2") is None:
        return "pjsua2 is not installed: no desk phone to call (scripts/install-system-deps.sh)"
    from appliance.webui.views.dial import JSSIP_BUNDLE  # noqa: PLC0415

    if not JSSIP_BUNDLE.is_file():
        return "JsSIP is not built: the dial page has no browser phone (make webassets)"
    return None


def main() -> None:
    reason = unavailable()
    if reason is not None:
        print(f"skipped: {reason}")
        return
    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    from tests import audio  # noqa: PLC0415
    from tests.integration.conftest import Pbx  # noqa: PLC0415
    from tests.integration.pbx import free_port  # noqa: PLC0415
    from tests.integration.test_browser_phone import chromium_args  # noqa: PLC0415
    from tests.integration.test_webui_browser import (  # noqa: PLC0415
        CHROMIUM,
        WebServer,
        enable_portal_user,
        log_in,
        new_page,
    )
    from tests.phones import Phone  # noqa: PLC0415

    work = Path(tempfile.mkdtemp(prefix="bench-webrtc-"))
    pbx = Pbx(work / "data")
    for number in (*BROWSERS, DESK, DESK_A, DESK_B):
        pbx.add_extension(number)
    pbx.set_setting("sip_wss_port", free_port(socket.SOCK_STREAM, ()))
    pbx.set_setting("sip_ws_port", 0)
    microphone = audio.write_wav(work / "microphone.wav", audio.tone(1000, 5.0, rate=48000, amplitude=0.3), 48000)
    with ExitStack() as stack:
        pbx.start(extra=("--log-level", "INFO"))
        stack.callback(pbx.stop)
        for number in BROWSERS:
            enable_portal_user(pbx, number, f"web-{number}-pw")
        web = WebServer(pbx.data).start()
        stack.callback(web.stop)
        desk, desk_a, desk_b = (Phone.start(name, log_dir=work / "phones") for name in ("desk", "desk-a", "desk-b"))
        for phone, number in ((desk, DESK), (desk_a, DESK_A), (desk_b, DESK_B)):
            stack.callback(phone.close)
            pbx.register(phone, number)
        playwright = stack.enter_context(sync_playwright())
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=chromium_args(microphone))
        stack.callback(chromium.close)
        pages = []
        for number in BROWSERS:
            page = new_page(chromium, permissions=["notifications", "microphone"])
            log_in(page, web, number, f"web-{number}-pw")
            page.goto(web.url + "/dial/")
            page.wait_for_function("() => window.browserPhone && window.browserPhone.state().registered",
                                   timeout=20_000)
            pages.append(page)

        print(f"host: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start")
        print(f"answer -> first audio in the browser (ms over {ROUNDS} calls each; goal < 1000 ms):")
        cases = [
            ("browser calls phone, answered at once", lambda: browser_calls_phone(pages[0], desk, False)),
            ("browser calls phone, rings first", lambda: browser_calls_phone(pages[0], desk, True)),
            ("phone calls browser, browser answers", lambda: phone_calls_browser(pages[0], desk, pbx.uri(BROWSERS[0]))),
        ]
        for label, run in cases:
            delays = sorted(run() for _ in range(ROUNDS))
            print(f"  {label:<40} min {delays[0]:5.0f}  median {delays[len(delays) // 2]:5.0f}  max {delays[-1]:5.0f}")

        print(f"pbxd CPU over {WINDOW:.0f} s windows (% of one core):")
        idle = cpu_window(pbx, WINDOW)
        print(f"  idle, {len(BROWSERS)} browsers and 3 phones registered   {idle:6.1f}")
        call = desk_a.call(pbx.uri(DESK_B))
        other = desk_b.wait_incoming(10)
        other.answer()
        call.wait_confirmed(10)
        call.play_tone(PHONE_TONE)
        other.play_tone(1000)
        time.sleep(1.0)
        reference = cpu_window(pbx, WINDOW) - idle
        call.hangup()
        other.wait_disconnected(10)
        print(f"  reference: one desk phone to desk phone call  {reference:6.1f}  (relayed by a worker, no decoding)")
        for count in (1, len(BROWSERS)):
            calls = []
            for page in pages[:count]:
                page.evaluate(f"window.browserPhone.call('{DESK}')")
                incoming = desk.wait_incoming(10)
                incoming.answer()
                incoming.wait_confirmed(10)
                incoming.play_tone(PHONE_TONE)
                calls.append((page, incoming))
            time.sleep(2.0)
            used = cpu_window(pbx, WINDOW) - idle
            ratio = used / count / reference if reference > 0.05 else float("nan")
            print(f"  {count} browser call(s): total {used:6.1f}, per call {used / count:6.1f}"
                  f"  ({ratio:.1f}x the reference call)")
            for page, incoming in calls:
                _hang_up(page, incoming)
        print(f"host load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
