"""Call legs: one SIP dialog and one media endpoint each, seen by the B2BUA as domain events.

An InboundLeg is the UAS side of a call that reached us (the caller's phone); an OutboundLeg is a
UAC INVITE we sent (to a callee's device). Legs speak SIP and SDP; they report `progress`,
`answered`, `failed`, `ended`, `hold` and `dtmf` to their listener (the Call) and never decide
where a call goes. Hold is handled per leg: media is anchored, so a re-INVITE from one phone is
answered here and the Call plays music to the other side, without touching the other dialog.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from appliance.media.offer_answer import NotAcceptableHere, SdpVersioner, build_answer, build_offer, process_answer
from appliance.media.sdp import Codec, SessionDescription
from appliance.sip.dialog import Dialog, new_call_id, new_tag
from appliance.sip.dispatcher import ALLOW, Dispatcher
from appliance.sip.headers import NameAddress
from appliance.sip.message import Request, Response
from appliance.sip.stack import SipStack
from appliance.sip.transaction import ClientTransaction, Peer, ServerTransaction
from appliance.sip.uri import SipUri

log = logging.getLogger(__name__)

DTMF_INFO_TYPES = ("application/dtmf-relay", "application/dtmf")


class LegListener(Protocol):
    def on_leg_progress(self, leg: Leg, status: int, early_media: bool) -> None: ...

    def on_leg_answered(self, leg: Leg) -> None: ...

    def on_leg_failed(self, leg: Leg, status: int, reason: str) -> None: ...

    def on_leg_ended(self, leg: Leg, reason: str) -> None: ...

    def on_leg_hold(self, leg: Leg, held: bool) -> None: ...

    def on_leg_dtmf(self, leg: Leg, digit: str, via: str = "rfc4733") -> None: ...


@dataclass
class LegContext:
    """What every leg needs from the daemon, passed explicitly."""

    stack: SipStack
    dispatcher: Dispatcher
    engine: Any  # appliance.media.engine.MediaEngine
    codecs: list[str]  # codec names we can handle, preference order
    domain: str  # the host part of our identities (realm or address)
    media_host: str  # the address put in our SDP
    webrtc: Any = None  # appliance.calls.webrtc_leg.WebRtcLegs when browsers may call and be called


class Leg:
    """The part of inbound and outbound legs that is the same: dialog, media, in-dialog requests."""

    direction = "?"

    def __init__(self, ctx: LegContext, listener: LegListener | None = None):
        self.ctx = ctx
        self.listener: LegListener | None = listener
        self.dialog: Dialog | None = None
        self.endpoint: Any = None
        self.state = "new"  # new → early → confirmed → ended
        self.codec: Codec | None = None
        self.te_pt: int | None = None
        self.remote_held = False
        self.end_reason: str | None = None
        self._versioner = SdpVersioner()
        self._pending_offer: SessionDescription | None = None  # offered in a 200, answer due in the ACK
        self.user: str | None = None  # the extension behind this leg, when it is one of ours
        self.display: str | None = None

    # --- identity -----------------------------------------------------------------------------
    @property
    def call_id(self) -> str:
        return self.dialog.call_id if self.dialog else ""

    @property
    def ended(self) -> bool:
        return self.state == "ended"

    # --- media ----------------------------------------------------------------------------------
    async def _open_media(self) -> None:
        if self.endpoint is None:
            self.endpoint = await self.ctx.engine.create_endpoint()
            self.endpoint.on_dtmf = self._on_media_dtmf
            self.endpoint.on_timeout = self._on_media_timeout

    def _apply_negotiation(self, remote: SessionDescription, codec: Codec, te_pt: int | None, direction: str) -> None:
        """Point our endpoint at what the remote description says."""
        ep = self.endpoint
        media = next((m for m in remote.media if m.media == "audio" and not m.rejected), None)
        if media is None:
            return
        conn = remote.connection_for(media)
        host = conn.address if conn is not None else "0.0.0.0"
        if host not in ("0.0.0.0", "::"):
            ep.set_remote(host, media.port, media.rtcp_port)
        ep.set_rtcp_mux(media.rtcp_mux)
        if self.codec is None or codec.name != self.codec.name or codec.payload_type != self.codec.payload_type \
                or te_pt != self.te_pt:
            ep.set_codec(codec.name, codec.payload_type, te_pt, media.ptime or 20)
        ep.set_direction(direction)
        self.codec, self.te_pt = codec, te_pt

    def _on_media_dtmf(self, digit: str) -> None:
        if self.listener is not None and not self.ended:
            self.listener.on_leg_dtmf(self, digit, "rfc4733")

    def _on_media_timeout(self) -> None:
        if self.state == "confirmed" and not self.remote_held:
            log.info("%s leg %s: no RTP, hanging up", self.direction, self.call_id)
            self.hangup("media timeout")

    async def _close_media(self) -> None:
        if self.endpoint is not None:
            try:
                await self.endpoint.close()
            except Exception:
                log.exception("closing endpoint of %s", self.call_id)

    # --- in-dialog requests ----------------------------------------------------------------------
    def send_in_dialog(self, method: str, body: bytes = b"", content_type: str | None = None,
                       headers: list[tuple[str, str]] | None = None,
                       on_response: Callable[[Response, ClientTransaction], None] | None = None) -> None:
        assert self.dialog is not None
        request = self.dialog.new_request(method, body, content_type, headers)
        self.ctx.stack.send_request(request, self.dialog.peer, on_response or (lambda r, t: None))

    def on_dialog_request(self, request: Request, txn: ServerTransaction, peer: Peer) -> None:
        assert self.dialog is not None
        if not self.dialog.accept_remote_cseq(request):
            txn.respond(500, "CSeq out of order")
            return
        method = request.method
        if method == "BYE":
            txn.respond(200)
            self._end("remote hangup")
        elif method in ("INVITE", "UPDATE"):
            self._on_reoffer(request, txn)
        elif method == "INFO":
            self._on_info(request, txn)
        elif method == "OPTIONS":
            txn.respond(200, headers=[("Allow", ALLOW)])
        elif method == "NOTIFY":
            txn.respond(200)
        else:
            txn.respond(405, headers=[("Allow", ALLOW)])

    def _on_reoffer(self, request: Request, txn: ServerTransaction) -> None:
        """re-INVITE or UPDATE: new SDP (hold, resume, address change) answered locally (media is anchored)."""
        if self.state == "ended":
            txn.respond(481)
            return
        self.dialog.refresh_target(request)  # type: ignore[union-attr]
        if not request.body:
            # An offerless re-INVITE asks for our offer; the answer comes back in the ACK.
            self._pending_offer = self._current_offer()
            txn.respond(200, headers=self._contact_header() + [("Content-Type", "application/sdp")],
                        body=self._pending_offer.serialize())
            return
        try:
            offer = SessionDescription.parse(request.body)
            names = [self.codec.name] + [c for c in self.ctx.codecs if c != self.codec.name] if self.codec \
                else self.ctx.codecs
            negotiated = build_answer(offer, self.ctx.media_host, self.endpoint.local_port, names,
                                      prefer="local", rtcp_mux=False)
        except (ValueError, NotAcceptableHere) as err:
            log.info("%s: re-offer refused: %s", self.call_id, err)
            txn.respond(488)
            return
        held = _is_hold(offer)
        self._apply_negotiation(offer, negotiated.codec, negotiated.telephone_event_pt, negotiated.direction)
        answer = self._versioner.stamp(negotiated.answer)
        txn.respond(200, headers=self._contact_header() + [("Content-Type", "application/sdp")],
                    body=answer.serialize())
        if held != self.remote_held:
            self.remote_held = held
            if self.listener is not None:
                self.listener.on_leg_hold(self, held)

    def _current_offer(self) -> SessionDescription:
        codecs = [self.codec] if self.codec else self.ctx.codecs
        return self._versioner.stamp(build_offer(self.ctx.media_host, self.endpoint.local_port, codecs,
                                                 self.te_pt or 101))

    def _on_info(self, request: Request, txn: ServerTransaction) -> None:
        if request.content_type in DTMF_INFO_TYPES:
            digit = _info_digit(request.body)
            txn.respond(200 if digit else 400)
            if digit and self.listener is not None:
                self.listener.on_leg_dtmf(self, digit, "info")
            return
        txn.respond(200)  # other INFO packages (e.g. broadsoft) are accepted and ignored

    def on_ack(self, request: Request, peer: Peer) -> None:
        """An ACK may carry the answer to the offer we put in a 200 (late offer, offerless re-INVITE)."""
        offer, self._pending_offer = self._pending_offer, None
        if offer is None or not request.body:
            return
        try:
            answer = SessionDescription.parse(request.body)
            negotiated = process_answer(offer, answer)
        except (ValueError, NotAcceptableHere) as err:
            log.info("%s: bad answer in ACK: %s", self.call_id, err)
            self.hangup("bad sdp")
            return
        self._apply_negotiation(answer, negotiated.codec, negotiated.telephone_event_pt, negotiated.direction)
        held = _is_hold(answer)
        if self.listener is not None:
            self.remote_held = held
            self.listener.on_leg_hold(self, held)  # media is (newly) known: let the call re-plan

    def _contact_header(self) -> list[tuple[str, str]]:
        if self.dialog is None or self.dialog.local_contact is None:
            return []
        return [("Contact", self.dialog.local_contact)]

    # --- ending ----------------------------------------------------------------------------------
    def hangup(self, reason: str = "hangup") -> None:
        raise NotImplementedError

    def send_dtmf(self, digit: str) -> None:
        """Pass a digit to this leg's phone: RFC 4733 if negotiated, else in-band."""
        if self.endpoint is not None and not self.ended:
            self.endpoint.send_dtmf(digit)

    def _end(self, reason: str) -> None:
        if self.state == "ended":
            return
        self.state = "ended"
        self.end_reason = reason
        if self.dialog is not None:
            self.ctx.dispatcher.remove_dialog(self.dialog.key, self)
        asyncio.ensure_future(self._close_media())
        if self.listener is not None:
            self.listener.on_leg_ended(self, reason)


class InboundLeg(Leg):
    """The UAS side: a caller's INVITE that we answer, reject or let be cancelled."""

    direction = "inbound"

    def __new__(cls, ctx: LegContext, request: Request, *args: Any, **kwargs: Any) -> InboundLeg:
        """A browser's WebRTC offer gets the WebRTC leg (appliance.calls.webrtc_leg), everything else this one."""
        if cls is InboundLeg and ctx.webrtc is not None:
            cls = ctx.webrtc.inbound_class(request) or cls
        return super().__new__(cls)

    def __init__(self, ctx: LegContext, request: Request, txn: ServerTransaction, peer: Peer):
        super().__init__(ctx)
        self.request = request
        self.txn = txn
        self.peer = peer
        txn.owner = self
        local_contact = f"<{ctx.stack.contact_uri(peer)}>"
        self.dialog = Dialog.as_uas(request, txn.to_tag, peer, local_contact)
        self.offer: SessionDescription | None = None
        if request.body and request.content_type == "application/sdp":
            self.offer = SessionDescription.parse(request.body)
        self._answer_sdp: bytes | None = None
        ctx.dispatcher.add_dialog(self.dialog.key, self)

    @property
    def offered_codecs(self) -> list[Codec]:
        """The caller's audio codecs in its order (empty for an offerless INVITE)."""
        if self.offer is None:
            return []
        for media in self.offer.media:
            if media.media == "audio" and not media.rejected:
                return [c for c in media.codecs if c.name.lower() != "telephone-event"]
        return []

    async def prepare(self) -> None:
        await self._open_media()

    def _negotiate(self, prefer_codec: str | None) -> bytes:
        """Our SDP for the caller: an answer to its offer, or our own offer for a late-offer INVITE."""
        if self._answer_sdp is not None:
            return self._answer_sdp
        if self.offer is None:
            # Late offer (RFC 3261 §13.2.1): our offer goes in the 200 and the answer comes in the ACK.
            names = ([prefer_codec] if prefer_codec else []) + [c for c in self.ctx.codecs if c != prefer_codec]
            self._pending_offer = self._versioner.stamp(
                build_offer(self.ctx.media_host, self.endpoint.local_port, names))
            self._answer_sdp = self._pending_offer.serialize()
            return self._answer_sdp
        names = ([prefer_codec] if prefer_codec else []) + [c for c in self.ctx.codecs if c != prefer_codec]
        negotiated = build_answer(self.offer, self.ctx.media_host, self.endpoint.local_port, names,
                                  prefer="local" if prefer_codec else "offer", rtcp_mux=False)
        self._apply_negotiation(self.offer, negotiated.codec, negotiated.telephone_event_pt, negotiated.direction)
        self.remote_held = _is_hold(self.offer)
        self._answer_sdp = self._versioner.stamp(negotiated.answer).serialize()
        return self._answer_sdp

    def can_accept(self) -> bool:
        """Whether any of the caller's codecs is ours (else the call gets 488 before anything rings)."""
        if self.offer is None:
            return True
        names = {c.upper() for c in self.ctx.codecs}
        return any(c.name.upper() in names for c in self.offered_codecs)

    def ring(self) -> None:
        if self.state == "new":
            self.state = "early"
        if self.state == "early":
            self.txn.respond(180, headers=self._contact_header())

    def early_media(self, prefer_codec: str | None = None) -> None:
        """183 Session Progress with our SDP, so the caller hears what we play or relay before answer."""
        if self.state not in ("new", "early") or self.offer is None:
            return
        self.state = "early"
        body = self._negotiate(prefer_codec)
        self.txn.respond(183, headers=self._contact_header() + [("Content-Type", "application/sdp")], body=body)

    def answer(self, prefer_codec: str | None = None) -> None:
        if self.state not in ("new", "early"):
            return
        try:
            body = self._negotiate(prefer_codec)
        except NotAcceptableHere:
            self.reject(488)
            return
        self.state = "confirmed"
        self.dialog.confirmed = True  # type: ignore[union-attr]
        self.txn.respond(200, headers=self._contact_header() + [("Content-Type", "application/sdp"),
                                                                ("Allow", ALLOW)], body=body)

    def reject(self, status: int, reason: str | None = None, headers: list[tuple[str, str]] | None = None) -> None:
        if self.state not in ("new", "early"):
            return
        self.txn.respond(status, reason, headers=headers or [])
        self._end(f"rejected {status}")

    def hangup(self, reason: str = "hangup") -> None:
        if self.state in ("new", "early"):
            self.reject(480 if reason == "no answer" else 487 if reason == "cancelled" else 480)
            return
        if self.state == "confirmed":
            self.send_in_dialog("BYE")
            self._end(reason)

    def on_cancel(self, cancel: Request, cancel_txn: ServerTransaction) -> None:
        cancel_txn.respond(200)
        if self.state in ("new", "early"):
            self.txn.respond(487)
            self._end("cancelled")

    def on_ack_timeout(self, txn: ServerTransaction) -> None:
        if txn is self.txn and self.state == "confirmed":
            log.info("%s: the caller never acknowledged our 200, hanging up", self.call_id)
            self.hangup("no ack")


class OutboundLeg(Leg):
    """The UAC side: an INVITE we send to one device (a fork of a call)."""

    direction = "outbound"

    def __new__(cls, ctx: LegContext, target: SipUri, peer: Peer, *args: Any, **kwargs: Any) -> OutboundLeg:
        """A device registered from a browser (over WebSocket) is offered WebRTC media by the WebRTC leg."""
        if cls is OutboundLeg and ctx.webrtc is not None:
            cls = ctx.webrtc.outbound_class(peer) or cls
        return super().__new__(cls)

    def __init__(self, ctx: LegContext, target: SipUri, peer: Peer, from_: NameAddress, to: NameAddress,
                 call_id: str | None = None, listener: LegListener | None = None,
                 extra_headers: list[tuple[str, str]] | None = None):
        super().__init__(ctx, listener)
        self.target = target
        self.peer = peer
        self.from_ = from_
        self.to = to
        self.local_tag = new_tag()
        self._call_id = call_id or new_call_id(ctx.domain)
        self.extra_headers = extra_headers or []
        self.txn: ClientTransaction | None = None
        self.offer: SessionDescription | None = None
        self._cancel_requested = False
        self._provisional_seen = False
        self.final_status: int | None = None

    @property
    def call_id(self) -> str:
        return self._call_id

    async def start(self, codecs: list[Codec] | list[str]) -> None:
        """Open media and send the INVITE offering `codecs` (the caller's, so that media can be relayed)."""
        await self._open_media()
        self.offer = await self._local_offer(list(codecs) or list(self.ctx.codecs))
        if self._cancel_requested:
            self._end("cancelled")
            return
        request = Request("INVITE", self.target)
        h = request.headers
        h.add("From", f"{self.from_};tag={self.local_tag}")
        h.add("To", str(self.to))
        h.add("Call-ID", self._call_id)
        h.add("CSeq", "1 INVITE")
        contact = f"<{self.ctx.stack.contact_uri(self.peer)}>"
        h.add("Contact", contact)
        h.add("Allow", ALLOW)
        for name, value in self.extra_headers:
            h.add(name, value)
        h.add("Content-Type", "application/sdp")
        request.body = self.offer.serialize()
        self._request = request
        self.ctx.dispatcher.add_dialog((self._call_id, self.local_tag), self)
        self.txn = self.ctx.stack.send_request(request, self.peer, self._on_response)

    async def _local_offer(self, codecs: list[Codec] | list[str]) -> SessionDescription:
        """The SDP offer of our INVITE (the WebRTC leg makes a browser's)."""
        return self._versioner.stamp(build_offer(self.ctx.media_host, self.endpoint.local_port, codecs))

    def _on_response(self, response: Response, txn: ClientTransaction) -> None:
        status = response.status
        if status < 200:
            first = not self._provisional_seen
            self._provisional_seen = True  # 100 Trying counts: CANCEL may follow any provisional (§9.1)
            if self._cancel_requested:
                if first:
                    self._send_cancel()
                return
            if status == 100:
                return
            early_media = self._take_dialog_and_sdp(response)
            if self.state == "new":
                self.state = "early"
            if self.listener is not None and not self.ended:
                self.listener.on_leg_progress(self, status, early_media)
            return
        if status < 300:
            self._on_2xx(response, txn)
            return
        self.final_status = status
        if self.state in ("new", "early"):
            self._end_failed(status, response.reason)

    def _take_dialog(self, response: Response) -> None:
        """Learn the (early) dialog a tagged response creates or moves to."""
        if response.to.tag and (self.dialog is None or self.dialog.remote_tag != response.to.tag):
            if self.dialog is None:
                self.dialog = Dialog.as_uac(self._request, response, self.peer)
            else:
                self.dialog.update_from_response(response)

    def _take_dialog_and_sdp(self, response: Response) -> bool:
        """Learn the (early) dialog and any SDP answer; True when the answer carries media."""
        self._take_dialog(response)
        if response.body and response.content_type == "application/sdp" and self.offer is not None:
            try:
                answer = SessionDescription.parse(response.body)
            except ValueError as err:
                log.info("%s: unreadable SDP answer from %s: %s", self._call_id, self.target, err)
                return False
            try:
                negotiated = process_answer(self.offer, answer)
                codec, te_pt, direction = negotiated.codec, negotiated.telephone_event_pt, negotiated.direction
            except NotAcceptableHere as err:
                # Some UAs answer with a codec that was not offered (RFC 3264 §6.1 forbids it). When we can
                # handle that codec anyway, use it and let the engine transcode, as a tolerant PBX does.
                fallback = _supported_answer_codec(answer, self.ctx.codecs)
                if fallback is None:
                    log.info("%s: unusable SDP answer from %s: %s", self._call_id, self.target, err)
                    return False
                log.info("%s: %s answered with %s, which was not offered; accepting it", self._call_id,
                         self.target, fallback.name)
                codec, te_pt, direction = fallback, None, "sendrecv"
            self._apply_negotiation(answer, codec, te_pt, direction)
            return True
        return False

    def _on_2xx(self, response: Response, txn: ClientTransaction) -> None:
        if self.state == "confirmed" and self.dialog is not None and response.to.tag != self.dialog.remote_tag:
            self._ack_and_bye(response, txn)  # a second fork behind a proxy answered: not wanted
            return
        if self.state == "ended" or self._cancel_requested:
            self._ack_and_bye(response, txn)
            return
        self._take_dialog_and_sdp(response)
        assert self.dialog is not None
        self.dialog.update_from_response(response)
        self.dialog.confirmed = True
        ack = self.dialog.new_request("ACK", cseq=self._request.cseq.number)
        self.ctx.stack.stamp_via(ack, self.dialog.peer)
        txn.send_ack(ack)
        self.state = "confirmed"
        if self.listener is not None:
            self.listener.on_leg_answered(self)

    def _ack_and_bye(self, response: Response, txn: ClientTransaction) -> None:
        dialog = Dialog.as_uac(self._request, response, self.peer)
        ack = dialog.new_request("ACK", cseq=self._request.cseq.number)
        self.ctx.stack.stamp_via(ack, self.peer)
        txn.send_ack(ack)
        self.ctx.stack.send_request(dialog.new_request("BYE"), self.peer, lambda r, t: None)

    def cancel(self, reason: str = "cancelled") -> None:
        """Stop ringing this device (RFC 3261 §9.1: CANCEL only after a provisional response)."""
        if self.state not in ("new", "early") or self._cancel_requested:
            return
        self._cancel_requested = True
        if self.txn is not None and self._provisional_seen:
            self._send_cancel()
        self._end(reason)

    def _send_cancel(self) -> None:
        assert self.txn is not None
        self.ctx.stack.send_request(self.txn.cancel_request(), self.peer, lambda r, t: None, add_via=False)

    def hangup(self, reason: str = "hangup") -> None:
        if self.state in ("new", "early"):
            self.cancel(reason)
        elif self.state == "confirmed":
            self.send_in_dialog("BYE")
            self._end(reason)

    def _end_failed(self, status: int, reason: str) -> None:
        listener = self.listener
        self.listener = None  # failed is the last event this leg reports
        self._end(f"failed {status}")
        if listener is not None:
            listener.on_leg_failed(self, status, reason)


def _is_hold(sd: SessionDescription) -> bool:
    """RFC 3264 §8.4 hold (sendonly/inactive) and the RFC 2543 c=0.0.0.0 form."""
    for media in sd.media:
        if media.media != "audio" or media.rejected:
            continue
        if sd.effective_direction(media) in ("sendonly", "inactive"):
            return True
        conn = sd.connection_for(media)
        if conn is not None and conn.is_hold:
            return True
    return False


def _info_digit(body: bytes) -> str | None:
    """The digit of an INFO DTMF body: 'Signal=5\\r\\nDuration=160' (dtmf-relay) or '5' (application/dtmf)."""
    text = body.decode("utf-8", "replace").strip()
    for line in text.splitlines():
        name, eq, value = line.partition("=")
        if eq and name.strip().lower() == "signal":
            text = value.strip()
            break
    if len(text) == 1 and text in "0123456789*#ABCDabcd":
        return text.upper()
    if text in ("10", "11"):
        return "*" if text == "10" else "#"
    return None


def _supported_answer_codec(answer: SessionDescription, supported: list[str]) -> Codec | None:
    """The first audio codec of an answer that we can encode, whether or not we offered it."""
    names = {n.upper() for n in supported}
    for media in answer.media:
        if media.media == "audio" and not media.rejected:
            for codec in media.codecs:
                if codec.name.upper() in names:
                    return codec
    return None
