"""The firmware release the box runs, as board/common/post-build.sh records it in the root filesystem.

post-build.sh writes one line, `<package version>+<git describe> <board>` (for example
`0.1.0+g1a2b3c4 raspberrypi4_64`), to RELEASE_FILE. The installer console shows it, S02firstboot
re-runs `appliance init` when it changes, and the updater compares it; all of them read this one path.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

#: Written at build time (read-only root); S02firstboot's VERSION_FILE names the same file.
RELEASE_FILE = Path("/etc/pbx/version")


@dataclass(frozen=True)
class FirmwareRelease:
    """The version string and, when recorded, the board the image was built for."""

    version: str
    board: str | None = None

    @classmethod
    def parse(cls, text: str) -> FirmwareRelease:
        """The first line of the release file; ValueError when there is none."""
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if not lines:
            raise ValueError("the firmware release file is empty")
        version, _, board = lines[0].partition(" ")
        return cls(version, board.strip() or None)

    def __str__(self) -> str:
        return f"{self.version} ({self.board})" if self.board else self.version


def read_release(path: Path = RELEASE_FILE) -> FirmwareRelease | None:
    """The release the box runs, or None on a development host (no file) or an unreadable one (logged)."""
    try:
        return FirmwareRelease.parse(path.read_text(encoding="utf-8", errors="replace"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        log.warning("cannot read the firmware release from %s: %s", path, err)
        return None
