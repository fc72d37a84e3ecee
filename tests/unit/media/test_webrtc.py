"""A browser's media terminated by `WebRtcSession` and bridged to a media-engine endpoint.

The "browser" is a second aiortc peer connection in the same event loop (ICE on 127.0.0.1 only), the "phone"
a plain UDP socket talking PCMU to another engine endpoint; the engine connects the two endpoints as it does
for any call. Everything stays on loopback.
"""

from __future__ import annotations

import asyncio
import fractions
import socket
import struct
import time
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
import pytest

pytest.importorskip("aiortc")

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame

from appliance.media import g711
from appliance.media.dtmf import DtmfSender
from appliance.media.engine import MediaEngine
from appliance.media.rtp import RtpPacket
from appliance.media.webrtc import WebRtcSession, is_webrtc_sdp, set_ice_addresses
from appliance.media.webrtc_bridge import EngineTrack, dtmf_tone

BROWSER_TONE = 1000
PHONE_TONE = 1600


class Tone(MediaStreamTrack):
    """A browser microphone: a sine at 48 kHz, paced in real time."""

    kind = "audio"

    def __init__(self, hz: float) -> None:
        super().__init__()
        self.hz, self.n, self.t0 = hz, 0, None

    async def recv(self) -> AudioFrame:
        if self.t0 is None:
            self.t0 = time.monotonic()
        else:
            await asyncio.sleep(max(0.0, self.t0 + self.n / 48000 - time.monotonic()))
        t = (np.arange(960) + self.n) / 48000
        frame = AudioFrame.from_ndarray((np.sin(2 * np.pi * self.hz * t) * 8000).astype(np.int16).reshape(1, -1),
                                        format="s16", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = 48000, self.n, fractions.Fraction(1, 48000)
        self.n += 960
        return frame


class Browser:
    """An aiortc peer playing `Tone` and keeping what it hears (mono, 48 kHz)."""

    def __init__(self) -> None:
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.heard: list[np.ndarray] = []
        self.pc.on("track", self._on_track)

    def _on_track(self, track: Any) -> None:
        async def read() -> None:
            while True:
                try:
                    frame = await track.recv()
                except MediaStreamError:
                    return
                samples = frame.to_ndarray().reshape(-1)
                self.heard.append(samples[::2] if frame.layout.name == "stereo" else samples)
        asyncio.ensure_future(read())

    def loudest(self, seconds: float = 1.0) -> float:
        pcm = np.concatenate(self.heard[-int(seconds * 50):]).astype(float)
        spectrum = np.abs(np.fft.rfft(pcm * np.hanning(len(pcm))))
        return float(np.argmax(spectrum) * 48000 / len(pcm))


class Phone:
    """A UDP socket on the other engine endpoint: sends PCMU at PHONE_TONE, keeps what it receives."""

    def __init__(self, endpoint: Any) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.endpoint = endpoint
        self.received: list[bytes] = []
        self.n = 0
        endpoint.set_codec("PCMU", 0, 101)
        endpoint.set_remote(*self.sock.getsockname())

    def tick(self, payload_type: int = 0, payload: bytes | None = None, marker: bool = False,
             timestamp: int | None = None) -> None:
        if payload is None:
            t = (np.arange(160) + self.n * 160) / 8000
            payload = g711.ulaw_encode((np.sin(2 * np.pi * PHONE_TONE * t) * 8000).astype(np.int16))
        stamp = self.n * 160 if timestamp is None else timestamp
        header = struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | payload_type, self.n & 0xFFFF,
                             stamp & 0xFFFFFFFF, 0x1234)
        self.sock.sendto(header + payload, ("127.0.0.1", self.endpoint.local_port))
        self.n += 1
        try:
            while True:
                self.received.append(self.sock.recv(2048))
        except BlockingIOError:
            pass

    def loudest(self) -> float:
        pcm = np.concatenate([g711.ulaw_decode(d[12:]) for d in self.received[-50:] if d[1] & 0x7F == 0])
        spectrum = np.abs(np.fft.rfft(pcm.astype(float) * np.hanning(len(pcm))))
        return float(np.argmax(spectrum) * 8000 / len(pcm))


Scenario = Callable[[MediaEngine, WebRtcSession, Browser, Phone], Awaitable[None]]


def run(scenario: Scenario, **session_kw: Any) -> None:
    async def main() -> None:
        set_ice_addresses(["127.0.0.1"])
        engine = MediaEngine(host="127.0.0.1", port_min=46000, port_max=46400)
        await engine.start()
        a, b = await engine.create_endpoint(), await engine.create_endpoint()
        session = WebRtcSession(a, **session_kw)
        await session.start()
        phone = Phone(b)
        engine.connect(a, b)
        browser = Browser()
        try:
            await asyncio.wait_for(scenario(engine, session, browser, phone), 30)
        finally:
            await session.close()
            await browser.pc.close()
            await engine.close()
            set_ice_addresses(None)
    asyncio.run(main())


async def talk(phone: Phone, seconds: float) -> None:
    for _ in range(int(seconds * 50)):
        phone.tick()
        await asyncio.sleep(0.02)


def test_a_browser_offer_is_answered_and_audio_flows_both_ways_through_the_engine():
    async def scenario(engine: MediaEngine, session: WebRtcSession, browser: Browser, phone: Phone) -> None:
        browser.pc.addTransceiver(Tone(BROWSER_TONE), direction="sendrecv")
        await browser.pc.setLocalDescription(await browser.pc.createOffer())
        assert is_webrtc_sdp(browser.pc.localDescription.sdp)
        answer = await session.answer(browser.pc.localDescription.sdp)
        candidates = [line for line in answer.splitlines() if line.startswith("a=candidate:")]
        assert candidates and all(" 127.0.0.1 " in line for line in candidates)  # only the address we allowed
        assert "UDP/TLS/RTP/SAVPF" in answer and "a=rtcp-mux" in answer and "opus/48000/2" in answer
        await browser.pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        await talk(phone, 2.5)
        assert session.pc.connectionState == "connected"
        assert abs(phone.loudest() - BROWSER_TONE) < 20
        assert abs(browser.loudest() - PHONE_TONE) < 20
        assert session.first_audio_to_browser_at is not None and session.first_audio_from_browser_at is not None
    run(scenario)


def test_an_offer_for_a_browser_has_opus_g711_and_telephone_event_and_its_answer_completes_the_call():
    async def scenario(engine: MediaEngine, session: WebRtcSession, browser: Browser, phone: Phone) -> None:
        offer = await session.offer()
        rtpmaps = [line.split(" ", 1)[1] for line in offer.splitlines() if line.startswith("a=rtpmap:")]
        assert rtpmaps[0] == "opus/48000/2" and "PCMU/8000" in rtpmaps and "PCMA/8000" in rtpmaps
        assert "telephone-event/48000" in rtpmaps and "telephone-event/8000" in rtpmaps
        assert len(rtpmaps) == len(set(rtpmaps))
        assert "a=setup:actpass" in offer and "a=fingerprint:sha-256" in offer
        await browser.pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
        browser.pc.addTrack(Tone(BROWSER_TONE))
        await browser.pc.setLocalDescription(await browser.pc.createAnswer())
        await session.accept(browser.pc.localDescription.sdp)
        await talk(phone, 2.5)
        assert abs(phone.loudest() - BROWSER_TONE) < 20
        assert abs(browser.loudest() - PHONE_TONE) < 20
    run(scenario)


def test_a_hold_re_offer_is_answered_on_the_same_connection():
    async def scenario(engine: MediaEngine, session: WebRtcSession, browser: Browser, phone: Phone) -> None:
        transceiver = browser.pc.addTransceiver(Tone(BROWSER_TONE), direction="sendrecv")
        await browser.pc.setLocalDescription(await browser.pc.createOffer())
        await browser.pc.setRemoteDescription(
            RTCSessionDescription(await session.answer(browser.pc.localDescription.sdp), "answer"))
        await talk(phone, 1.0)
        transceiver.direction = "sendonly"
        await browser.pc.setLocalDescription(await browser.pc.createOffer())
        answer = await session.answer(browser.pc.localDescription.sdp)
        assert "a=recvonly" in answer
        await browser.pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        await talk(phone, 1.5)
        assert session.pc.connectionState == "connected" and abs(phone.loudest() - BROWSER_TONE) < 20
    run(scenario)


def test_digits_from_the_engine_reach_the_browser_side_once_each():
    digits: list[str] = []

    async def scenario(engine: MediaEngine, session: WebRtcSession, browser: Browser, phone: Phone) -> None:
        browser.pc.addTransceiver(Tone(BROWSER_TONE), direction="sendrecv")
        await browser.pc.setLocalDescription(await browser.pc.createOffer())
        await browser.pc.setRemoteDescription(
            RTCSessionDescription(await session.answer(browser.pc.localDescription.sdp), "answer"))
        await talk(phone, 0.5)
        for packet in DtmfSender().packets("7", phone.n * 160):  # the phone presses 7: relayed by the engine
            phone.tick(101, packet.payload, packet.marker, packet.timestamp)
            await asyncio.sleep(0.02)
        await talk(phone, 0.3)
        assert digits == ["7"]
    run(scenario, on_digit_to_browser=digits.append)


def test_telephone_events_from_the_browser_are_taken_off_before_the_decoder():
    digits: list[str] = []

    async def scenario(engine: MediaEngine, session: WebRtcSession, browser: Browser, phone: Phone) -> None:
        browser.pc.addTransceiver(Tone(BROWSER_TONE), direction="sendrecv")
        await browser.pc.setLocalDescription(await browser.pc.createOffer())
        answer = await session.answer(browser.pc.localDescription.sdp)
        assert "telephone-event/48000" in answer
        await browser.pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        await talk(phone, 1.0)
        [receiver] = [t.receiver for t in session.pc.getTransceivers()]
        pt = int(next(line for line in answer.splitlines() if "telephone-event/48000" in line)
                 .split(":")[1].split(" ")[0])
        for packet in DtmfSender(clock_rate=48000).packets("3", 96000):
            await receiver._handle_rtp_packet(RtpPacket(pt, 1, packet.timestamp, 0x55, packet.payload), 0)
        await talk(phone, 0.5)  # and the audio path still works after them
        assert digits == ["3"] and abs(phone.loudest() - BROWSER_TONE) < 20
    run(scenario, on_digit_from_browser=digits.append)


def test_the_track_to_the_browser_plays_silence_when_the_engine_is_quiet_and_bounds_its_backlog():
    async def scenario() -> None:
        track = EngineTrack()
        frame = await track.recv()
        assert frame.samples == 160 and frame.sample_rate == 8000 and not frame.to_ndarray().any()
        track.push(np.full(8000, 1000, dtype=np.int16))  # a second of backlog: only the newest 20 ms stay
        frames = [await track.recv() for _ in range(3)]
        assert [bool(f.to_ndarray().any()) for f in frames] == [True, False, False]
        for _ in range(3):
            track.push(np.full(160, 1000, dtype=np.int16))  # up to 60 ms waits as it is
        assert all([(await track.recv()).to_ndarray().any() for _ in range(3)])
        track.overlay(dtmf_tone("5"))
        assert np.abs((await track.recv()).to_ndarray()).max() > 1000
        track.stop()
    asyncio.run(scenario())


@pytest.mark.parametrize("body, webrtc", [
    (b"v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=fingerprint:sha-256 AB:CD\r\n", True),
    (b"v=0\r\nm=audio 4000 RTP/AVP 0 101\r\n", False),
    (b"v=0\r\nm=audio 4000 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:x\r\n", False),
    (b"", False),
])
def test_webrtc_offers_are_recognised_by_dtls_srtp_and_a_fingerprint(body, webrtc):
    assert is_webrtc_sdp(body) is webrtc
