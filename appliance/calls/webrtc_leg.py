"""Call legs to and from browsers: the SIP of `legs.py`, the media of `appliance.media.webrtc`.

A browser leg owns an engine endpoint like every leg (the Call connects it, plays music on hold to it,
records it) plus a `WebRtcSession` that terminates the browser's ICE/DTLS-SRTP/Opus and feeds that
endpoint. `legs.InboundLeg` and `legs.OutboundLeg` become these classes by themselves when
`LegContext.webrtc` is a `WebRtcLegs` and the INVITE carries a WebRTC offer (inbound) or the device
registered over WebSocket (outbound), so the Call and the call service need not know about browsers.

What differs from a phone's leg:
- SDP comes from aiortc, not from `offer_answer`; the browser's answer is applied asynchronously.
- Ringing a browser caller sends 183 with our answer and plays ringback in-band, so ICE and DTLS are done
  by the time the callee answers and audio flows at once (a browser plays no ringback of its own).
- Re-offers (hold from the browser) are answered by aiortc, asynchronously.
- DTMF: digits for the browser go as SIP INFO (JsSIP reports them) and as an in-band tone; RFC 4733
  digits from the browser are reported to the Call like INFO digits, for the Call to pass on.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import threading
from types import ModuleType
from typing import TYPE_CHECKING, Any

from appliance.media.sdp import Codec, SessionDescription
from appliance.media.webrtc_config import EVENT_PT, PCMU_PT, is_webrtc_sdp
from appliance.sip.message import Request, Response
from appliance.sip.transaction import Peer, ServerTransaction

from .legs import InboundLeg, OutboundLeg, _is_hold

if TYPE_CHECKING:
    from appliance.media.webrtc import WebRtcSession

log = logging.getLogger(__name__)

_MEDIA = "appliance.media.webrtc"  # aiortc + PyAV: ~48 MiB and ~0.2 s, loaded when first needed (D-webrtc-9)
_media: ModuleType | None = None


async def _browser_media() -> ModuleType:
    """The aiortc side, imported on a worker thread the first time so the event loop never waits for it."""
    global _media
    if _media is None:
        _media = await asyncio.get_running_loop().run_in_executor(None, importlib.import_module, _MEDIA)
    return _media


def _sdp_errors() -> tuple[type[BaseException], ...]:
    """What aiortc raises for SDP it cannot take; only evaluated when an exception is being matched."""
    return importlib.import_module(_MEDIA).SDP_ERRORS

LOOPBACK_CODEC = Codec("PCMU", 8000, PCMU_PT)
BROWSER_CODECS = ("OPUS", "PCMU", "PCMA")
WEBSOCKET_TRANSPORTS = ("ws", "wss")


class WebRtcLegs:
    """Plugged into `LegContext.webrtc`: chooses the browser leg classes."""

    def inbound_class(self, request: Request) -> type[InboundLeg] | None:
        if request.content_type == "application/sdp" and is_webrtc_sdp(request.body):
            return WebRtcInboundLeg
        return None

    def outbound_class(self, peer: Peer) -> type[OutboundLeg] | None:
        return WebRtcOutboundLeg if peer.transport in WEBSOCKET_TRANSPORTS else None

    def preload(self) -> None:
        """Import aiortc in the background once a browser phone shows up (its first REGISTER), so its first
        call does not wait for the import; an office that never uses the browser phone never pays for it."""
        if _media is None and not getattr(self, "_preloading", False):
            self._preloading = True
            threading.Thread(target=importlib.import_module, args=(_MEDIA,), name="webrtc-preload",
                             daemon=True).start()


class _BrowserMedia:
    """What both browser legs add to a leg: the session, re-offers, DTMF and closing."""

    session: WebRtcSession | None
    _renegotiating: bool

    async def _start_session(self: Any) -> WebRtcSession:
        await self._open_media()
        media = await _browser_media()
        session = media.WebRtcSession(self.endpoint, on_digit_to_browser=self._info_digit,
                                on_digit_from_browser=self._browser_digit)
        await session.start()
        self.session = session
        self.codec, self.te_pt = LOOPBACK_CODEC, EVENT_PT
        return session

    def _on_reoffer(self: Any, request: Request, txn: ServerTransaction) -> None:
        """A browser's re-INVITE or UPDATE (hold, resume): answered by aiortc once it has looked at it."""
        if self.state == "ended" or self.session is None:
            txn.respond(481)
            return
        self.dialog.refresh_target(request)
        if not request.body:
            if request.method == "UPDATE":
                txn.respond(200, headers=self._contact_header())  # a session refresh without SDP
            else:
                txn.respond(488, "Offerless re-INVITE not supported for browsers")
            return
        if self._renegotiating:
            txn.respond(491)  # RFC 3261 §14.2: an offer is already being answered
            return
        self._renegotiating = True
        asyncio.ensure_future(self._reanswer(request, txn))

    async def _reanswer(self: Any, request: Request, txn: ServerTransaction) -> None:
        try:
            offer = SessionDescription.parse(request.body)
            answer = await self.session.answer(request.body.decode("utf-8", "replace"))
        except _sdp_errors() as err:
            log.info("%s: browser re-offer refused: %s", self.call_id, err)
            txn.respond(488)
            return
        finally:
            self._renegotiating = False
        if self.state == "ended":
            txn.respond(481)
            return
        txn.respond(200, headers=self._contact_header() + [("Content-Type", "application/sdp")],
                    body=answer.encode())
        held = _is_hold(offer)
        if held != self.remote_held:
            self.remote_held = held
            if self.listener is not None:
                self.listener.on_leg_hold(self, held)

    def send_dtmf(self: Any, digit: str) -> None:
        """A digit for the browser: SIP INFO (JsSIP reports it) and an in-band tone the user hears."""
        if self.session is not None and not self.ended:
            self.session.play_dtmf(digit)
        self._info_digit(digit)

    def _info_digit(self: Any, digit: str) -> None:
        if self.state != "confirmed" or self.dialog is None:
            return
        self.send_in_dialog("INFO", f"Signal={digit}\r\nDuration=160\r\n".encode(), "application/dtmf-relay")

    def _browser_digit(self: Any, digit: str) -> None:
        # The engine never saw this digit (it was taken off the SRTP stream): the Call must pass it on,
        # exactly as it does for digits that came by SIP INFO.
        if self.listener is not None and not self.ended:
            self.listener.on_leg_dtmf(self, digit, "info")

    async def _close_media(self: Any) -> None:
        if self.session is not None:
            await self.session.close()
        await super()._close_media()  # type: ignore[misc]


class WebRtcInboundLeg(_BrowserMedia, InboundLeg):
    """A call from a browser: the INVITE's offer is answered by aiortc in `prepare()`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.session = None
        self._renegotiating = False
        self._ringback: Any = None

    @property
    def offered_codecs(self) -> list[Codec]:
        """What the engine side of this leg speaks: a callee that picks PCMU is relayed without decoding."""
        return [LOOPBACK_CODEC, Codec("PCMA", 8000, 8)]

    def can_accept(self) -> bool:
        names = {c.name.upper() for m in (self.offer.media if self.offer else []) for c in m.codecs}
        return bool(names & set(BROWSER_CODECS))

    async def prepare(self) -> None:
        try:
            session = await self._start_session()
            answer = await session.answer(self.request.body.decode("utf-8", "replace"))
        except _sdp_errors() as err:
            log.info("%s: cannot answer the browser's offer: %s", self.call_id, err)
            self.reject(488)
            return
        self.remote_held = _is_hold(self.offer) if self.offer is not None else False
        self._answer_sdp = answer.encode()

    def ring(self) -> None:
        """183 with our answer and in-band ringback: media is up before the callee answers."""
        if self.state not in ("new", "early") or self._answer_sdp is None:
            return
        self.early_media()
        if self._ringback is None and self.endpoint is not None:
            self._ringback = self.endpoint.play(self.ctx.engine.tones.ringback, loop=True)

    def early_media(self, prefer_codec: str | None = None) -> None:
        if self._ringback is not None and prefer_codec is not None:
            self._stop_ringback()  # the callee's own early media takes over
        super().early_media(prefer_codec)

    def answer(self, prefer_codec: str | None = None) -> None:
        self._stop_ringback()
        super().answer(prefer_codec)

    def _stop_ringback(self) -> None:
        if self._ringback is not None:
            self._ringback.stop()
            self._ringback = None

    def _end(self, reason: str) -> None:
        self._stop_ringback()
        super()._end(reason)


class WebRtcOutboundLeg(_BrowserMedia, OutboundLeg):
    """A call to a browser: aiortc makes the offer; the browser's answer is applied when it comes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.session = None
        self._renegotiating = False
        self._answer_seen = False

    async def _local_offer(self, codecs: list[Codec] | list[str]) -> SessionDescription:
        session = await self._start_session()
        return SessionDescription.parse(await session.offer())

    def _take_dialog_and_sdp(self, response: Response) -> bool:
        self._take_dialog(response)
        if not response.body or response.content_type != "application/sdp" or self.session is None:
            return False
        if not self._answer_seen:  # the same answer may come in a 183 and again in the 200
            self._answer_seen = True
            asyncio.ensure_future(self._accept(response.body.decode("utf-8", "replace")))
        return True

    async def _accept(self, answer: str) -> None:
        assert self.session is not None
        try:
            await self.session.accept(answer)
        except _sdp_errors() as err:
            log.info("%s: unusable answer from the browser %s: %s", self.call_id, self.target, err)
            self.hangup("bad sdp")
