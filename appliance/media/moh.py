"""The default music on hold: a short, gentle melody generated on first start.

Shipping a recording would need a licence; a generated arpeggio needs nothing and its notes are
known frequencies, which lets the tests recognise "music on hold" at the far end. An administrator
replaces it by uploading a WAV file.
"""

from __future__ import annotations

import io
import wave
from pathlib import Path

import numpy as np

RATE = 8000
# A broken C-major arpeggio (C5 E5 G5 C6 G5 E5), 300 ms per note.
NOTES_HZ = (523.25, 659.25, 783.99, 1046.50, 783.99, 659.25)
NOTE_SECONDS = 0.3


def melody(repeats: int = 4, amplitude: float = 0.25) -> np.ndarray:
    """The melody as 8 kHz int16 samples, each note with a soft attack and release (no clicks)."""
    n = int(RATE * NOTE_SECONDS)
    t = np.arange(n) / RATE
    ramp = min(n // 6, 240)
    envelope = np.ones(n)
    envelope[:ramp] = np.linspace(0.0, 1.0, ramp)
    envelope[-ramp:] = np.linspace(1.0, 0.0, ramp)
    notes = [np.sin(2 * np.pi * f * t) * envelope for f in NOTES_HZ]
    signal = np.concatenate(notes * repeats) * amplitude * 32767
    return signal.astype(np.int16)


def ensure_default_moh(path: Path) -> Path:
    """Write the default melody to `path` unless a file is already there; returns the path."""
    if path.exists():
        return path
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(melody().tobytes())
    from appliance.datadir import atomic_write  # noqa: PLC0415 - avoid an import cycle at module load

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, buffer.getvalue())
    return path
