"""One conversation through the B2BUA: the caller's leg, the forks to the callee's devices, the winner.

Forking is parallel: every registered device of the called extension gets an INVITE; the first
200 wins and the others are cancelled. A call ends in exactly one CDR. Media is anchored: the
Call asks the engine to relay between the two legs, and plays music on hold to one side while the
other has put it on hold.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from appliance.sip.headers import NameAddress
from appliance.sip.uri import SipUri

from .incall_features import InCallFeatures
from .legs import InboundLeg, Leg, LegContext, OutboundLeg
from .states import DialogInfo, ExtensionStates

log = logging.getLogger(__name__)
_call_ids = itertools.count(1)

BUSY_STATUSES = (486, 600, 603)


@dataclass
class CallOutcome:
    """What a finished call reports for its CDR."""

    call_id: str
    caller: str
    caller_name: str | None
    called: str
    final_called: str | None
    type: str
    status: str
    start: float
    answer: float | None
    end: float
    hangup_cause: str
    recording: str | None = None  # relative to the recordings directory, once the file is safely written


@dataclass
class Device:
    """One registered device to ring: where to send the INVITE."""

    uri: SipUri
    peer: Any  # Peer


@dataclass
class CallEnv:
    """The services a call uses, passed in (no globals)."""

    ctx: LegContext
    states: ExtensionStates
    wallclock: Callable[[], float]
    on_finished: Callable[["Call", CallOutcome], None]
    ring_timeout: float = 30.0
    moh_source: Any = None  # WAV path or ToneSpec played to a party on hold
    recordings: Any = None  # appliance.recording.service.RecordingService, when calls may be recorded
    in_call_codes: dict[str, str] = field(default_factory=dict)  # in-call feature → code (incall_features)


class Call:
    def __init__(self, env: CallEnv, caller: str, caller_name: str | None, called: str, call_type: str = "internal"):
        self.id = next(_call_ids)
        self.env = env
        self.caller = caller
        self.caller_name = caller_name
        self.called = called
        self.final_called: str | None = None
        self.type = call_type
        self.a: Leg | None = None
        self.b: Leg | None = None
        self.forks: list[OutboundLeg] = []
        self.fork_results: list[int] = []
        self.start = env.wallclock()
        self.answer_time: float | None = None
        self.finished = False
        self._ring_timer: asyncio.TimerHandle | None = None
        self._moh: dict[Leg, Any] = {}
        self._ringback: Any = None
        self._callee_ext: str | None = None
        self.in_call = InCallFeatures(self, env.in_call_codes, env.recordings)
        # Resolves to the CDR's `recording` once the call's recording is on disk; None when nothing was recorded.
        self.recording_done: asyncio.Future[str | None] | None = None
        # Called instead of failing the caller when the callee is busy or does not answer; returns True
        # when it took the caller (voicemail, forwarding). Set by the call service.
        self.fallback: Callable[[Call, str], bool] | None = None

    # --- setup ----------------------------------------------------------------------------------
    def attach_caller(self, leg: InboundLeg) -> None:
        self.a = leg
        leg.listener = self
        self._report(leg, "trying")

    def ring_devices(self, extension: str, devices: list[Device], from_: NameAddress, to: NameAddress) -> None:
        """Fork to every device of `extension` in parallel (the caller's codecs offered, for relaying)."""
        self._callee_ext = extension
        ctx = self.env.ctx
        codecs = self._offer_codecs()
        for device in devices:
            leg = OutboundLeg(ctx, device.uri, device.peer, from_, to, listener=self)
            leg.user = extension
            self.forks.append(leg)
            self._report(leg, "early")
            asyncio.ensure_future(self._start_fork(leg, codecs))
        self._ring_timer = asyncio.get_running_loop().call_later(self.env.ring_timeout, self._ring_timeout)

    async def _start_fork(self, leg: OutboundLeg, codecs: list) -> None:
        try:
            await leg.start(codecs)
        except Exception:
            log.exception("call %s: cannot start fork to %s", self.id, leg.target)
            self.on_leg_failed(leg, 500, "fork failed")

    def _offer_codecs(self) -> list:
        """The caller's codecs first (a callee that picks one is relayed without decoding), then our others
        (a callee that supports none of the caller's still gets a call, transcoded by the engine)."""
        ours = {c.upper() for c in self.env.ctx.codecs}
        if isinstance(self.a, InboundLeg):
            offered = [c for c in self.a.offered_codecs if c.name.upper() in ours]
            if offered:
                names = {c.name.upper() for c in offered}
                return offered + [c for c in self.env.ctx.codecs if c.upper() not in names]
        if self.a is not None and self.a.codec is not None:
            return [self.a.codec.name] + [c for c in self.env.ctx.codecs if c != self.a.codec.name]
        return list(self.env.ctx.codecs)

    # --- leg events -------------------------------------------------------------------------------
    def on_leg_progress(self, leg: Leg, status: int, early_media: bool) -> None:
        if leg not in self.forks or self.b is not None or self.a is None:
            return
        a = self.a
        if isinstance(a, InboundLeg):
            if early_media and leg.codec is not None and a.offer is not None:
                a.early_media(prefer_codec=leg.codec.name)
                self._connect(a, leg)
            else:
                a.ring()
        elif a.state == "confirmed" and self._ringback is None:
            # The caller is already answered (click-to-call): ringback has to be played in-band.
            self._ringback = a.endpoint.play(self.env.ctx.engine.tones.ringback, loop=True)

    def on_leg_answered(self, leg: Leg) -> None:
        if leg not in self.forks:
            return
        if self.b is not None or self.a is None or self.a.ended:
            leg.hangup("answered elsewhere")
            return
        self.b = leg
        self.final_called = leg.user
        self.answer_time = self.env.wallclock()
        self._cancel_ring_timer()
        for other in list(self.forks):
            if other is not leg:
                other.cancel("answered elsewhere")
        self.forks = [leg]
        a = self.a
        if isinstance(a, InboundLeg) and a.state in ("new", "early"):
            a.answer(prefer_codec=leg.codec.name if leg.codec else None)
        self._stop_ringback()
        self._connect(a, leg)
        self._report(a, "confirmed")
        self._report(leg, "confirmed")
        self.in_call.answered(self.start, self.caller, leg.user)

    def on_leg_failed(self, leg: Leg, status: int, reason: str) -> None:
        if leg not in self.forks:
            return
        self.forks.remove(leg)
        self.fork_results.append(status)
        self._report(leg, "terminated")
        if self.forks or self.b is not None or self.finished:
            return
        self._cancel_ring_timer()
        if any(s in BUSY_STATUSES for s in self.fork_results):
            if not self._fall_back("busy"):
                self._fail_caller(486, "busy", "busy")
        elif all(s in (408, 480, 503) for s in self.fork_results):
            if not self._fall_back("unavailable"):
                self._fail_caller(480, "no answer", "unreachable")
        else:
            final = min(self.fork_results)
            self._fail_caller(final if 400 <= final < 700 else 480, "failed", f"callee {final}")

    def on_leg_ended(self, leg: Leg, reason: str) -> None:
        if self.finished:
            return
        # Finish first: hanging up the other leg reports back here, and must find the call finished.
        if leg is self.a:
            self._report(leg, "terminated")
            if self.b is not None:
                self._finish("answered", "caller hangup")
                self.b.hangup("caller hung up")
                self._report(self.b, "terminated")
            elif self.answer_time is not None:
                self._finish("answered", "caller hangup" if reason == "remote hangup" else reason)
            else:
                self._finish("no answer", "caller cancelled" if reason == "cancelled" else reason)
            for fork in list(self.forks):
                if fork is not self.b:
                    fork.cancel("caller gone")
                    self._report(fork, "terminated")
        elif leg is self.b:
            self._report(leg, "terminated")
            self._finish("answered", "callee hangup")
            if self.a is not None:
                self.a.hangup("callee hung up")
                self._report(self.a, "terminated")
        elif leg in self.forks:
            self.forks.remove(leg)
            self._report(leg, "terminated")

    def on_leg_hold(self, leg: Leg, held: bool) -> None:
        other = self.b if leg is self.a else self.a
        if other is None or self.b is None:
            return
        engine = self.env.ctx.engine
        if held:
            engine.disconnect(leg.endpoint)
            if other not in self._moh and self.env.moh_source is not None and other.endpoint is not None:
                self._moh[other] = other.endpoint.play(self.env.moh_source, loop=True)
        else:
            player = self._moh.pop(other, None)
            if player is not None:
                player.stop()
            if not other.remote_held:
                self._connect(self.a, self.b)

    def on_leg_dtmf(self, leg: Leg, digit: str, via: str = "rfc4733") -> None:
        """Pass on digits the engine cannot relay by itself (SIP INFO; RFC 4733 is relayed as packets), and
        watch them for in-call codes (`*1` recording) once the call is answered."""
        if self.b is None or self.finished or leg not in (self.a, self.b):
            return
        if via == "info":
            other = self.b if leg is self.a else self.a
            if other is not None:
                other.send_dtmf(digit)
        self.in_call.digit(leg, digit)

    def answered_by_pbx(self, label: str) -> None:
        """An application of the box (voicemail, an announcement) answered: that is who the CDR names."""
        self.final_called = label
        self.answer_time = self.env.wallclock()
        self._cancel_ring_timer()
        if self.a is not None:
            self._report(self.a, "confirmed")

    # --- control ----------------------------------------------------------------------------------
    def hangup(self, reason: str = "hangup") -> None:
        """End the call from outside (control socket, admin)."""
        for leg in [self.a, self.b, *self.forks]:
            if leg is not None and not leg.ended:
                leg.hangup(reason)

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id, "caller": self.caller, "called": self.called, "final_called": self.final_called,
            "type": self.type, "state": "answered" if self.b else "ringing",
            "start": self.start, "answer": self.answer_time,
            "codec": self.a.codec.name if self.a is not None and self.a.codec else None,
        }

    # --- internals ----------------------------------------------------------------------------------
    def _connect(self, a: Leg | None, b: Leg | None) -> None:
        if a is None or b is None or a.endpoint is None or b.endpoint is None or a.ended or b.ended:
            return
        self.env.ctx.engine.connect(a.endpoint, b.endpoint)

    def _ring_timeout(self) -> None:
        self._ring_timer = None
        if self.b is not None or self.finished:
            return
        log.info("call %s: no answer from %s after %.0f s", self.id, self.called, self.env.ring_timeout)
        for fork in list(self.forks):
            fork.cancel("no answer")
            self._report(fork, "terminated")
        self.forks = []
        if not self._fall_back("no answer"):
            self._fail_caller(480, "no answer", "no answer", reason_phrase="No Answer")

    def _fall_back(self, reason: str) -> bool:
        """Offer the still-unanswered caller to the fallback (voicemail); True when it took the call."""
        if self.fallback is None or self.a is None or self.a.ended:
            return False
        return self.fallback(self, reason)

    def _fail_caller(self, status: int, cdr_status: str, cause: str, reason_phrase: str | None = None) -> None:
        a = self.a
        if isinstance(a, InboundLeg) and a.state in ("new", "early"):
            listener, a.listener = a.listener, None  # the rejection is ours: no ended event back
            a.reject(status, reason_phrase)
            a.listener = listener
        elif a is not None and not a.ended:
            listener, a.listener = a.listener, None
            a.hangup(cause)
            a.listener = listener
        if a is not None:
            self._report(a, "terminated")
        self._finish(cdr_status, cause)

    def _cancel_ring_timer(self) -> None:
        if self._ring_timer is not None:
            self._ring_timer.cancel()
            self._ring_timer = None

    def _stop_ringback(self) -> None:
        if self._ringback is not None:
            self._ringback.stop()
            self._ringback = None

    def _finish(self, status: str, cause: str) -> None:
        if self.finished:
            return
        self.finished = True
        self._cancel_ring_timer()
        self._stop_ringback()
        for player in self._moh.values():
            player.stop()
        self._moh.clear()
        self.recording_done = self.in_call.finish()
        outcome = CallOutcome(
            call_id=self.a.call_id if self.a is not None else "", caller=self.caller, caller_name=self.caller_name,
            called=self.called, final_called=self.final_called or self._callee_ext or self.called, type=self.type,
            status=status, start=self.start, answer=self.answer_time, end=self.env.wallclock(), hangup_cause=cause,
        )
        self.env.on_finished(self, outcome)

    def _report(self, leg: Leg, state: str) -> None:
        """Tell the extension-state tracker how this leg looks from its extension's side."""
        if leg is self.a:
            ext, direction, remote = self.caller, "initiator", self.called
        else:
            ext, direction, remote = leg.user, "recipient", self.caller
        if not ext:
            return
        dialog = leg.dialog
        info = DialogInfo(
            id=f"{self.id}-{id(leg):x}", call_id=leg.call_id,
            local_tag=dialog.local_tag if dialog else None, remote_tag=dialog.remote_tag if dialog else None,
            direction=direction, state=state, remote_identity=f"sip:{remote}@{self.env.ctx.domain}",
            remote_display=self.caller_name if direction == "recipient" else None,
            local_identity=f"sip:{ext}@{self.env.ctx.domain}",
        )
        self.env.states.update(ext, info)
