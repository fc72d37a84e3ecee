"""Call-recording files: where they go, and how the per-leg parts become one mono WAV, crash-safely.

While a call is recorded, the engine writes what each leg receives to its own part file under
`<recordings>/.parts/` (its `Recorder`, one WAV per leg and segment). At the end of the call the parts are
mixed — the two directions summed and clipped, segment after segment — into
`<recordings>/YYYY/MM/<uid>.wav` through `WavWriter` (temporary name, fsync, rename, fsync directory), and
only then is the path (relative to the recordings directory, as the web call log resolves it) put in the
CDR. The parts are removed whatever happens. A crash leaves only parts (hidden temporaries) behind: the call
that owned them has no CDR to point at a salvaged file, so `remove_stale_parts` deletes them at start-up.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

import numpy as np

from appliance.media.wav import WavWriter

log = logging.getLogger(__name__)

__all__ = ["MIX_CHUNK", "PARTS_DIR", "RATE", "assemble", "call_uid", "free_bytes", "part_path",
           "recording_relpath", "remove_stale_parts"]

RATE = 8000
PARTS_DIR = ".parts"
MIX_CHUNK = RATE * 30  # samples mixed at a time: an hour-long call never needs more than ~2 MB of memory
_UNSAFE = re.compile(r"[^0-9A-Za-z+]+")


def call_uid(start: float, caller: str, callee: str, token: str) -> str:
    """A file-name-safe unique name for one call's recording: UTC start time, parties, a random token."""
    stamp = datetime.datetime.fromtimestamp(start, datetime.UTC).strftime("%Y%m%d-%H%M%S")
    parties = "-".join(_UNSAFE.sub("_", p)[:32] or "_" for p in (caller, callee))
    return f"{stamp}-{parties}-{token}"


def recording_relpath(start: float, uid: str) -> PurePosixPath:
    """`YYYY/MM/<uid>.wav` (UTC month of the call's start), relative to the recordings directory."""
    day = datetime.datetime.fromtimestamp(start, datetime.UTC)
    return PurePosixPath(f"{day:%Y}", f"{day:%m}", f"{uid}.wav")


def part_path(root: Path, uid: str, segment: int, leg: int) -> Path:
    """Where the engine records leg `leg`'s received audio during segment `segment` of call `uid`."""
    return root / PARTS_DIR / f"{uid}.s{segment}.l{leg}.wav"


def free_bytes(path: Path) -> int:
    """Bytes an unprivileged writer may still use on the filesystem holding `path`."""
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def remove_stale_parts(root: Path) -> int:
    """Delete parts left by a crash (run at start-up, before any call); returns how many were removed."""
    parts = root / PARTS_DIR
    parts.mkdir(parents=True, exist_ok=True)
    removed = 0
    for entry in parts.iterdir():
        try:
            entry.unlink()
            removed += 1
        except OSError as err:
            log.warning("cannot remove stale recording part %s: %s", entry, err)
    if removed:
        log.warning("removed %d recording part(s) of calls cut off by a restart", removed)
    return removed


def assemble(segments: Sequence[Sequence[Path]], target: Path, min_samples: int = 0) -> int:
    """Mix each segment's parts and append the segments into `target`; returns the samples written.

    Parts are PCM16 8 kHz mono WAVs (a missing part is silence; parts of one segment shorter than the
    longest are padded). Nothing is written when there are fewer than `min_samples` samples in all, and
    0 is returned. The parts are deleted in every case.
    """
    try:
        regions = [[_data_region(p) for p in parts] for parts in segments]
        lengths = [max((n for _, n in segment), default=0) for segment in regions]
        total = sum(lengths)
        if total == 0 or total < min_samples:
            return 0
        target.parent.mkdir(parents=True, exist_ok=True)
        with WavWriter(target, RATE) as writer:
            for parts, segment, length in zip(segments, regions, lengths):
                _mix_into(writer, parts, segment, length)
        return total
    finally:
        for parts in segments:
            for part in parts:
                try:
                    part.unlink(missing_ok=True)
                except OSError as err:
                    log.warning("cannot remove recording part %s: %s", part, err)


def _mix_into(writer: WavWriter, parts: Sequence[Path], regions: Sequence[tuple[int, int]], length: int) -> None:
    left = [n for _, n in regions]
    with contextlib.ExitStack() as stack:
        files = [stack.enter_context(open(p, "rb")) if n else None for p, (_, n) in zip(parts, regions)]
        for f, (offset, _) in zip(files, regions):
            if f is not None:
                f.seek(offset)
        for start in range(0, length, MIX_CHUNK):
            size = min(MIX_CHUNK, length - start)
            acc = np.zeros(size, dtype=np.int32)
            for i, f in enumerate(files):
                if f is None or left[i] <= 0:
                    continue
                chunk = np.fromfile(f, dtype="<i2", count=min(size, left[i]))
                left[i] -= len(chunk)
                acc[:len(chunk)] += chunk
            np.minimum(acc, 32767, out=acc)
            np.maximum(acc, -32768, out=acc)
            writer.write(acc.astype(np.int16))


def _data_region(path: Path) -> tuple[int, int]:
    """(offset, samples) of a part's PCM16 data; (0, 0) for a missing or unreadable part (logged)."""
    try:
        with open(path, "rb") as f:
            head = f.read(512)
            size = os.fstat(f.fileno()).st_size
    except FileNotFoundError:
        return 0, 0
    except OSError as err:
        log.warning("recording part %s unreadable: %s", path, err)
        return 0, 0
    at = head.find(b"data", 12)
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE" or at < 0 or head.find(b"fmt ", 12) < 0:
        log.warning("recording part %s is not a WAV file; left out", path)
        return 0, 0
    offset = at + 8
    declared = int.from_bytes(head[at + 4:at + 8], "little")
    available = size - offset
    # A header still saying 0 (never finished) means "up to the end of the file", as streaming writers do.
    data = available if declared == 0 or declared > available else declared
    return offset, max(0, data) // 2
