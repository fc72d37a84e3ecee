"""G.722 (64 kbit/s, 16 kHz audio) through libspandsp via ctypes, plus 8k<->16k resampling.

The engine's internal audio is 8 kHz, so a G.722 leg is resampled by a factor of two in
each direction with a 63-tap Kaiser-windowed half-band FIR (flat to ~3.4 kHz, >70 dB
stop band), run in polyphase form so each direction costs one 32-tap numpy convolution
per frame. spandsp's own `G722_SAMPLE_RATE_8000` option is not used: it decimates
without filtering. `available()` is False when libspandsp cannot be loaded, and callers
(codecs.supported_codecs) then simply do not offer G.722.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import weakref

import numpy as np

log = logging.getLogger(__name__)

_LIB_NAMES = ("libspandsp.so.2", "libspandsp.so.3", "libspandsp.so")
_lib: ctypes.CDLL | None = None
_lib_checked = False


def _load() -> ctypes.CDLL | None:
    global _lib, _lib_checked
    if _lib_checked:
        return _lib
    _lib_checked = True
    names = list(_LIB_NAMES)
    found = ctypes.util.find_library("spandsp")
    if found:
        names.append(found)
    for name in names:
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        try:
            for prefix in ("g722_encode", "g722_decode"):
                init = getattr(lib, prefix + "_init")
                init.restype = ctypes.c_void_p
                init.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
                free = getattr(lib, prefix + "_free")
                free.restype = ctypes.c_int
                free.argtypes = [ctypes.c_void_p]
                run = getattr(lib, prefix)
                run.restype = ctypes.c_int
                run.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int]
        except AttributeError:
            log.warning("%s has no G.722 functions; G.722 disabled", name)
            continue
        _lib = lib
        return lib
    log.info("libspandsp not found; G.722 is not available")
    return None


def available() -> bool:
    """True when libspandsp could be loaded and G.722 can be used."""
    return _load() is not None


def _require() -> ctypes.CDLL:
    lib = _load()
    if lib is None:
        raise RuntimeError("G.722 needs libspandsp (Debian package libspandsp2), which is not installed")
    return lib


class G722Encoder:
    """A stateful G.722 encoder: 16 kHz int16 samples in, 64 kbit/s octets out (1 per 2 samples)."""

    def __init__(self, bit_rate: int = 64000) -> None:
        lib = _require()
        self._run = lib.g722_encode
        self._state = lib.g722_encode_init(None, bit_rate, 0)
        if not self._state:
            raise RuntimeError("g722_encode_init failed")
        self._finalizer = weakref.finalize(self, lib.g722_encode_free, self._state)

    def encode(self, pcm16k: np.ndarray) -> bytes:
        """Encode int16 samples at 16 kHz; an even count gives whole octets."""
        pcm = np.ascontiguousarray(pcm16k, dtype=np.int16)
        out = ctypes.create_string_buffer(len(pcm) // 2 + 1)
        n = self._run(self._state, out, pcm.ctypes.data, len(pcm))
        return out.raw[:n]

    def close(self) -> None:
        """Free the spandsp state now (it is also freed when the object is collected)."""
        self._finalizer()


class G722Decoder:
    """A stateful G.722 decoder: octets in, 16 kHz int16 samples out (2 per octet)."""

    def __init__(self, bit_rate: int = 64000) -> None:
        lib = _require()
        self._run = lib.g722_decode
        self._state = lib.g722_decode_init(None, bit_rate, 0)
        if not self._state:
            raise RuntimeError("g722_decode_init failed")
        self._finalizer = weakref.finalize(self, lib.g722_decode_free, self._state)

    def decode(self, data: bytes) -> np.ndarray:
        """Decode G.722 octets to int16 samples at 16 kHz."""
        out = np.empty(2 * len(data), dtype=np.int16)
        n = self._run(self._state, out.ctypes.data, data, len(data))
        return out[:n]

    def close(self) -> None:
        """Free the spandsp state now (it is also freed when the object is collected)."""
        self._finalizer()


# --------------------------------------------------------------------------- resampling by 2

_M = 31  # filter length 2*_M + 1 = 63 taps; _M odd so the zero taps fall on even offsets
_n = np.arange(-_M, _M + 1)
_h = 0.5 * np.sinc(_n / 2) * np.kaiser(2 * _M + 1, 7.0)
# Exact half-band: centre 1/2 and the odd taps summing to 1/2, so both polyphase branches
# have unit DC gain (no DC ripple in the upsampler) and the odd branch is a pure delay.
_h[_n % 2 != 0] *= 0.5 / _h[_n % 2 != 0].sum()
HALF_BAND = _h
_H_ODD = np.ascontiguousarray(_h[_n % 2 != 0])  # the 32 non-trivial taps (odd offsets)
_HIST = _H_ODD.size - 1  # 31 samples of history for the polyphase branch
del _n, _h


def _to_int16(x: np.ndarray) -> np.ndarray:
    np.rint(x, out=x)
    np.clip(x, -32768, 32767, out=x)
    return x.astype(np.int16)


class Upsampler2:
    """8 kHz -> 16 kHz, stateful across frames; group delay 31 samples at 16 kHz."""

    def __init__(self) -> None:
        self._buf = np.zeros(_HIST, dtype=np.float64)  # history, then room for the frame
        self._taps = 2.0 * _H_ODD  # x2 gain restores the level after zero insertion

    def process(self, pcm8k: np.ndarray) -> np.ndarray:
        """Twice as many int16 samples at 16 kHz."""
        n = len(pcm8k)
        buf = self._buf
        if buf.size != _HIST + n:
            grown = np.zeros(_HIST + n, dtype=np.float64)
            grown[:_HIST] = buf[buf.size - _HIST:]
            buf = self._buf = grown
        buf[_HIST:] = pcm8k
        out = np.empty(2 * n, dtype=np.float64)
        # Even outputs are the filtered branch, odd ones the (delayed) input itself: the
        # half-band filter has one non-zero tap at odd offsets, of value 1 after the gain.
        out[0::2] = np.convolve(buf, self._taps, "valid")
        out[1::2] = buf[16:16 + n]
        buf[:_HIST] = buf[n:n + _HIST]
        return _to_int16(out)


class Downsampler2:
    """16 kHz -> 8 kHz, stateful across frames (an odd sample left over waits for the next call)."""

    def __init__(self) -> None:
        self._even = np.zeros(_HIST, dtype=np.float64)  # history of even-indexed input samples
        self._odd = np.zeros(16, dtype=np.float64)  # history of odd-indexed input samples
        self._pending: np.ndarray | None = None

    def process(self, pcm16k: np.ndarray) -> np.ndarray:
        """Half as many int16 samples at 8 kHz."""
        x = np.asarray(pcm16k)
        if self._pending is not None:
            x = np.concatenate((self._pending, x))
            self._pending = None
        if x.size & 1:
            self._pending = x[-1:].copy()
            x = x[:-1]
        n = x.size // 2
        even, odd = self._even, self._odd
        if even.size != _HIST + n:
            grown_even = np.zeros(_HIST + n, dtype=np.float64)
            grown_even[:_HIST] = even[even.size - _HIST:]
            grown_odd = np.zeros(16 + n, dtype=np.float64)
            grown_odd[:16] = odd[odd.size - 16:]
            even, odd = self._even, self._odd = grown_even, grown_odd
        even[_HIST:] = x[0::2]
        odd[16:] = x[1::2]
        y = np.convolve(even, _H_ODD, "valid")
        y += 0.5 * odd[:n]
        even[:_HIST] = even[n:n + _HIST]
        odd[:16] = odd[n:n + 16]
        return _to_int16(y)
