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
