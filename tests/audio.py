"""Audio analysis for test assertions: read WAV files and find tones, silence and frequencies in them.

Independent of the product's media code on purpose (it checks it). Reads the files pjsua2's recorder writes
(16-bit PCM, mono, at the conference bridge clock: 16 kHz) and any other PCM/float/G.711 WAV, including one
whose header sizes were never finalised (a recorder that was not destroyed leaves data size 0).

Tone detection works on fixed blocks (default 50 ms): a block holds a frequency when the Goertzel power at that
exact frequency is a large share of the block's energy and the block is louder than a noise floor.
"""

from __future__ import annotations

import math
import struct
from pathlib import Path

import numpy as np

BLOCK_SECONDS = 0.05
MIN_SHARE = 0.25  # share of a block's energy at the frequency; a pure tone gives ~1, each half of a dual tone ~0.5
FLOOR_DBFS = -50.0

_FMT_PCM, _FMT_FLOAT, _FMT_ALAW, _FMT_ULAW, _FMT_EXTENSIBLE = 1, 3, 6, 7, 0xFFFE


def _ulaw_table() -> np.ndarray:
    codes = ~np.arange(256, dtype=np.int32) & 0xFF
    exponent = (codes >> 4) & 0x07
    magnitude = (((codes & 0x0F) << 3) + 0x84) << exponent
    values = magnitude - 0x84
    return np.where(codes & 0x80, -values, values).astype(np.float64) / 32768.0


def _alaw_table() -> np.ndarray:
    codes = np.arange(256, dtype=np.int32) ^ 0x55
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    values = np.where(exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << np.maximum(exponent - 1, 0))
    return np.where(codes & 0x80, values, -values).astype(np.float64) / 32768.0


def read_wav_mono(path: str | Path) -> tuple[np.ndarray, int]:
    """Samples as float64 in [-1, 1) (channels averaged) and the sample rate."""
    data = Path(path).read_bytes()
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError(f"{path}: not a RIFF/WAVE file")
    fmt: tuple[int, int, int, int] | None = None
    pos = 12
    while pos + 8 <= len(data):
        chunk_id, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        body_start = pos + 8
        if chunk_id == b"fmt ":
            tag, channels, rate = struct.unpack("<HHI", data[body_start:body_start + 8])
            bits = struct.unpack("<H", data[body_start + 14:body_start + 16])[0]
            if tag == _FMT_EXTENSIBLE and size >= 40:
                tag = struct.unpack("<H", data[body_start + 24:body_start + 26])[0]
            fmt = (tag, channels, rate, bits)
        elif chunk_id == b"data":
            if fmt is None:
                raise ValueError(f"{path}: data chunk before fmt chunk")
            # An unfinalised header says 0 (or too much): take the rest of the file instead.
            end = len(data) if size == 0 or body_start + size > len(data) else body_start + size
            return _decode(data[body_start:end], *fmt, path=path)
        pos = body_start + size + (size & 1)
    raise ValueError(f"{path}: no data chunk")


def _decode(raw: bytes, tag: int, channels: int, rate: int, bits: int, path: str | Path) -> tuple[np.ndarray, int]:
    width = bits // 8
    raw = raw[:len(raw) - len(raw) % (width * channels)]
    if tag == _FMT_PCM and bits == 8:
        samples = (np.frombuffer(raw, np.uint8).astype(np.float64) - 128.0) / 128.0
    elif tag == _FMT_PCM and bits in (16, 32):
        samples = np.frombuffer(raw, f"<i{width}").astype(np.float64) / float(1 << (bits - 1))
    elif tag == _FMT_PCM and bits == 24:
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        ints = (b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)) << 8 >> 8
        samples = ints.astype(np.float64) / float(1 << 23)
    elif tag == _FMT_FLOAT and bits in (32, 64):
        samples = np.frombuffer(raw, f"<f{width}").astype(np.float64)
    elif tag in (_FMT_ULAW, _FMT_ALAW) and bits == 8:
        table = _ulaw_table() if tag == _FMT_ULAW else _alaw_table()
        samples = table[np.frombuffer(raw, np.uint8)]
    else:
        raise ValueError(f"{path}: unsupported WAV format tag {tag} with {bits} bits")
    if channels > 1:
        samples = samples.reshape(-1, channels).mean(axis=1)
    return samples, rate


def write_wav(path: str | Path, samples: np.ndarray, rate: int) -> Path:
    """Write float samples in [-1, 1] as 16-bit mono PCM (for fixtures and synthetic tests)."""
    pcm = np.clip(np.round(np.asarray(samples) * 32767.0), -32768, 32767).astype("<i2").tobytes()
    header = struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + len(pcm), b"WAVE", b"fmt ", 16, _FMT_PCM, 1,
                         rate, rate * 2, 2, 16, b"data", len(pcm))
    target = Path(path)
    target.write_bytes(header + pcm)
    return target


def tone(freqs: float | list[float], seconds: float, rate: int = 16000, amplitude: float = 0.5) -> np.ndarray:
    """A synthetic tone (sum of sines sharing ``amplitude``), for building test signals."""
    t = np.arange(int(round(seconds * rate))) / rate
    parts = [freqs] if isinstance(freqs, (int, float)) else list(freqs)
    return sum(np.sin(2 * np.pi * f * t) for f in parts) * (amplitude / len(parts))  # type: ignore[return-value]


def tone_power(samples: np.ndarray, rate: int, freq: float) -> float:
    """Power of the ``freq`` component (Goertzel at that exact frequency); a sine of amplitude A gives A²/2."""
    n = len(samples)
    if n == 0:
        return 0.0
    w = 2.0 * math.pi * freq / rate
    coeff = 2.0 * math.cos(w)
    s1 = s2 = 0.0
    for x in np.asarray(samples, dtype=np.float64).tolist():
        s1, s2 = x + coeff * s1 - s2, s1
    real = s1 - s2 * math.cos(w)
    imag = s2 * math.sin(w)
    return 2.0 * (real * real + imag * imag) / (n * n)


def _block_powers(samples: np.ndarray, rate: int, freqs: list[float],
                  block_seconds: float) -> tuple[np.ndarray, np.ndarray, int]:
    """Per block: mean square, and power at each frequency (vectorised Goertzel via a DTFT at that bin)."""
    size = max(1, int(round(block_seconds * rate)))
    count = len(samples) // size
    blocks = np.asarray(samples[:count * size], dtype=np.float64).reshape(count, size)
    mean_square = (blocks ** 2).mean(axis=1)
    n = np.arange(size)
    basis = np.exp(-2j * np.pi * np.outer(freqs, n) / rate)  # (freqs, size)
    spectrum = blocks @ basis.T  # (count, freqs)
    return mean_square, 2.0 * np.abs(spectrum) ** 2 / (size * size), size


def rms_dbfs(samples: np.ndarray) -> float:
    """RMS level in dB relative to full scale (a full-scale sine is -3 dBFS); -inf for digital silence."""
    if len(samples) == 0:
        return float("-inf")
    ms = float(np.mean(np.asarray(samples, dtype=np.float64) ** 2))
    return 10.0 * math.log10(ms) if ms > 0 else float("-inf")


def tone_segments(path: str | Path, freqs: list[float], block_seconds: float = BLOCK_SECONDS,
                  min_share: float = MIN_SHARE, floor_dbfs: float = FLOOR_DBFS,
                  bridge_gaps: float = 0.0) -> list[tuple[float, float, float]]:
    """Stretches of the file holding each frequency, as (start, end, freq) in seconds, sorted by start.

    Gaps up to ``bridge_gaps`` seconds inside one frequency's presence are joined.
    """
    samples, rate = read_wav_mono(path)
    return segments_in(samples, rate, freqs, block_seconds, min_share, floor_dbfs, bridge_gaps)


def segments_in(samples: np.ndarray, rate: int, freqs: list[float], block_seconds: float = BLOCK_SECONDS,
                min_share: float = MIN_SHARE, floor_dbfs: float = FLOOR_DBFS,
                bridge_gaps: float = 0.0) -> list[tuple[float, float, float]]:
    """``tone_segments`` on samples already in memory."""
    if not freqs or len(samples) == 0:
        return []
    mean_square, powers, size = _block_powers(samples, rate, list(freqs), block_seconds)
    loud = mean_square > 10.0 ** (floor_dbfs / 10.0)
    step = size / rate
    segments: list[tuple[float, float, float]] = []
    for column, freq in enumerate(freqs):
        present = loud & (powers[:, column] >= min_share * np.maximum(mean_square, 1e-300))
        start: int | None = None
        runs: list[list[float]] = []
        for index, flag in enumerate([*present.tolist(), False]):
            if flag and start is None:
                start = index
            elif not flag and start is not None:
                begin, end = start * step, index * step
                if runs and begin - runs[-1][1] <= bridge_gaps + 1e-9:
                    runs[-1][1] = end
                else:
                    runs.append([begin, end])
                start = None
        segments.extend((round(b, 6), round(e, 6), float(freq)) for b, e in runs)
    return sorted(segments)


def tone_seconds(path: str | Path, freq: float, start: float | None = None, end: float | None = None,
                 block_seconds: float = BLOCK_SECONDS) -> float:
    """How long ``freq`` is heard in total, within [start, end] seconds of the file when given."""
    samples, rate = read_wav_mono(path)
    first = int((start or 0.0) * rate)
    last = len(samples) if end is None else int(end * rate)
    found = segments_in(samples[first:last], rate, [freq], block_seconds)
    return sum(e - b for b, e, _ in found)


def has_tone(path: str | Path, freq: float, min_seconds: float, start: float | None = None,
             end: float | None = None, block_seconds: float = BLOCK_SECONDS) -> bool:
    """Whether ``freq`` is heard for at least ``min_seconds`` in total (within [start, end] when given).

    A total, not one unbroken stretch: a loaded test machine can starve a phone's audio clock for a few
    frames, and such a dropout must not fail a test about whether audio got through. Use
    ``tone_segments`` to check cadences.
    """
    return tone_seconds(path, freq, start, end, block_seconds) + 1e-9 >= min_seconds


def dominant_frequency(samples: np.ndarray, rate: int) -> float:
    """Frequency of the strongest spectral peak (Hann window, parabolic interpolation), 0.0 for silence."""
    x = np.asarray(samples, dtype=np.float64)
    if len(x) < 4 or not np.any(x):
        return 0.0
    spectrum = np.abs(np.fft.rfft((x - x.mean()) * np.hanning(len(x))))
    k = int(np.argmax(spectrum[1:]) + 1)
    if 1 <= k < len(spectrum) - 1:
        a, b, c = np.log(spectrum[k - 1:k + 2] + 1e-300)
        denom = a - 2 * b + c
        k_frac = k + (0.5 * (a - c) / denom if denom != 0 else 0.0)
    else:
        k_frac = float(k)
    return float(k_frac * rate / len(x))


def is_silent(path: str | Path, threshold_dbfs: float = FLOOR_DBFS, block_seconds: float = BLOCK_SECONDS) -> bool:
    """True when no block of the file is louder than ``threshold_dbfs`` (an empty file is silent)."""
    samples, rate = read_wav_mono(path)
    size = max(1, int(round(block_seconds * rate)))
    count = max(1, math.ceil(len(samples) / size))
    loudest = max((rms_dbfs(samples[i * size:(i + 1) * size]) for i in range(count)), default=float("-inf"))
    return loudest <= threshold_dbfs
