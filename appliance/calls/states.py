"""Extension status (idle, ringing, in use, unavailable) and the dialogs behind it, for BLF and the web.

Calls report each leg that touches an extension; registrations report reachability. Listeners
(the `dialog` event package server, the web UI's status page) hear about every change of an
extension's dialogs, because BLF NOTIFYs carry the dialog list, not just the summary.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum


class Status(Enum):
    IDLE = "idle"
    RINGING = "ringing"
    IN_USE = "in use"
    UNAVAILABLE = "unavailable"


@dataclass
class DialogInfo:
    """One dialog of an extension as RFC 4235 describes it."""

    id: str
    call_id: str
    local_tag: str | None
    remote_tag: str | None
    direction: str  # "initiator" (the extension called) or "recipient" (it is being called)
    state: str  # "trying", "early", "confirmed", "terminated"
    remote_identity: str = ""
    remote_display: str | None = None
    local_identity: str = ""


# Called with the extension and, when a dialog just ended, that dialog (BLF shows the "terminated" state).
Listener = Callable[[str, "DialogInfo | None"], None]


class ExtensionStates:
    def __init__(self, is_registered: Callable[[str], bool]):
        self._is_registered = is_registered
        self._dialogs: dict[str, dict[str, DialogInfo]] = {}
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def update(self, extension: str, info: DialogInfo) -> None:
        """Add or change one dialog of an extension ("terminated" removes it after telling listeners)."""
        dialogs = self._dialogs.setdefault(extension, {})
        if info.state == "terminated":
            if dialogs.pop(info.id, None) is None:
                return
            if not dialogs:
                del self._dialogs[extension]
            self._notify(extension, terminated=info)
            return
        old = dialogs.get(info.id)
        if old == info:
            return
        dialogs[info.id] = info
        self._notify(extension)

    def registration_changed(self, extension: str) -> None:
        self._notify(extension)

    def dialogs(self, extension: str) -> list[DialogInfo]:
        return list(self._dialogs.get(extension, {}).values())

    def status(self, extension: str) -> Status:
        dialogs = self._dialogs.get(extension)
        if dialogs:
            if any(d.state == "confirmed" or d.direction == "initiator" for d in dialogs.values()):
                return Status.IN_USE
            return Status.RINGING
        return Status.IDLE if self._is_registered(extension) else Status.UNAVAILABLE

    def busy(self, extension: str) -> bool:
        """In a call already (PBX-side busy detection for call waiting and forwarding rules)."""
        return any(d.state == "confirmed" for d in self._dialogs.get(extension, {}).values())

    def _notify(self, extension: str, terminated: DialogInfo | None = None) -> None:
        for listener in self._listeners:
            listener(extension, terminated)
