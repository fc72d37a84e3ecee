"""One call of a test phone, as seen from pytest: commands on the call and waits on its events."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

if TYPE_CHECKING:
    from tests.phones.phone import Phone


class PhoneCall:
    """A call leg of a ``Phone``, named by the agent's handle ("c1", …; never reused within a phone)."""

    def __init__(self, phone: Phone, handle: str, direction: str, incoming: dict[str, Any] | None) -> None:
        self.phone = phone
        self.id = handle
        self.direction = direction
        self.incoming = incoming or {}
        self._dtmf_taken = 0
        self._recording: Path | None = None

    def __repr__(self) -> str:
        return f"<PhoneCall {self.phone.name}/{self.id} {self.direction} {self.state}>"

    # -- what the incoming INVITE said --------------------------------------------------------------------
    @property
    def remote_uri(self) -> str:
        return str(self.incoming.get("remote_uri", ""))

    def header(self, name: str) -> str | None:
        """First value of a header of the incoming INVITE (case-insensitive), None when absent."""
        for hname, value in self.incoming.get("headers", []):
            if hname.lower() == name.lower():
                return str(value)
        return None

    # -- commands -----------------------------------------------------------------------------------------
    def _cmd(self, cmd: str, **args: Any) -> dict[str, Any]:
        return self.phone.command(cmd, call=self.id, **args)

    def answer(self, code: int = 200, headers: dict[str, str] | None = None) -> None:
        self._cmd("answer", code=code, headers=headers or {})

    def ringing(self, code: int = 180) -> None:
        """Send 180 Ringing (or 183 Session Progress, which carries SDP: early media)."""
        self._cmd("ringing", code=code)

    def reject(self, code: int = 486, headers: dict[str, str] | None = None) -> None:
        self._cmd("reject", code=code, headers=headers or {})

    def hangup(self, code: int = 0) -> None:
        """BYE when confirmed, CANCEL when still ringing out, 603 (or ``code``) when ringing in."""
        self._cmd("hangup", code=code)

    def hold(self) -> None:
        self._cmd("hold")

    def unhold(self) -> None:
        self._cmd("unhold")

    def update(self) -> None:
        """Send UPDATE with a fresh SDP offer (RFC 3311)."""
        self._cmd("update")

    def send_dtmf(self, digits: str, method: str = "rfc2833", duration: int = 160) -> None:
        """method: "rfc2833" (telephone-event), "info" (application/dtmf-relay) or "inband" (tones)."""
        self._cmd("send_dtmf", digits=digits, method=method, duration=duration)

    def play_tone(self, freqs: int | Iterable[int], on_ms: int | None = None, off_ms: int = 0,
                  loop: bool = True, volume: int = 0) -> None:
        """Send a tone of one or two frequencies; continuous unless ``on_ms`` (≤ 32767) is given."""
        freq_list = [freqs] if isinstance(freqs, int) else list(freqs)
        self._cmd("play_tone", freqs=freq_list, on_ms=on_ms, off_ms=off_ms, loop=loop, volume=volume)

    def stop_tone(self) -> None:
        self._cmd("stop_tone")

    def play_wav(self, path: str | Path, loop: bool = False) -> None:
        self._cmd("play_wav", path=str(Path(path).resolve()), loop=loop)

    def stop_wav(self) -> None:
        self._cmd("stop_wav")

    def record(self, path: str | Path) -> Path:
        """Record what this phone hears (16-bit PCM WAV at 16 kHz) until stop_recording() or hang-up."""
        target = Path(path).resolve()
        target.parent.mkdir(parents=True, exist_ok=True)
        self._cmd("start_recording", path=str(target))
        self._recording = target
        return target

    def stop_recording(self) -> Path:
        """Stop and finalise the recording; returns its path (also fine after the call ended)."""
        if self._recording is None:
            raise AssertionError(f"{self!r}: stop_recording() without record()")
        path, self._recording = self._recording, None
        stopped = [e for e in self.phone.events("recording_stopped") if e["call"] == self.id]
        if not stopped and self.state != "disconnected":
            self._cmd("stop_recording")
        return path

    def transfer(self, target: str) -> None:
        """Blind transfer: REFER the far end to ``target``."""
        self._cmd("transfer", target=target)

    def wait_transferred(self, timeout: float = 5.0) -> PhoneCall:
        """The new call this phone placed because the far end transferred it (REFER received)."""
        request = self.wait_event("transfer_request", timeout)
        return self.phone._call_for(request["new_call"], "outgoing", None)

    def transfer_attended(self, other: PhoneCall) -> None:
        """Attended transfer: REFER with Replaces pointing at ``other`` (a call of the same phone)."""
        self._cmd("transfer_attended", other=other.id)

    def send_request(self, method: str, body: str = "", content_type: str = "",
                     headers: dict[str, str] | None = None) -> None:
        """Send an in-dialog request (INFO, MESSAGE, …)."""
        self._cmd("send_request", method=method, body=body, content_type=content_type, headers=headers or {})

    # -- state --------------------------------------------------------------------------------------------
    def _mine(self, event: str) -> list[dict[str, Any]]:
        return [e for e in self.phone.events(event) if e.get("call") == self.id]

    @property
    def states(self) -> list[str]:
        return [e["state"] for e in self._mine("call_state")]

    @property
    def state(self) -> str:
        states = self.states
        return states[-1] if states else "null"

    @property
    def last_status_code(self) -> int:
        events = self._mine("call_state")
        return int(events[-1]["code"]) if events else 0

    @property
    def last_reason(self) -> str:
        events = self._mine("call_state")
        return str(events[-1]["reason"]) if events else ""

    @property
    def media_status(self) -> str:
        events = self._mine("media_state")
        return str(events[-1]["status"]) if events else "none"

    @property
    def codec(self) -> str:
        """Codec of the audio stream, e.g. "PCMU/8000" ("" before media)."""
        events = [e for e in self._mine("media_state") if e.get("codec")]
        return str(events[-1]["codec"]) if events else ""

    @property
    def dtmf_received(self) -> list[tuple[str, str]]:
        """All DTMF digits received so far, as (digit, method)."""
        return [(e["digit"], e["method"]) for e in self._mine("dtmf_received")]

    # -- waits --------------------------------------------------------------------------------------------
    def wait_state(self, name: str, timeout: float = 5.0) -> dict[str, Any]:
        """The call_state event with this state ("early", "confirmed", "disconnected", …), past or future.

        Fails at once if the call ends first, with its final status in the message.
        """

        def check() -> dict[str, Any] | None:
            for event in self.phone._events:
                if event["event"] != "call_state" or event.get("call") != self.id:
                    continue
                if event["state"] == name:
                    return event
                if event["state"] == "disconnected":
                    raise AssertionError(self.phone._report(
                        f"call {self.id} ended ({event['code']} {event['reason']}) before reaching {name!r}"))
            return None

        return self.phone._wait(check, timeout, f"call {self.id} state {name!r}")

    def wait_confirmed(self, timeout: float = 5.0) -> dict[str, Any]:
        return self.wait_state("confirmed", timeout)

    def wait_disconnected(self, timeout: float = 5.0) -> dict[str, Any]:
        return self.wait_state("disconnected", timeout)

    def wait_media(self, status: str = "active", timeout: float = 5.0) -> dict[str, Any]:
        """Wait until the call's latest media state is ``status`` ("active", "local_hold", "remote_hold")."""

        def check() -> dict[str, Any] | None:
            mine = [e for e in self.phone._events if e["event"] == "media_state" and e.get("call") == self.id]
            return mine[-1] if mine and mine[-1]["status"] == status else None

        return self.phone._wait(check, timeout, f"call {self.id} media {status!r}")

    def wait_dtmf(self, n: int = 1, timeout: float = 5.0) -> str:
        """The next ``n`` received DTMF digits not returned by an earlier wait_dtmf()."""
        start = self._dtmf_taken

        def check() -> str | None:
            digits = [e["digit"] for e in self.phone._events
                      if e["event"] == "dtmf_received" and e.get("call") == self.id]
            return "".join(digits[start:start + n]) if len(digits) >= start + n else None

        digits = self.phone._wait(check, timeout, f"{n} DTMF digit(s) on call {self.id}")
        self._dtmf_taken += n
        return digits

    def wait_event(self, event: str, timeout: float = 5.0, **fields: Any) -> dict[str, Any]:
        """First event of this call of a kind ("transfer_status", "request", …) matching ``fields``."""
        return self.phone.wait_event(event, timeout, call=self.id, **fields)
