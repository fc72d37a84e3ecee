"""Factory reset of a data directory, and its recovery from an interruption at every step."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from appliance.console import factory_reset as fr
from appliance.console.factory_reset import TRASH_NAME, FactoryResetError, factory_reset, resume_interrupted_reset

INIT = (
    sys.executable,
    "-c",
    "import sys, pathlib; pathlib.Path(sys.argv[1], 'pbx.sqlite3').write_text('fresh')",
    "{data}",
)


def populate(data: Path) -> None:
    (data / "pbx.sqlite3").write_text("old")
    (data / "pbx.sqlite3-wal").write_text("old wal")
    (data / "voicemail" / "1001").mkdir(parents=True)
    (data / "voicemail" / "1001" / "msg.wav").write_bytes(b"RIFF")
    (data / "tls").mkdir()
    (data / "tls" / "server.key").write_text("secret")
    os.symlink("/nonexistent", data / "dangling")


def assert_fresh(data: Path) -> None:
    assert sorted(p.name for p in data.iterdir()) == ["pbx.sqlite3"]
    assert (data / "pbx.sqlite3").read_text() == "fresh"


def test_reset_wipes_everything_and_initialises(tmp_path: Path) -> None:
    populate(tmp_path)
    factory_reset(tmp_path, INIT)
    assert_fresh(tmp_path)
    assert not fr.pending(tmp_path)


def test_nothing_to_resume_when_no_reset_was_started(tmp_path: Path) -> None:
    populate(tmp_path)
    assert resume_interrupted_reset(tmp_path, INIT) is False
    assert (tmp_path / "pbx.sqlite3").read_text() == "old"


def test_interrupted_while_moving_entries_is_finished_later(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    populate(tmp_path)
    real_rename = os.rename
    calls = {"n": 0}

    def power_cut_after_two(src: object, dst: object) -> None:
        calls["n"] += 1
        if calls["n"] > 2:
            raise OSError(5, "Input/output error")
        real_rename(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(fr.os, "rename", power_cut_after_two)
    with pytest.raises(FactoryResetError, match="wiping"):
        factory_reset(tmp_path, INIT)
    monkeypatch.undo()
    assert fr.pending(tmp_path)
    assert (tmp_path / "tls" / "server.key").exists()  # not yet moved: the box is half-way, and knows it
    assert resume_interrupted_reset(tmp_path, INIT) is True
    assert_fresh(tmp_path)


def test_interrupted_while_deleting_is_finished_later(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    populate(tmp_path)

    def failing_rmtree(path: object) -> None:
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(fr.shutil, "rmtree", failing_rmtree)
    with pytest.raises(FactoryResetError):
        factory_reset(tmp_path, INIT)
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir()] == [TRASH_NAME]
    resume_interrupted_reset(tmp_path, INIT)
    assert_fresh(tmp_path)


def test_failed_initialisation_keeps_the_marker_and_a_retry_finishes(tmp_path: Path) -> None:
    populate(tmp_path)
    with pytest.raises(FactoryResetError, match="boom"):
        factory_reset(tmp_path, (sys.executable, "-c", "import sys; sys.exit('boom')"))
    assert fr.pending(tmp_path)
    resume_interrupted_reset(tmp_path, INIT)
    assert_fresh(tmp_path)


def test_half_done_initialisation_is_wiped_again_on_resume(tmp_path: Path) -> None:
    """Power lost while `appliance init` ran: its partial output is factory state, redone from scratch."""
    populate(tmp_path)
    fr.move_to_trash(tmp_path)
    fr.empty_trash(tmp_path)
    (tmp_path / "pbx.sqlite3").write_text("half written")
    (tmp_path / TRASH_NAME / "pbx.sqlite3").write_text("left from an earlier attempt")
    resume_interrupted_reset(tmp_path, INIT)
    assert_fresh(tmp_path)


def test_missing_init_command_is_reported(tmp_path: Path) -> None:
    with pytest.raises(FactoryResetError, match="initialising the data directory failed"):
        factory_reset(tmp_path, (str(tmp_path / "no-such-appliance"), "init"))
    assert fr.pending(tmp_path)


def test_missing_data_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FactoryResetError, match="does not exist"):
        factory_reset(tmp_path / "nope", INIT)
