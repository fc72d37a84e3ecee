"""The location service (RFC 3261 §10): which devices are registered for which extension.

In memory, keyed by address-of-record; times are wall-clock epoch seconds because bindings are
persisted and must survive a restart. Each contact remembers the transport address its REGISTER
came from (`peer`): requests to a phone go there, which is what makes phones behind NAT
reachable (the Contact's own host is often a private address).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from .transaction import Peer
from .uri import SipUri


@dataclass
class Contact:
    aor: str
    uri: SipUri
    expires_at: float
    call_id: str
    cseq: int
    peer: Peer
    instance_id: str | None = None
    reg_id: int | None = None
    q: float | None = None
    path: tuple[str, ...] = ()
    user_agent: str | None = None
    registered_at: float = 0.0
    params: dict[str, str | None] = field(default_factory=dict)  # contact header params (e.g. +sip.instance)

    def matches(self, uri: SipUri, instance_id: str | None, reg_id: int | None) -> bool:
        """Same binding: same instance/reg-id (RFC 5626 §6) or an equivalent contact URI."""
        if instance_id is not None and self.instance_id == instance_id:
            return reg_id is None or self.reg_id is None or reg_id == self.reg_id
        return self.uri.equivalent(uri)

    def expires_in(self, now: float) -> int:
        return max(0, int(round(self.expires_at - now)))


ChangeListener = Callable[[str], None]


class LocationService:
    def __init__(self, max_contacts: int = 10):
        self.max_contacts = max_contacts
        self._bindings: dict[str, list[Contact]] = {}
        self._listeners: list[ChangeListener] = []
        self.dirty: set[str] = set()  # AORs whose bindings changed since the last persistence flush

    def subscribe(self, listener: ChangeListener) -> None:
        """Call `listener(aor)` whenever the set of live contacts of an AOR changes."""
        self._listeners.append(listener)

    def lookup(self, aor: str, now: float) -> list[Contact]:
        """Live contacts of an AOR, highest q first, then most recent."""
        contacts = [c for c in self._bindings.get(aor, ()) if c.expires_at > now]
        contacts.sort(key=lambda c: (-(c.q if c.q is not None else 1.0), -c.registered_at))
        return contacts

    def is_registered(self, aor: str, now: float) -> bool:
        return any(c.expires_at > now for c in self._bindings.get(aor, ()))

    def all_contacts(self) -> Iterable[Contact]:
        for contacts in self._bindings.values():
            yield from contacts

    def aors(self) -> list[str]:
        return list(self._bindings)

    def replace(self, aor: str, contacts: list[Contact]) -> None:
        """Make `contacts` the binding set of `aor` (the registrar computed it)."""
        if contacts:
            self._bindings[aor] = contacts
        else:
            self._bindings.pop(aor, None)
        self.dirty.add(aor)
        self._notify(aor)

    def current(self, aor: str) -> list[Contact]:
        """All stored contacts of an AOR, expired ones included (the registrar sorts them out)."""
        return list(self._bindings.get(aor, ()))

    def remove_aor(self, aor: str) -> None:
        if self._bindings.pop(aor, None) is not None:
            self.dirty.add(aor)
            self._notify(aor)

    def purge(self, now: float) -> list[str]:
        """Drop expired contacts; returns the AORs that changed."""
        changed = []
        for aor, contacts in list(self._bindings.items()):
            live = [c for c in contacts if c.expires_at > now]
            if len(live) != len(contacts):
                if live:
                    self._bindings[aor] = live
                else:
                    del self._bindings[aor]
                self.dirty.add(aor)
                changed.append(aor)
        for aor in changed:
            self._notify(aor)
        return changed

    def load(self, contacts: Iterable[Contact]) -> None:
        """Restore bindings read back from the store at start-up (no change events, nothing dirty)."""
        for contact in contacts:
            self._bindings.setdefault(contact.aor, []).append(contact)

    def flows_in_use(self) -> set[int]:
        return {c.peer.flow for cs in self._bindings.values() for c in cs if c.peer.flow is not None}

    def take_dirty(self) -> set[str]:
        dirty, self.dirty = self.dirty, set()
        return dirty

    def _notify(self, aor: str) -> None:
        for listener in self._listeners:
            listener(aor)

    def __len__(self) -> int:
        return sum(len(c) for c in self._bindings.values())
