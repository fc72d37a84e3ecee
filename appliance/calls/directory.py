"""The extensions as the telephony core sees them: an in-memory copy, refreshed when the store changes.

Every REGISTER, INVITE and SUBSCRIBE looks up a user; reading SQLite for each costs more than the
rest of the request. The copy is refreshed whenever the store's change counter moves (the daemon
checks it every second and on `reload`), so CLI and web edits apply without a restart.
"""

from __future__ import annotations

from typing import Any, Protocol


class ExtensionSource(Protocol):
    def list(self) -> Any: ...

    def version(self) -> int: ...


class ExtensionDirectory:
    def __init__(self, store: ExtensionSource):
        self._store = store
        self._by_number: dict[str, Any] = {}
        self._version: int | None = None
        self.refresh()

    def refresh(self) -> bool:
        """Reload when the store changed; True when it did."""
        version = self._store.version()
        if version == self._version:
            return False
        self._by_number = {ext.number: ext for ext in self._store.list()}
        self._version = version
        return True

    def find(self, number: str) -> Any:
        return self._by_number.get(number)

    def list(self) -> list[Any]:
        return list(self._by_number.values())

    def __len__(self) -> int:
        return len(self._by_number)
