"""pbxd does not carry aiortc and PyAV (~48 MiB) until a browser phone needs them (D-webrtc-9)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("aiortc")


def run_python(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                            timeout=60, check=True)
    return result.stdout.strip()


def test_the_daemon_and_the_browser_legs_load_without_aiortc():
    out = run_python("""
        import sys
        import appliance.daemon, appliance.calls.webrtc_leg
        from appliance.calls.webrtc_leg import WebRtcLegs
        from appliance.media.webrtc_config import is_webrtc_sdp
        WebRtcLegs()
        print(sorted(name for name in ("aiortc", "av", "aioice") if name in sys.modules))
    """)
    assert out == "[]"


def test_a_browser_phone_registering_preloads_aiortc_in_the_background():
    out = run_python("""
        import sys, time
        from appliance.calls.webrtc_leg import WebRtcLegs
        legs = WebRtcLegs()
        legs.preload()
        legs.preload()  # a second REGISTER does not start a second import
        deadline = time.monotonic() + 30
        while "appliance.media.webrtc" not in sys.modules or not hasattr(sys.modules["appliance.media.webrtc"],
                                                                         "WebRtcSession"):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        print("aiortc" in sys.modules)
    """)
    assert out == "True"


def test_the_first_browser_call_imports_the_media_off_the_event_loop():
    out = run_python("""
        import asyncio, sys
        from appliance.calls import webrtc_leg
        async def main():
            module = await webrtc_leg._browser_media()
            return module.__name__, "aiortc" in sys.modules, webrtc_leg._sdp_errors()[0].__name__
        print(asyncio.run(main()))
    """)
    assert out == "('appliance.media.webrtc', True, 'ValueError')"
