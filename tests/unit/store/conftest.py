"""Fixtures for the store tests: a migrated, unseeded database in a temporary directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlite_utils import Database

from appliance.store import initialize_database


class FakeClock:
    """A wall clock the test moves by hand."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "pbx.sqlite3"


@pytest.fixture
def db(db_path: Path, clock: FakeClock) -> Iterator[Database]:
    database = initialize_database(db_path, seed=False, clock=clock)
    yield database
    database.close()
