"""WAV files: reading any PCM/G.711 WAV as 8 kHz mono int16, and crash-safe writing.

Prompts and music-on-hold arrive in whatever format a user uploads, so `read_wav` parses
the RIFF chunks itself (the stdlib `wave` module refuses µ-law/A-law and float), mixes
channels down and resamples with a Kaiser-windowed sinc (polyphase, exact rational
ratio, flat to ~3.4 kHz at 8 kHz output).

Voicemail and call recordings must never be seen half-written, even after a power cut
on the box: `WavWriter` writes to a hidden temporary name in the target directory,
fsyncs the file, renames it over the target and fsyncs the directory. `abort()` (or an
exception inside a `with` block) removes the temporary file and leaves nothing behind.
"""

from __future__ import annotations

import logging
import os
import struct
import tempfile
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from math import gcd
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

import numpy as np

from appliance.media import g711

log = logging.getLogger(__name__)

FORMAT_PCM, FORMAT_FLOAT, FORMAT_ALAW, FORMAT_ULAW, FORMAT_EXTENSIBLE = 1, 3, 6, 7, 0xFFFE
_ENCODINGS = {"pcm16": (FORMAT_PCM, 16), "alaw": (FORMAT_ALAW, 8), "ulaw": (FORMAT_ULAW, 8)}


@dataclass(frozen=True)
class WavInfo:
    """What the fmt chunk says."""

    format_tag: int
    channels: int
    sample_rate: int
    bits_per_sample: int
    frames: int


def _chunks(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    pos = 12
    while pos + 8 <= len(data):
        chunk_id, size = struct.unpack_from("<4sI", data, pos)
        body_start = pos + 8
        # Streaming writers leave 0 or 0xFFFFFFFF in the data size: take the rest of the file.
        end = len(data) if chunk_id == b"data" and (size == 0 or body_start + size > len(data)) \
            else body_start + size
        yield chunk_id, data[body_start:end]
        pos = end + (size & 1)


def parse_wav(data: bytes, name: str = "WAV data") -> tuple[WavInfo, np.ndarray]:
    """Decode a WAV image to float64 samples shaped (frames, channels), in the int16 scale."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError(f"{name}: not a RIFF/WAVE file")
    fmt = body = None
    for chunk_id, chunk in _chunks(data):
        if chunk_id == b"fmt ":
            fmt = chunk
        elif chunk_id == b"data" and body is None:
            body = chunk
    if fmt is None or len(fmt) < 16:
        raise ValueError(f"{name}: missing or short fmt chunk")
    if body is None:
        raise ValueError(f"{name}: no data chunk")
    tag, channels, rate, _, align, bits = struct.unpack_from("<HHIIHH", fmt)
    if tag == FORMAT_EXTENSIBLE:
        if len(fmt) < 40:
            raise ValueError(f"{name}: short WAVE_FORMAT_EXTENSIBLE fmt chunk")
        tag = struct.unpack_from("<H", fmt, 24)[0]  # first two bytes of the sub-format GUID
    if channels < 1 or rate < 1 or align < 1:
        raise ValueError(f"{name}: bad fmt chunk (channels={channels}, rate={rate}, align={align})")
    width = align // channels
    frames = len(body) // align
    raw = body[:frames * align]
    if tag == FORMAT_PCM and width == 2:
        samples = np.frombuffer(raw, "<i2").astype(np.float64)
    elif tag == FORMAT_PCM and width == 1:
        samples = (np.frombuffer(raw, np.uint8).astype(np.float64) - 128.0) * 256.0
    elif tag == FORMAT_PCM and width == 3:
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        samples = (((b[:, 2] << 24) | (b[:, 1] << 16) | (b[:, 0] << 8)) >> 8).astype(np.float64) / 256.0
    elif tag == FORMAT_PCM and width == 4:
        samples = np.frombuffer(raw, "<i4").astype(np.float64) / 65536.0
    elif tag == FORMAT_FLOAT and width in (4, 8):
        samples = np.frombuffer(raw, "<f4" if width == 4 else "<f8").astype(np.float64) * 32768.0
    elif tag == FORMAT_ULAW and width == 1:
        samples = g711.ulaw_decode(raw).astype(np.float64)
    elif tag == FORMAT_ALAW and width == 1:
        samples = g711.alaw_decode(raw).astype(np.float64)
    else:
        raise ValueError(f"{name}: unsupported WAV encoding (format {tag:#x}, {bits} bits)")
    return WavInfo(tag, channels, rate, bits, frames), samples.reshape(frames, channels)


def read_wav(path: str | os.PathLike[str], rate: int = 8000) -> np.ndarray:
    """Read any PCM/float/G.711 WAV as mono int16 at `rate` (8 kHz by default)."""
    data = Path(path).read_bytes()
    info, samples = parse_wav(data, str(path))
    mono = samples.mean(axis=1) if info.channels > 1 else samples[:, 0]
    out = resample(mono, info.sample_rate, rate)
    return np.clip(np.rint(out), -32768, 32767).astype(np.int16)


# --------------------------------------------------------------------------- resampling

_ZERO_CROSSINGS = 16  # sinc lobes kept on each side, at the lower of the two rates
_KAISER_BETA = 8.0
_PASS_FRACTION = 0.92  # cutoff as a fraction of the lower Nyquist: 3.68 kHz for 8 kHz output
_CHUNK = 16384


def resample(x: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Band-limited resampling by the exact ratio rate_out/rate_in (float64 in and out)."""
    x = np.asarray(x, dtype=np.float64)
    if rate_in == rate_out or x.size == 0:
        return x.copy()
    g = gcd(rate_in, rate_out)
    up, down = rate_out // g, rate_in // g
    cutoff = 0.5 * _PASS_FRACTION * min(1.0, up / down)  # cycles per input sample
    half = int(np.ceil(_ZERO_CROSSINGS / (2 * cutoff)))  # kernel half-width in input samples
    taps = np.arange(-half + 1, half + 1)
    n_out = x.size * up // down
    padded = np.concatenate((np.zeros(half), x, np.zeros(half + 1)))
    bank_phases = up if up <= 4096 else 0  # one row per fractional position, if that is few
    if bank_phases:
        bank = _kernel(taps[None, :] - (np.arange(up) / up)[:, None], cutoff, half)
    out = np.empty(n_out)
    for start in range(0, n_out, _CHUNK):
        m = np.arange(start, min(n_out, start + _CHUNK))
        pos = m * down
        base, phase = pos // up, pos % up
        windows = padded[(base + half)[:, None] + taps[None, :]]
        if bank_phases:
            weights = bank[phase]
        else:
            weights = _kernel(taps[None, :] - (phase / up)[:, None], cutoff, half)
        out[start:start + m.size] = np.einsum("ij,ij->i", windows, weights)
    return out


def _kernel(d: np.ndarray, cutoff: float, half: int) -> np.ndarray:
    """Kaiser-windowed sinc at offsets `d` (input samples), each row normalised to unit DC gain."""
    window = np.i0(_KAISER_BETA * np.sqrt(np.clip(1.0 - (d / half) ** 2, 0.0, 1.0))) / np.i0(_KAISER_BETA)
    h = 2 * cutoff * np.sinc(2 * cutoff * d) * window
    return h / h.sum(axis=-1, keepdims=True)


# --------------------------------------------------------------------------- writing

def _header(encoding: str, rate: int, data_bytes: int) -> bytes:
    tag, bits = _ENCODINGS[encoding]
    align = bits // 8
    if tag == FORMAT_PCM:
        fmt = struct.pack("<4sIHHIIHH", b"fmt ", 16, tag, 1, rate, rate * align, align, bits)
        extra = b""
    else:  # non-PCM formats carry cbSize and a fact chunk (sample count)
        fmt = struct.pack("<4sIHHIIHHH", b"fmt ", 18, tag, 1, rate, rate * align, align, bits, 0)
        extra = struct.pack("<4sII", b"fact", 4, data_bytes // align)
    riff_size = 4 + len(fmt) + len(extra) + 8 + data_bytes + (data_bytes & 1)
    return struct.pack("<4sI4s", b"RIFF", riff_size, b"WAVE") + fmt + extra + struct.pack(
        "<4sI", b"data", data_bytes)


def encode_samples(pcm: np.ndarray, encoding: str) -> bytes:
    """int16 samples as WAV data bytes in `encoding` (pcm16, ulaw or alaw)."""
    if encoding == "pcm16":
        return np.asarray(pcm, dtype="<i2").tobytes()
    if encoding == "ulaw":
        return g711.ulaw_encode(pcm)
    if encoding == "alaw":
        return g711.alaw_encode(pcm)
    raise ValueError(f"unknown WAV encoding {encoding!r}; use one of {', '.join(_ENCODINGS)}")


def _fsync_dir(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _discard(temp_path: str, fileobj: BinaryIO) -> None:
    """Finaliser for a writer dropped without close(): remove its temporary file."""
    try:
        fileobj.close()
    finally:
        if os.path.exists(temp_path):
            log.warning("WAV writer for %s was never closed; discarding it", temp_path)
            os.unlink(temp_path)


class WavWriter:
    """Streams samples to `path` atomically: nothing appears at `path` until close() succeeds."""

    MODE = 0o644

    def __init__(self, path: str | os.PathLike[str], rate: int = 8000, encoding: str = "pcm16") -> None:
        if encoding not in _ENCODINGS:
            raise ValueError(f"unknown WAV encoding {encoding!r}; use one of {', '.join(_ENCODINGS)}")
        self.path = os.fspath(path)
        self.rate = rate
        self.encoding = encoding
        self.data_bytes = 0
        directory, name = os.path.split(os.path.abspath(self.path))
        self._dir = directory
        fd, self.temp_path = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
        self._file = os.fdopen(fd, "wb")
        self._finalizer = weakref.finalize(self, _discard, self.temp_path, self._file)
        self._file.write(_header(encoding, rate, 0))
        self.closed = False

    def write(self, pcm: np.ndarray) -> None:
        """Append int16 samples."""
        if self.closed:
            raise ValueError(f"WAV writer for {self.path} is closed")
        data = encode_samples(pcm, self.encoding)
        if self.data_bytes + len(data) > 0xFFFFFFFF - 64:
            raise ValueError(f"{self.path}: WAV data would exceed 4 GiB")
        self._file.write(data)
        self.data_bytes += len(data)

    def close(self) -> None:
        """Finish the header, fsync, rename into place and fsync the directory."""
        if self.closed:
            return
        try:
            if self.data_bytes & 1:
                self._file.write(b"\x00")  # RIFF chunks are word aligned
            self._file.seek(0)
            self._file.write(_header(self.encoding, self.rate, self.data_bytes))
            self._file.flush()
            os.fchmod(self._file.fileno(), self.MODE)
            os.fsync(self._file.fileno())
            self._file.close()
            os.replace(self.temp_path, self.path)
        except BaseException:
            self.abort()
            raise
        self.closed = True
        self._finalizer.detach()
        _fsync_dir(self._dir)

    def abort(self) -> None:
        """Drop everything written; the target path is left as it was."""
        if self.closed:
            return
        self.closed = True
        self._finalizer.detach()
        try:
            self._file.close()
        finally:
            if os.path.exists(self.temp_path):
                os.unlink(self.temp_path)

    def __enter__(self) -> WavWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_wav_atomic(path: str | os.PathLike[str], pcm: np.ndarray, rate: int = 8000,
                     encoding: str = "pcm16") -> None:
    """Write a whole mono WAV file atomically (see WavWriter)."""
    with WavWriter(path, rate, encoding) as writer:
        writer.write(pcm)
