"""Factory reset of the data directory, safe against power loss at any point.

The data directory is a mount point on the box (/data), so it cannot be renamed away as a whole.
Instead a trash directory inside it is created first; its existence *is* the record that a reset
was asked for. Every entry is moved into it (each rename is atomic, and a half-moved directory only
leaves entries still to move), the trash is deleted, the data directory is initialised again by
`appliance init`, and only then is the trash directory removed. Whoever finds the trash directory
(the console at start-up, or a boot script calling `resume_interrupted_reset`) runs the same steps
again: every step is idempotent, so an interrupted reset always ends as a complete one, never as a
half-wiped box.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from appliance.errors import ApplianceError

log = logging.getLogger(__name__)

TRASH_NAME = ".factory-reset-trash"
INIT_TIMEOUT = 300.0


class FactoryResetError(ApplianceError):
    """The reset stopped before the end; the trash directory remains so that it is finished later."""


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def pending(data_dir: Path) -> bool:
    """True if a factory reset was started here and has not finished."""
    return (data_dir / TRASH_NAME).is_dir()


def move_to_trash(data_dir: Path) -> int:
    """Step 1: record the intent (trash dir) and move every entry into it; returns entries moved."""
    trash = data_dir / TRASH_NAME
    trash.mkdir(exist_ok=True)
    _fsync_dir(data_dir)
    moved = 0
    for entry in sorted(data_dir.iterdir()):
        if entry.name == TRASH_NAME:
            continue
        target = trash / entry.name
        serial = 0
        while target.exists() or target.is_symlink():  # left there by an earlier, interrupted attempt
            serial += 1
            target = trash / f"{entry.name}.{serial}"
        os.rename(entry, target)
        moved += 1
    _fsync_dir(trash)
    _fsync_dir(data_dir)
    return moved


def empty_trash(data_dir: Path) -> None:
    """Step 2: delete what was moved; the trash directory itself stays as the marker."""
    trash = data_dir / TRASH_NAME
    for entry in list(trash.iterdir()):
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def initialise(data_dir: Path, init_command: Sequence[str]) -> None:
    """Step 3: run `appliance init --data DIR` (or the configured equivalent)."""
    argv = [arg.format(data=str(data_dir)) for arg in init_command]
    log.info("factory reset: initialising with %s", argv)
    try:
        done = subprocess.run(
            argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=INIT_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        raise FactoryResetError(f"initialising the data directory failed: {err}") from err
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()[-1:] or [f"exit status {done.returncode}"]
        raise FactoryResetError(f"initialising the data directory failed: {detail[0]}")


def factory_reset(data_dir: Path, init_command: Sequence[str]) -> None:
    """Wipe `data_dir` and initialise it again; resumable after an interruption at any step."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise FactoryResetError(f"data directory {data_dir} does not exist")
    try:
        moved = move_to_trash(data_dir)
        log.warning("factory reset of %s: %d entries moved to %s", data_dir, moved, TRASH_NAME)
        empty_trash(data_dir)
    except OSError as err:
        raise FactoryResetError(f"wiping {data_dir} failed: {err}") from err
    initialise(data_dir, init_command)
    try:
        (data_dir / TRASH_NAME).rmdir()
        _fsync_dir(data_dir)
    except OSError as err:
        raise FactoryResetError(f"finishing the reset of {data_dir} failed: {err}") from err
    log.warning("factory reset of %s complete", data_dir)


def resume_interrupted_reset(data_dir: Path, init_command: Sequence[str]) -> bool:
    """Finish a reset that was interrupted (power loss, crash); True if there was one."""
    if not pending(Path(data_dir)):
        return False
    log.warning("finishing an interrupted factory reset of %s", data_dir)
    factory_reset(Path(data_dir), init_command)
    return True
