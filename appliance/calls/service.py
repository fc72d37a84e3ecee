"""The call service: accepts INVITEs, routes them, runs calls and keeps the list of live ones.

It is the transaction user for new INVITEs (the dispatcher hands them over), the source of truth
for "what calls are up" (control socket, web UI) and the place a finished call's CDR leaves from.
"""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import unquote
from collections.abc import Callable
from typing import Any, Protocol

from appliance.sip.auth import RequestAuthenticator
from appliance.sip.headers import NameAddress
from appliance.sip.location import LocationService
from appliance.sip.message import Request
from appliance.sip.transaction import Peer, ServerTransaction
from appliance.sip.uri import SipUri

from .app import AppSession, CallerHungUp
from .call import Call, CallEnv, CallOutcome, Device
from .feature_apps import FeatureRunner
from .legs import InboundLeg, OutboundLeg
from .router import Route, Router

log = logging.getLogger(__name__)


class Directory(Protocol):
    """Who the extensions are: the store, seen through a narrow window."""

    def find(self, number: str) -> Any: ...  # an object with .number, .name, .enabled, or None


class CallService:
    def __init__(self, env: CallEnv, directory: Directory, location: LocationService,
                 authenticator: RequestAuthenticator, router: Router,
                 record_cdr: Callable[[CallOutcome], None], features: FeatureRunner | None = None,
                 prompts: Any = None, language_of: Callable[[str], str] | None = None):
        self.env = env
        self.voicemail: Any = None  # appliance.voicemail.service.VoicemailService, when configured
        self.features = features
        self.prompts = prompts
        self.language_of = language_of or (lambda extension: "en")
        self.directory = directory
        self.location = location
        self.authenticator = authenticator
        self.router = router
        self.record_cdr = record_cdr
        self.calls: dict[int, Call] = {}
        self._cdr_tasks: set[asyncio.Future] = set()  # CDRs waiting for their call's recording to be written
        env.on_finished = self._finished

    # --- INVITE entry point ------------------------------------------------------------------------
    def on_invite(self, request: Request, txn: ServerTransaction, peer: Peer) -> None:
        user = self.authenticator.check(request, txn, peer, proxy=True)
        if user is None:
            return
        caller = self.directory.find(user)
        if caller is None or not caller.enabled:
            txn.respond(403, "Extension disabled")
            return
        try:
            uri = request.uri
        except ValueError:
            txn.respond(400, "Bad Request-URI")
            return
        dialed = unquote((uri.user if isinstance(uri, SipUri) else None) or "")
        leg = InboundLeg(self.env.ctx, request, txn, peer)
        leg.user = caller.number
        leg.display = caller.name
        if not leg.can_accept():
            leg.reject(488)
            return
        call = Call(self.env, caller.number, caller.name, dialed, "internal")
        call.attach_caller(leg)
        self.calls[call.id] = call
        self._spawn(self._place(call, leg, dialed), call)

    async def _place(self, call: Call, leg: InboundLeg, dialed: str) -> None:
        await leg.prepare()
        if leg.ended:
            return  # cancelled while media was being set up
        route = self.router.route(dialed)
        if route.kind == Route.EXTENSION:
            self._ring_extension(call, route.target)
        elif route.kind == Route.FEATURE and self.features is not None and self.features.handles(route.target):
            session = AppSession(leg, call, self.prompts, self.language_of(call.caller))
            try:
                await self.features.run(session, route.feature, call.caller)
            except CallerHungUp:
                log.debug("call %s: caller left %s", call.id, route.target)
        elif route.kind == Route.FEATURE:
            call._fail_caller(501, "failed", f"feature {route.target} not available",
                              reason_phrase="Feature Not Available")
        else:
            call._fail_caller(404, "failed", "no route", reason_phrase="Not Found")

    def _ring_extension(self, call: Call, extension: str) -> None:
        call.fallback = lambda c, reason: self._to_voicemail(c, extension, reason)
        ext = self.directory.find(extension)
        if ext is not None and getattr(ext, "dnd", False):
            if not call._fall_back("busy"):
                call._fail_caller(486, "busy", "do not disturb", reason_phrase="Do Not Disturb")
            return
        devices = self.devices_of(extension)
        if not devices:
            if not call._fall_back("unavailable"):
                call._fail_caller(480, "failed", "unavailable", reason_phrase="Temporarily Unavailable")
            return
        call.ring_devices(extension, devices, self._identity(call.caller, call.caller_name),
                          NameAddress(SipUri("sip", extension, None, self.env.ctx.domain)))

    def _to_voicemail(self, call: Call, extension: str, reason: str) -> bool:
        """Send an unanswered caller to the extension's mailbox (busy, no answer, unreachable, DND)."""
        a = call.a
        if self.voicemail is None or not isinstance(a, InboundLeg) or a.state not in ("new", "early"):
            return False
        ext = self.directory.find(extension)
        if ext is None or not getattr(ext, "voicemail_enabled", False):
            return False
        session = AppSession(a, call, self.prompts, getattr(ext, "language", None) or self.language_of(extension))
        call.fallback = None
        self._spawn(self._deposit(session, call, extension, reason), call)
        return True

    async def _deposit(self, session: AppSession, call: Call, extension: str, reason: str) -> None:
        mailbox = await self.voicemail.mailbox_for(extension)
        if mailbox is None or not mailbox.takes(reason):
            status, cdr_status = {"busy": (486, "busy"), "no answer": (480, "no answer")}.get(reason, (480, "failed"))
            call._fail_caller(status, cdr_status, reason)
            return
        try:
            await self.voicemail.take_call(session, mailbox, reason, call.caller, call.caller_name)
        except CallerHungUp:
            log.debug("call %s: caller left voicemail", call.id)

    async def dial_from_app(self, session: AppSession, number: str) -> None:
        """An application hands its (answered) caller over to a normal call to `number` (voicemail call-back)."""
        call = session.call
        session.leg.listener = call
        route = self.router.route(number)
        if route.kind != Route.EXTENSION:
            await session.play(["number_not_in_service", "goodbye"])
            session.hangup()
            return
        call.called = number
        self._ring_extension(call, route.target)
        call.fallback = None

    def devices_of(self, extension: str) -> list[Device]:
        return [Device(c.uri, c.peer) for c in self.location.lookup(extension, self.env.wallclock())]

    def _identity(self, number: str, name: str | None) -> NameAddress:
        return NameAddress(SipUri("sip", number, None, self.env.ctx.domain), name)

    # --- click-to-call -------------------------------------------------------------------------------
    def originate(self, extension: str, target: str) -> int:
        """Ring the user's own devices; when one answers, dial `target` from it (click-to-call)."""
        ext = self.directory.find(extension)
        if ext is None:
            raise LookupError(f"no extension {extension}")
        devices = self.devices_of(extension)
        if not devices:
            raise LookupError(f"extension {extension} has no registered device")
        call = Call(self.env, extension, ext.name, target, "internal")
        self.calls[call.id] = call
        originator = _Originator(self, call, extension, target)
        originator.ring_user(devices)
        return call.id

    # --- control ------------------------------------------------------------------------------------------
    def hangup(self, call_id: int) -> bool:
        call = self.calls.get(call_id)
        if call is None:
            return False
        call.hangup("hung up by control")
        return True

    def status(self) -> list[dict[str, Any]]:
        return [call.describe() for call in self.calls.values()]

    def _finished(self, call: Call, outcome: CallOutcome) -> None:
        self.calls.pop(call.id, None)
        if call.recording_done is None:
            self._write_cdr(call, outcome)
            return
        # The CDR names the recording only once its file is safely on disk (D-rec-1): it waits for it.
        task = asyncio.ensure_future(self._cdr_after_recording(call, outcome, call.recording_done))
        self._cdr_tasks.add(task)
        task.add_done_callback(self._cdr_tasks.discard)

    async def _cdr_after_recording(self, call: Call, outcome: CallOutcome, done: asyncio.Future) -> None:
        try:
            outcome.recording = await done
        except Exception:
            log.exception("call %s: recording failed; its CDR is written without it", call.id)
        self._write_cdr(call, outcome)

    def _write_cdr(self, call: Call, outcome: CallOutcome) -> None:
        try:
            self.record_cdr(outcome)
        except Exception:
            log.exception("cannot record CDR of call %s", call.id)

    async def drain(self, timeout: float = 30.0) -> None:
        """Wait (at shutdown) for CDRs still waiting on their recordings' files."""
        if self._cdr_tasks:
            _, late = await asyncio.wait(set(self._cdr_tasks), timeout=timeout)
            if late:
                log.error("%d call recording(s) not finished at shutdown; their CDRs are lost", len(late))

    def _spawn(self, coro: Any, call: Call) -> None:
        task = asyncio.ensure_future(coro)

        def done(t: asyncio.Future) -> None:
            if t.cancelled():
                return
            err = t.exception()
            if err is not None:
                log.error("call %s failed: %r", call.id, err, exc_info=err)
                call._fail_caller(500, "failed", "internal error")

        task.add_done_callback(done)


class _Originator:
    """Click-to-call, first half: ring the user's devices; the answering one becomes the caller leg."""

    def __init__(self, service: CallService, call: Call, extension: str, target: str):
        self.service = service
        self.call = call
        self.extension = extension
        self.target = target
        self.forks: list[OutboundLeg] = []
        self.done = False

    def ring_user(self, devices: list[Device]) -> None:
        ctx = self.service.env.ctx
        # The user's phone shows who it is about to call.
        from_ = NameAddress(SipUri("sip", self.target, None, ctx.domain), f"Call {self.target}")
        to = NameAddress(SipUri("sip", self.extension, None, ctx.domain))
        for device in devices:
            leg = OutboundLeg(ctx, device.uri, device.peer, from_, to, listener=self)
            leg.user = self.extension
            self.forks.append(leg)
            asyncio.ensure_future(leg.start(list(ctx.codecs)))
        self._timer = asyncio.get_running_loop().call_later(self.service.env.ring_timeout, self._timeout)

    def on_leg_progress(self, leg: Any, status: int, early_media: bool) -> None:
        pass

    def on_leg_answered(self, leg: Any) -> None:
        if self.done:
            leg.hangup("answered elsewhere")
            return
        self.done = True
        self._timer.cancel()
        for other in list(self.forks):
            if other is not leg:
                other.cancel("answered elsewhere")
        call = self.call
        call.a = leg
        leg.listener = call
        call._report(leg, "confirmed")
        route = self.service.router.route(self.target)
        if route.kind != Route.EXTENSION:
            call._fail_caller(404, "failed", "no route")
            return
        self.service._ring_extension(call, route.target)

    def on_leg_failed(self, leg: Any, status: int, reason: str) -> None:
        if leg in self.forks:
            self.forks.remove(leg)
        if not self.forks and not self.done:
            self.done = True
            self._timer.cancel()
            self.call._finish("no answer" if status in (408, 480, 487) else "failed", f"originator {status}")

    def on_leg_ended(self, leg: Any, reason: str) -> None:
        if leg in self.forks and not self.done:
            self.forks.remove(leg)

    def on_leg_hold(self, leg: Any, held: bool) -> None:
        pass

    def on_leg_dtmf(self, leg: Any, digit: str, via: str = "rfc4733") -> None:
        pass

    def _timeout(self) -> None:
        if self.done:
            return
        self.done = True
        for leg in list(self.forks):
            leg.cancel("no answer")
        self.call._finish("no answer", "originator did not answer")
