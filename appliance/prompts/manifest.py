"""The rendered directory's index: manifest.json, one entry per rendered prompt.

Layout of a rendered directory: `<lang>/<prompt id>.wav` (8 kHz mono 16-bit PCM) and
`manifest.json` = {"format": 1, "rate": 8000, "languages": {lang: {"name", "voice", "speed",
"prompts": {id: {"hash", "text", "samples"}}}}}. The hash is the cache key of the prompt's
audio (see render.prompt_hash): a build re-renders exactly the prompts whose key changed.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
FORMAT = 1


def empty() -> dict[str, Any]:
    """A manifest with no languages."""
    return {"format": FORMAT, "rate": 8000, "languages": {}}


def read(root: Path) -> dict[str, Any] | None:
    """The manifest of `root`, or None when there is none (never built) or it is unreadable."""
    path = root / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        log.warning("ignoring unreadable prompt manifest %s: %s", path, err)
        return None
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("languages"), dict):
        log.warning("ignoring prompt manifest %s of an unknown format", path)
        return None
    return data


def write(root: Path, data: dict[str, Any]) -> None:
    """Replace the manifest atomically (temporary file, fsync, rename)."""
    root.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{MANIFEST}.", suffix=".tmp", dir=root)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False, indent=1, sort_keys=True)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, root / MANIFEST)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
