"""The firmware release line post-build.sh writes, as the console and first boot read it."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.firmware import FirmwareRelease, read_release


def test_release_line_names_version_and_board() -> None:
    release = FirmwareRelease.parse("0.1.0+g1a2b3c4-dirty raspberrypi4_64\n")
    assert (release.version, release.board) == ("0.1.0+g1a2b3c4-dirty", "raspberrypi4_64")
    assert str(release) == "0.1.0+g1a2b3c4-dirty (raspberrypi4_64)"


def test_a_bare_version_has_no_board() -> None:
    assert str(FirmwareRelease.parse("\n2025.06-test\n")) == "2025.06-test"


def test_an_empty_release_file_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        FirmwareRelease.parse(" \n\n")


def test_a_missing_or_empty_file_reads_as_no_release(tmp_path: Path) -> None:
    assert read_release(tmp_path / "absent") is None
    (tmp_path / "version").write_text("")
    assert read_release(tmp_path / "version") is None
