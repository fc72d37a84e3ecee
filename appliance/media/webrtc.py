"""A browser's media, terminated in pbxd: ICE, DTLS-SRTP, rtcp-mux and Opus/G.711 by aiortc, bridged to the engine.

`WebRtcSession` owns one aiortc `RTCPeerConnection` and one `RtpBridge` to a media-engine endpoint (see
webrtc_bridge.py). The call legs keep talking to that engine endpoint as to any phone's; the session only
turns the browser's SDP into an answer (or makes an offer for a browser we call) and moves audio.

Two things aiortc does not do out of the box are arranged here, once per process (D-webrtc-5):

- ICE host candidates: aioice gathers every interface address except 127.0.0.1 and has no option to
  choose. `set_ice_addresses` restricts gathering to the addresses given (the box's SIP address, or
  127.0.0.1 in tests) through aioice's address lister; no STUN or TURN server is ever contacted.
- RFC 4733 from the browser: telephone-event is added to aiortc's audio codecs so it is negotiated, and
  its packets are taken off each receiver before aiortc's decoder (which has no decoder for it) sees them.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from typing import Any

import aioice.ice
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.codecs import CODECS
from aiortc.exceptions import InternalError, InvalidAccessError, InvalidStateError, OperationError
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from appliance.media.dtmf import DtmfReceiver
from appliance.media.rtp import RtpPacket
from appliance.media.webrtc_bridge import EVENT_PT, PCMU_PT, EngineTrack, RtpBridge, dtmf_tone, pump_browser_audio
from appliance.media.webrtc_config import ice_addresses, is_webrtc_sdp, set_ice_addresses

# is_webrtc_sdp and set_ice_addresses live in webrtc_config (no aiortc there) and are re-exported here.
__all__ = ["SDP_ERRORS", "WebRtcSession", "is_webrtc_sdp", "set_ice_addresses"]

log = logging.getLogger(__name__)
# aiortc and aioice log every packet and every STUN check at DEBUG, which pbxd may run at: keep them to INFO.
for _name in ("aiortc", "aioice"):
    logging.getLogger(_name).setLevel(max(logging.INFO, logging.getLogger(_name).level))

#: What aiortc raises for SDP it cannot take (malformed, no common codec, wrong signalling state).
SDP_ERRORS = (ValueError, InternalError, InvalidAccessError, InvalidStateError, OperationError)
_EVENT_RTPMAP = re.compile(r"^a=rtpmap:(\d+) telephone-event/", re.MULTILINE | re.IGNORECASE)
_original_host_addresses = aioice.ice.get_host_addresses


def _host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    chosen = ice_addresses()
    if chosen is None:
        return _original_host_addresses(use_ipv4, use_ipv6)
    return [a for a in chosen if (use_ipv6 if ":" in a else use_ipv4)]


def _install() -> None:
    """Point aioice at our address list and teach aiortc telephone-event (idempotent)."""
    aioice.ice.get_host_addresses = _host_addresses
    audio = CODECS["audio"]
    if not any(c.mimeType.lower() == "audio/telephone-event" for c in audio):
        audio.append(RTCRtpCodecParameters(mimeType="audio/telephone-event", clockRate=48000, payloadType=110))
        audio.append(RTCRtpCodecParameters(mimeType="audio/telephone-event", clockRate=8000, payloadType=126))


_install()


class WebRtcSession:
    """One browser's media. Create, `await start()`, then `answer()` an offer or `offer()` and `accept()`.

    `endpoint` is the engine endpoint the call legs use for this browser; `on_digit_to_browser` is called
    with DTMF the engine sends towards the browser (RFC 4733 relayed from a phone), which the leg passes on
    as SIP INFO; `on_digit_from_browser` with RFC 4733 digits the browser sends.
    """

    def __init__(self, endpoint: Any, *, on_digit_to_browser: Callable[[str], None] | None = None,
                 on_digit_from_browser: Callable[[str], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.endpoint = endpoint
        self.on_digit_to_browser = on_digit_to_browser
        self.on_digit_from_browser = on_digit_from_browser
        self._clock = clock
        self.track = EngineTrack(clock)
        self.bridge = RtpBridge(self.track.push, self._engine_digit)
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.pc.on("track", self._on_track)
        self.pc.on("connectionstatechange", self._on_state)
        self._pump: asyncio.Task[None] | None = None
        self._events = DtmfReceiver()
        self._wrapped: set[int] = set()
        self.closed = False
        self.connected_at: float | None = None
        self.first_audio_from_browser_at: float | None = None

    async def start(self) -> None:
        """Open the loopback socket and point the engine endpoint at it (PCMU, events, RTCP on the same port)."""
        ep = self.endpoint
        await self.bridge.open(ep.local_host)
        ep.set_rtcp_mux(True)
        ep.set_remote(*self.bridge.local)
        ep.set_codec("PCMU", PCMU_PT, EVENT_PT, 20)
        self.bridge.engine = (ep.local_host, ep.local_port)

    # --- SDP ---------------------------------------------------------------------------------------
    async def answer(self, offer: str) -> str:
        """Our SDP answer (with our ICE candidates) to a browser's offer; also for re-offers (hold)."""
        await self.pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
        self._attach_track()
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        self._watch_events()
        return self.pc.localDescription.sdp

    async def offer(self) -> str:
        """An offer for a browser we call: aiortc's audio codecs, Opus first, telephone-event at 48 and 8 kHz.

        (Codec preferences are not narrowed: aiortc's filter keeps one entry per MIME type, which would drop
        one of the two telephone-event clock rates.)"""
        self.pc.addTransceiver(self.track, direction="sendrecv")
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return self.pc.localDescription.sdp

    async def accept(self, answer: str) -> None:
        """The browser's answer to our offer."""
        await self.pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        self._watch_events()

    def _attach_track(self) -> None:
        for transceiver in self.pc.getTransceivers():
            if transceiver.kind == "audio" and transceiver.sender.track is None:
                self.pc.addTrack(self.track)
                transceiver.direction = "sendrecv"
                return

    # --- media ---------------------------------------------------------------------------------------
    def _on_track(self, track: Any) -> None:
        if track.kind == "audio" and self._pump is None:
            self._pump = asyncio.ensure_future(pump_browser_audio(track, self.bridge, self._browser_audio))

    def _browser_audio(self) -> None:
        self.first_audio_from_browser_at = self._clock()

    def _on_state(self) -> None:
        state = self.pc.connectionState
        log.debug("webrtc session on %s: %s", self.endpoint.local_port, state)
        if state == "connected" and self.connected_at is None:
            self.connected_at = self._clock()

    def _watch_events(self) -> None:
        """Take the browser's telephone-event packets before aiortc's decoder would choke on them."""
        for transceiver in self.pc.getTransceivers():
            receiver = transceiver.receiver
            if id(receiver) in self._wrapped:
                continue
            pts = _event_payload_types(self.pc.localDescription.sdp if self.pc.localDescription else "")
            if not pts:
                continue
            self._wrapped.add(id(receiver))
            handle = receiver._handle_rtp_packet

            async def intercept(packet: Any, arrival_time_ms: int, handle: Any = handle, pts: set = pts) -> None:
                if packet.payload_type in pts:
                    self._browser_event(packet)
                    return
                await handle(packet, arrival_time_ms)

            receiver._handle_rtp_packet = intercept

    def _browser_event(self, packet: Any) -> None:
        ours = RtpPacket(packet.payload_type, packet.sequence_number, packet.timestamp, packet.ssrc, packet.payload)
        try:
            digit = self._events.feed(ours)
        except ValueError as err:
            log.debug("bad telephone-event from the browser: %s", err)
            return
        if digit and self.on_digit_from_browser is not None:
            self.on_digit_from_browser(digit)

    def _engine_digit(self, digit: str) -> None:
        self.play_dtmf(digit)
        if self.on_digit_to_browser is not None:
            self.on_digit_to_browser(digit)

    def play_dtmf(self, digit: str) -> None:
        """Let the browser's user hear a digit the other side sent."""
        try:
            self.track.overlay(dtmf_tone(digit))
        except (KeyError, ValueError):
            log.debug("no tone for DTMF %r", digit)

    @property
    def first_audio_to_browser_at(self) -> float | None:
        return self.track.first_audio_at

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.track.stop()
        if self._pump is not None:
            self._pump.cancel()
        try:
            await self.pc.close()
        except Exception:
            log.exception("closing the peer connection of endpoint %s", self.endpoint.local_port)
        self.bridge.close()

    def stats(self) -> dict[str, Any]:
        return {"state": self.pc.connectionState, "bridge_in": self.bridge.packets_in,
                "bridge_out": self.bridge.packets_out}


def _event_payload_types(sdp: str) -> set[int]:
    """The telephone-event payload types of a (negotiated) description."""
    return {int(m) for m in _EVENT_RTPMAP.findall(sdp)}
