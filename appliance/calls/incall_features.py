"""What an answered call does with in-call codes and recording: the Call's asyncio side of `incall.py`.

Each party gets its own matcher (digits of one phone never combine with the other's); digits come from RFC 4733
events reported by the engine and from SIP INFO, and are passed on to the other party by the relay or the Call
as before — nothing here holds them back. Only `record_toggle` is acted on for now; other in-call features
(transfer, conference) plug in through `IN_CALL_FEATURES` and `_act`.

The parties hear what the code did (recording.indications): when recording starts or pauses both hear it;
when the code changed nothing (a `record_calls` recording it cannot stop, or no space to start) only the party
who dialled hears the state that stays in force. A recording started at the answer because of `record_calls`
is announced to both only when the box's `recording.announce` is on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from appliance.recording import indications

from .features import FEATURES
from .incall import InCallMatch, InCallMatcher

log = logging.getLogger(__name__)

__all__ = ["IN_CALL_FEATURES", "InCallFeatures"]

#: The in-call features a Call acts on; codes of the others are not even matched.
IN_CALL_FEATURES = frozenset({"record_toggle"})

#: What a party hears after dialling the recording code, by `CallRecording.toggle`'s outcome, and whether
#: both parties hear it (the recording's state changed) or only the one who dialled (it did not).
_TOGGLE_TONES = {"started": (indications.STARTED, True), "stopped": (indications.PAUSED, True),
                 "kept": (indications.STARTED, False), "refused": (indications.PAUSED, False)}

#: Seconds between the code's last digit and its tone. The engine reports an RFC 4733 digit at the event's
#: first packet, and a tone's player stops the relay towards its phone while it plays: played at once, it
#: would cut off the rest of that event (phones send 100-250 ms of it, then three end packets) on its way to
#: the other party, whose phone would then never see the key released.
TONE_DELAY = 0.3
#: Seconds between the answer and the announcement of a call recorded from it (`recording.announce`): the
#: caller's phone plays only once it has the 200 OK, and a phone behind NAT is sent to only once its own first
#: packet has arrived (symmetric RTP); a beep at the very answer would be lost in part.
ANNOUNCE_DELAY = 0.5


class InCallFeatures:
    """In-call codes and the recording of one call; `call` gives the current legs (`.a`, `.b`) and `.id`."""

    def __init__(self, call: Any, codes: Mapping[str, str], recordings: Any = None) -> None:
        self.call = call
        self.codes = dict(codes)
        self.recordings = recordings  # appliance.recording.service.RecordingService, when recording is on
        self.recording: Any = None     # its CallRecording, once the call is answered
        self._matchers: dict[Any, InCallMatcher] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._tone: asyncio.TimerHandle | None = None  # a tone waiting for its delay (_indicate_later)

    # --- call events --------------------------------------------------------------------------------
    def answered(self, start: float, caller: str, callee: str | None) -> None:
        """The call is answered: prepare its recording and start it when a party's policy says so."""
        if self.recordings is None:
            return
        label = f"call {self.call.id} ({caller} → {callee or '?'})"
        self.recording = self.recordings.for_call(start, caller, callee or "", label)
        if (self.recordings.wanted_by(caller, callee) and self.recording.start(self._endpoints(), forced=True)
                and self.recordings.announce):
            self._indicate_later(indications.STARTED, True, None, ANNOUNCE_DELAY)  # notice to both (D-rec-6)

    def digit(self, leg: Any, digit: str) -> None:
        """A digit one party dialled during the answered call."""
        if not self.codes:
            return
        matcher = self._matchers.get(leg)
        if matcher is None:
            takes_argument = {name for name in self.codes if FEATURES[name].takes_argument}
            matcher = self._matchers[leg] = InCallMatcher(self.codes, takes_argument)
        try:
            matches = matcher.feed(digit, asyncio.get_running_loop().time())
        except ValueError as err:
            log.debug("call %s: ignoring in-call digit: %s", self.call.id, err)
            return
        for match in matches:
            self._act(leg, match)
        self._arm()

    def finish(self) -> asyncio.Future[str | None] | None:
        """The call ended: stop matching and recording; a future of the CDR's `recording` value, or None."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._tone is not None:
            self._tone.cancel()
            self._tone = None
        self._matchers.clear()
        return self.recording.finish() if self.recording is not None else None

    # --- internals ------------------------------------------------------------------------------------
    def _act(self, leg: Any, match: InCallMatch) -> None:
        who = getattr(leg, "user", None) or "the far party"
        if match.feature == "record_toggle":
            if self.recording is None:
                log.info("call %s: %s dialled %s but recording is not available", self.call.id, who, match.code)
                return
            outcome = self.recording.toggle(self._endpoints())
            log.info("call %s: %s dialled %s: recording %s", self.call.id, who, match.code, outcome)
            if outcome in _TOGGLE_TONES:
                self._indicate_later(*_TOGGLE_TONES[outcome], leg, TONE_DELAY)
        else:
            log.debug("call %s: in-call feature %s is not handled", self.call.id, match.feature)

    def _indicate_later(self, tone: Any, both: bool, leg: Any, delay: float) -> None:
        """Play `tone` after `delay` to both parties, or to `leg` only; a newer tone replaces a waiting one."""
        if self._tone is not None:
            self._tone.cancel()

        def play() -> None:
            self._tone = None
            if both:
                indications.indicate(self._endpoints(), tone)
            elif not getattr(leg, "ended", True):
                indications.indicate([leg.endpoint], tone)

        self._tone = asyncio.get_running_loop().call_later(delay, play)

    def _endpoints(self) -> list[Any]:
        """The endpoints whose received audio makes up the conversation: the caller's leg, then the callee's."""
        return [leg.endpoint for leg in (self.call.a, self.call.b) if leg is not None and not leg.ended]

    def _arm(self) -> None:
        """One timer for the earliest pending match of either party (ambiguous or argument codes)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        deadlines = [m.deadline for m in self._matchers.values() if m.deadline is not None]
        if deadlines:
            self._timer = asyncio.get_running_loop().call_at(min(deadlines), self._expired)

    def _expired(self) -> None:
        self._timer = None
        now = asyncio.get_running_loop().time()
        for leg, matcher in list(self._matchers.items()):
            for match in matcher.poll(now):
                self._act(leg, match)
        self._arm()
