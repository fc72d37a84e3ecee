"""Shared pytest fixtures: test phones that are always closed, even when a test fails."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

# `tests` is a package (tests/__init__.py) so that tests can `from tests.phones import Phone`; make the
# repository root importable whatever --import-mode or working directory pytest was started with.
_ROOT = str(Path(__file__).resolve().parents[1])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from tests.phones import Phone  # noqa: E402


class PhoneFactory:
    """Starts phones for one test and closes them all at its end; logs go under the test's tmp_path."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.phones: list[Phone] = []

    def __call__(self, name: str, **kwargs: Any) -> Phone:
        """Start one phone and wait until it is ready (see ``Phone.start`` for the keyword arguments)."""
        return self.many(name, **kwargs)[0]

    def many(self, *names: str, timeout: float = 15.0, **kwargs: Any) -> list[Phone]:
        """Start several phones at once (their processes boot in parallel)."""
        kwargs.setdefault("log_dir", self.log_dir)
        started = [Phone.spawn(name, **kwargs) for name in names]
        self.phones.extend(started)
        for phone in started:
            phone.wait_ready(timeout)
        return started

    def close_all(self) -> None:
        for phone in self.phones:
            phone.close()


@pytest.fixture
def phone_factory(tmp_path: Path) -> Iterator[PhoneFactory]:
    """``phone_factory("alice", transports=("udp", "tcp"))`` → a ready Phone, closed after the test."""
    factory = PhoneFactory(tmp_path / "phones")
    try:
        yield factory
    finally:
        factory.close_all()


_HOST_FILES = (Path("/etc/resolv.conf"), Path("/etc/hosts"))


def _read_host_file(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


@pytest.fixture(autouse=True)
def host_configuration_untouched() -> Iterator[None]:
    """Tests configure networks only inside namespaces and temporary directories they own.

    `ip netns exec` shares the host's /etc, so a network apply run there without APPLIANCE_RESOLV_CONF once
    replaced this machine's resolv.conf and cut it off from its package registries. Any such change fails
    the test (or one running beside it under xdist) and is undone at once.
    """
    before = {path: _read_host_file(path) for path in _HOST_FILES}
    yield
    changed = [path for path, content in before.items() if _read_host_file(path) != content]
    for path in changed:
        content = before[path]
        if content is not None:
            path.write_bytes(content)
    assert not changed, f"the host's {', '.join(map(str, changed))} changed during this test (restored)"
