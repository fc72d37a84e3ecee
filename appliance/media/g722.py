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
        self._finalizer()


# --------------------------------------------------------------------------- resampling by 2

_M = 31  # filter length 2*_M + 1 = 63 taps; _M odd so the zero taps fall on even offsets
_n = np.arange(-_M, _M + 1)
_h = 0.5 * np.sinc(_n / 2) * np.kaiser(2 * _M + 1, 7.0)
_h /= _h.sum()
HALF_BAND = _h
_H_ODD = np.ascontiguousarray(_h[_n % 2 != 0])  # the 32 non-trivial taps (odd offsets)
_CENTRE = float(_h[_M])
_HIST = _H_ODD.size - 1  # 31 samples of history for the polyphase branch
del _n, _h


def _to_int16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x), -32768, 32767).astype(np.int16)


class Upsampler2:
    """8 kHz -> 16 kHz, stateful across frames; group delay 31 samples at 16 kHz."""

    def __init__(self) -> None:
        self._hist = np.zeros(_HIST, dtype=np.float64)

    def process(self, pcm8k: np.ndarray) -> np.ndarray:
        x = np.concatenate((self._hist, np.asarray(pcm8k, dtype=np.float64)))
        n = x.size - _HIST
        out = np.empty(2 * n, dtype=np.float64)
        # Even outputs are the filtered branch, odd ones the (delayed) input itself: the
        # half-band filter has one non-zero tap of value 1 (after the x2 gain) at odd offsets.
        out[0::2] = 2.0 * np.convolve(x, _H_ODD, "valid")
        out[1::2] = 2.0 * _CENTRE * x[16:16 + n]
        self._hist = x[n:]
        return _to_int16(out)


class Downsampler2:
    """16 kHz -> 8 kHz, stateful across frames (an odd sample left over waits for the next call)."""

    def __init__(self) -> None:
        self._even_hist = np.zeros(_HIST, dtype=np.float64)
        self._odd_hist = np.zeros(16, dtype=np.float64)
        self._pending = np.zeros(0, dtype=np.float64)

    def process(self, pcm16k: np.ndarray) -> np.ndarray:
        x = np.asarray(pcm16k, dtype=np.float64)
        if self._pending.size:
            x = np.concatenate((self._pending, x))
        usable = x.size & ~1
        self._pending = x[usable:]
        e = np.concatenate((self._even_hist, x[0:usable:2]))
        o = np.concatenate((self._odd_hist, x[1:usable:2]))
        n = usable // 2
        y = np.convolve(e, _H_ODD, "valid") + _CENTRE * o[:n]
        self._even_hist = e[n:]
        self._odd_hist = o[n:]
        return _to_int16(y)
