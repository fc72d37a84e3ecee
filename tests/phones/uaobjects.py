"""pjsua2 subclasses used inside the phone agent process: they turn pjsua2 callbacks into JSON events.

Runs only in the agent process (imports pjsua2). Every callback body is wrapped so that a Python exception
becomes an ``error`` event instead of a SWIG director abort. pjsua2 objects must stay referenced from Python
as long as the library may call them, and must be released only from the main loop, never inside their own
callback: the agent keeps them in its tables and drops them in ``Runtime.reap()``.
"""

from __future__ import annotations

import functools
import logging
import traceback
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

import pjsua2 as pj

if TYPE_CHECKING:
    from tests.phones.agent import Runtime

log = logging.getLogger("phone.agent")

INV_STATES = {
    pj.PJSIP_INV_STATE_NULL: "null",
    pj.PJSIP_INV_STATE_CALLING: "calling",
    pj.PJSIP_INV_STATE_INCOMING: "incoming",
    pj.PJSIP_INV_STATE_EARLY: "early",
    pj.PJSIP_INV_STATE_CONNECTING: "connecting",
    pj.PJSIP_INV_STATE_CONFIRMED: "confirmed",
    pj.PJSIP_INV_STATE_DISCONNECTED: "disconnected",
}
MEDIA_STATES = {
    pj.PJSUA_CALL_MEDIA_NONE: "none",
    pj.PJSUA_CALL_MEDIA_ACTIVE: "active",
    pj.PJSUA_CALL_MEDIA_LOCAL_HOLD: "local_hold",
    pj.PJSUA_CALL_MEDIA_REMOTE_HOLD: "remote_hold",
    pj.PJSUA_CALL_MEDIA_ERROR: "error",
}
MEDIA_DIRS = {
    pj.PJMEDIA_DIR_NONE: "inactive",
    pj.PJMEDIA_DIR_ENCODING: "sendonly",
    pj.PJMEDIA_DIR_DECODING: "recvonly",
    pj.PJMEDIA_DIR_ENCODING_DECODING: "sendrecv",
}
DTMF_IS_END = 1 << 1  # pjmedia_stream_dtmf_event_flags: not exported by the SWIG module
DTMF_METHODS = {pj.PJSUA_DTMF_METHOD_RFC2833: "rfc2833", pj.PJSUA_DTMF_METHOD_SIP_INFO: "info"}


def parse_headers(whole_msg: str) -> list[list[str]]:
    """Split a raw SIP message's header block into [name, value] pairs (folded lines joined)."""
    head = whole_msg.replace("\r\n", "\n").split("\n\n", 1)[0]
    pairs: list[list[str]] = []
    for line in head.split("\n")[1:]:
        if line[:1] in (" ", "\t") and pairs:
            pairs[-1][1] += " " + line.strip()
        elif ":" in line:
            name, value = line.split(":", 1)
            pairs.append([name.strip(), value.strip()])
    return pairs


def message_body(whole_msg: str) -> str:
    """Return the body of a raw SIP message (empty when there is none)."""
    parts = whole_msg.split("\r\n\r\n", 1)
    return parts[1] if len(parts) == 2 else ""


def guarded(method: Callable[..., None]) -> Callable[..., None]:
    """Wrap a pjsua2 callback so an exception is reported as an event, never propagated into C++."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any) -> None:
        try:
            method(self, *args)
        except Exception as err:  # noqa: BLE001 - a callback must not raise into the library
            log.error("callback %s failed:\n%s", method.__name__, traceback.format_exc())
            self.rt.emit("error", where=method.__name__, error=repr(err))

    return wrapper


@dataclass
class MediaLinks:
    """What the test attached to a call's audio; re-applied whenever pjsua re-creates the stream."""

    tone: Any = None
    player: Any = None
    recorder: Any = None
    recorder_path: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class AgentAccount(pj.Account):
    """An account: the transport-bound local one (direct calls) or one registered to a registrar."""

    def __init__(self, rt: Runtime, label: str) -> None:
        super().__init__()
        self.rt = rt
        self.label = label

    @guarded
    def onRegState(self, prm: pj.OnRegStateParam) -> None:
        info = self.getInfo()
        self.rt.emit("reg_state", account=self.label, code=prm.code, reason=prm.reason,
                     expires=prm.expiration, active=bool(info.regIsActive))

    @guarded
    def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:
        call = AgentCall(self.rt, self, prm.callId, direction="incoming")
        handle = self.rt.adopt(call)
        msg = prm.rdata.wholeMsg
        headers = parse_headers(msg)
        info = call.getInfo()
        self.rt.emit("incoming_call", call=handle, account=self.label, remote_uri=info.remoteUri,
                     local_uri=info.localUri, sip_call_id=info.callIdString,
                     request_uri=msg.split("\r\n", 1)[0].split(" ")[1] if " " in msg else "",
                     headers=headers, source=prm.rdata.srcAddress, sdp=message_body(msg))
        self.rt.on_incoming(handle)

    @guarded
    def onMwiInfo(self, prm: pj.OnMwiInfoParam) -> None:
        msg = prm.rdata.wholeMsg
        self.rt.emit("mwi", account=self.label, body=message_body(msg), headers=parse_headers(msg))

    @guarded
    def onInstantMessage(self, prm: pj.OnInstantMessageParam) -> None:
        self.rt.emit("message", account=self.label, from_uri=prm.fromUri, to_uri=prm.toUri,
                     content_type=prm.contentType, body=prm.msgBody)


class AgentBuddy(pj.Buddy):
    """A presence subscription (SUBSCRIBE Event: presence) whose NOTIFYs become ``buddy_state`` events."""

    def __init__(self, rt: Runtime, uri: str) -> None:
        super().__init__()
        self.rt = rt
        self.uri = uri

    @guarded
    def onBuddyState(self) -> None:
        info = self.getInfo()
        pres = info.presStatus
        self.rt.emit("buddy_state", uri=self.uri, sub_state=info.subStateName, status=pres.status,
                     status_text=pres.statusText, note=pres.note, activity=pres.activity)

    @guarded
    def onBuddyEvSubState(self, prm: pj.OnBuddyEvSubStateParam) -> None:
        info = self.getInfo()
        self.rt.emit("buddy_sub_state", uri=self.uri, sub_state=info.subStateName,
                     term_code=info.subTermCode, term_reason=info.subTermReason)


class AgentPlayer(pj.AudioMediaPlayer):
    """A WAV player that reports its end of file (destroyed later from the main loop, never in onEof2)."""

    def __init__(self, rt: Runtime, handle: str, path: str) -> None:
        super().__init__()
        self.rt = rt
        self.handle = handle
        self.path = path

    @guarded
    def onEof2(self) -> None:
        self.rt.emit("playback_done", call=self.handle, path=self.path)


class AgentCall(pj.Call):
    """One call leg; its events carry the agent's own handle ("c1", "c2", …), never pjsua's reused call id."""

    def __init__(self, rt: Runtime, acc: AgentAccount, call_id: int = pj.PJSUA_INVALID_ID,
                 direction: str = "outgoing") -> None:
        super().__init__(acc, call_id)
        self.rt = rt
        self.acc = acc
        self.handle = ""
        self.direction = direction
        self.links = MediaLinks()
        self.audio: pj.AudioMedia | None = None
        self.disconnected = False

    def event(self, name: str, **fields: Any) -> None:
        self.rt.emit(name, call=self.handle, **fields)

    @guarded
    def onCallState(self, prm: pj.OnCallStateParam) -> None:
        info = self.getInfo()
        state = INV_STATES.get(info.state, str(info.state))
        fields: dict[str, Any] = {}
        tsx = prm.e.body.tsxState
        if prm.e.type == pj.PJSIP_EVENT_TSX_STATE and tsx.type == pj.PJSIP_EVENT_RX_MSG:
            msg = tsx.src.rdata.wholeMsg
            fields = {"first_line": msg.split("\r\n", 1)[0], "headers": parse_headers(msg),
                      "body": message_body(msg)}
        if info.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            # Finalise recordings first: once the controller sees "disconnected" the WAV files are complete.
            self.disconnected = True
            self.rt.release_media(self)
            self.rt.retire(self.handle)
        self.event("call_state", state=state, code=info.lastStatusCode, reason=info.lastReason,
                   role="uac" if info.role == pj.PJSIP_ROLE_UAC else "uas", **fields)

    @guarded
    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:
        info = self.getInfo()
        for media in info.media:
            if media.type != pj.PJMEDIA_TYPE_AUDIO:
                continue
            status = MEDIA_STATES.get(media.status, str(media.status))
            if media.status in (pj.PJSUA_CALL_MEDIA_ACTIVE, pj.PJSUA_CALL_MEDIA_REMOTE_HOLD):
                self.audio = self.getAudioMedia(media.index)
                self.rt.apply_media(self)
            self.event("media_state", status=status, dir=MEDIA_DIRS.get(media.dir, str(media.dir)),
                       index=media.index, codec=self.rt.codec_of(self, media.index))
            return
        self.event("media_state", status="none", dir="inactive", index=-1, codec="")

    @guarded
    def onDtmfDigit(self, prm: pj.OnDtmfDigitParam) -> None:
        self.event("dtmf_received", digit=prm.digit, method=DTMF_METHODS.get(prm.method, str(prm.method)))

    @guarded
    def onDtmfEvent(self, prm: pj.OnDtmfEventParam) -> None:
        if prm.flags & DTMF_IS_END:
            self.event("dtmf_end", digit=prm.digit, duration=prm.duration,
                       method=DTMF_METHODS.get(prm.method, str(prm.method)))

    @guarded
    def onCallTsxState(self, prm: pj.OnCallTsxStateParam) -> None:
        tsx_ev = prm.e.body.tsxState
        if prm.e.type != pj.PJSIP_EVENT_TSX_STATE or tsx_ev.type != pj.PJSIP_EVENT_RX_MSG:
            return
        tsx = tsx_ev.tsx
        if tsx.role != pj.PJSIP_ROLE_UAS or tsx.method in ("INVITE", "ACK", "BYE", "CANCEL", "PRACK"):
            return
        if tsx.state != pj.PJSIP_TSX_STATE_TRYING:
            return
        msg = tsx_ev.src.rdata.wholeMsg
        self.event("request", method=tsx.method, headers=parse_headers(msg), body=message_body(msg))

    @guarded
    def onCallTransferRequest(self, prm: pj.OnCallTransferRequestParam) -> None:
        new_call = AgentCall(self.rt, self.acc, direction="outgoing")
        handle = self.rt.adopt(new_call)
        prm.newCall = new_call
        self.event("transfer_request", target=prm.dstUri, new_call=handle, code=prm.statusCode)

    @guarded
    def onCallTransferStatus(self, prm: pj.OnCallTransferStatusParam) -> None:
        self.event("transfer_status", code=prm.statusCode, reason=prm.reason, final=bool(prm.finalNotify))
        if prm.finalNotify and 200 <= prm.statusCode < 300 and not self.disconnected:
            # What desk phones do once the transfer target answered: leave the call (BYE).
            self.hangup(pj.CallOpParam(True))

    @guarded
    def onCallReplaceRequest(self, prm: pj.OnCallReplaceRequestParam) -> None:
        new_call = AgentCall(self.rt, self.acc, direction="incoming")
        handle = self.rt.adopt(new_call)
        prm.newCall = new_call
        self.event("replace_request", new_call=handle, code=prm.statusCode)

    @guarded
    def onCallReplaced(self, prm: pj.OnCallReplacedParam) -> None:
        handle = self.rt.handle_of_pj_id(prm.newCallId)
        if not handle:
            new_call = AgentCall(self.rt, self.acc, prm.newCallId, direction="incoming")
            handle = self.rt.adopt(new_call)
            prm.newCall = new_call
        self.event("replaced", new_call=handle)
