"""Integration fixtures: a real pbxd on loopback with a few extensions, and phones registered to it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.store import ExtensionStore, SettingsStore, open_database
from tests.integration.pbx import PbxProcess

EXTENSIONS = ("2001", "2002", "2003")


class Pbx(PbxProcess):
    """PbxProcess plus shortcuts for the tests: secrets by number, settings, registered phones."""

    def __init__(self, data: Path):
        super().__init__(data)
        self.secrets: dict[str, str] = {}

    def add_extension(self, number: str, secret: str | None = None, name: str | None = None) -> str:
        secret = secret or f"pw-{number}-secret"
        db = open_database(self.data / "pbx.sqlite3")
        try:
            ExtensionStore(db).add(number, name or f"User {number}", secret)
        finally:
            db.conn.close()
        self.secrets[number] = secret
        return secret

    def set_extension(self, number: str, **changes: object) -> None:
        """Change extension fields in the store; a running daemon is told to reload at once."""
        db = open_database(self.data / "pbx.sqlite3")
        try:
            ExtensionStore(db).update(number, **changes)
        finally:
            db.conn.close()
        if self.proc is not None:
            self.control("reload")

    def set_setting(self, key: str, value: object) -> None:
        db = open_database(self.data / "pbx.sqlite3")
        try:
            SettingsStore(db).set(key, value)
        finally:
            db.conn.close()

    def register(self, phone, number: str, transport: str = "udp", **kw):
        """Register `phone` as `number` over `transport` and wait for the 200."""
        port = self.tls_port if transport == "tls" else self.sip_port
        phone.register(f"127.0.0.1:{port}", number, self.secrets[number], transport=transport, **kw)
        phone.wait_registered(5)
        return phone

    def uri(self, number: str) -> str:
        return f"sip:{number}@{self.address}"


def answered_call(pbx: Pbx, phone_factory, caller: str = "2001", callee: str = "2002"):
    """Two phones registered, a call from `caller` to `callee` answered: (call, incoming, caller, callee)."""
    alice, bob = phone_factory.many("alice", "bob")
    pbx.register(alice, caller)
    pbx.register(bob, callee)
    call = alice.call(pbx.uri(callee))
    incoming = bob.wait_incoming(5)
    incoming.answer()
    call.wait_confirmed(5)
    return call, incoming, alice, bob


@pytest.fixture
def pbx_factory(tmp_path: Path) -> Iterator:
    """Make (not start) a daemon; tweak settings, then `.start()`. Always stopped after the test."""
    made: list[Pbx] = []

    def make(name: str = "data", extensions: tuple[str, ...] = EXTENSIONS) -> Pbx:
        pbx = Pbx(tmp_path / name)
        for number in extensions:
            pbx.add_extension(number)
        made.append(pbx)
        return pbx

    yield make
    for pbx in made:
        pbx.stop()


@pytest.fixture
def pbx(pbx_factory) -> Pbx:
    """A running daemon with extensions 2001, 2002, 2003."""
    return pbx_factory().start()


@pytest.fixture
def vm_pbx(pbx_factory) -> Pbx:
    """A running daemon whose unanswered calls go to voicemail after 3 s instead of 30."""
    pbx = pbx_factory()
    pbx.set_setting("ring_timeout", 3)
    return pbx.start()
