"""G.711 µ-law and A-law by table lookup, bit-exact with the classic Sun reference (g711.c).

Every frame of every call crosses these functions, so each conversion is one numpy fancy
index into a table built once at import: 65536 entries for encoding (indexed by the int16
sample seen as uint16), 256 for decoding and for µ-law<->A-law transcoding.
"""

from __future__ import annotations

import numpy as np

_SEG_UEND = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF], dtype=np.int32)
_SEG_AEND = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF], dtype=np.int32)


def _linear2ulaw(pcm: np.ndarray) -> np.ndarray:
    """Vectorised Sun `linear2ulaw` over int32 samples in the 16-bit range."""
    val = pcm >> 2
    mask = np.where(val < 0, 0x7F, 0xFF)
    val = np.minimum(np.abs(val), 8159) + (0x84 >> 2)
    seg = np.searchsorted(_SEG_UEND, val, side="left")  # first segment end >= val
    uval = (np.minimum(seg, 7) << 4) | ((val >> (np.minimum(seg, 7) + 1)) & 0xF)
    uval = np.where(seg >= 8, 0x7F, uval)
    return (uval ^ mask).astype(np.uint8)


def _ulaw2linear(code: np.ndarray) -> np.ndarray:
    """Vectorised Sun `ulaw2linear`."""
    u = ~code.astype(np.int32) & 0xFF
    t = (((u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4)
    return np.where(u & 0x80, 0x84 - t, t - 0x84).astype(np.int16)


def _linear2alaw(pcm: np.ndarray) -> np.ndarray:
    """Vectorised Sun `linear2alaw` over int32 samples in the 16-bit range."""
    val = pcm >> 3
    mask = np.where(val >= 0, 0xD5, 0x55)
    val = np.where(val >= 0, val, -val - 1)
    seg = np.searchsorted(_SEG_AEND, val, side="left")
    segc = np.minimum(seg, 7)
    quant = np.where(segc < 2, val >> 1, val >> np.maximum(segc, 1)) & 0xF
    aval = np.where(seg >= 8, 0x7F, (segc << 4) | quant)
    return (aval ^ mask).astype(np.uint8)


def _alaw2linear(code: np.ndarray) -> np.ndarray:
    """Vectorised Sun `alaw2linear`."""
    a = code.astype(np.int32) ^ 0x55
    t = (a & 0x0F) << 4
    seg = (a & 0x70) >> 4
    t = np.where(seg == 0, t + 8, np.where(seg == 1, t + 0x108, (t + 0x108) << np.maximum(seg - 1, 0)))
    return np.where(a & 0x80, t, -t).astype(np.int16)


_ALL_PCM = np.arange(65536, dtype=np.uint16).view(np.int16).astype(np.int32)  # index = uint16 view
_ALL_CODES = np.arange(256, dtype=np.int32)

ULAW_ENCODE = _linear2ulaw(_ALL_PCM)
ALAW_ENCODE = _linear2alaw(_ALL_PCM)
ULAW_DECODE = _ulaw2linear(_ALL_CODES)
ALAW_DECODE = _alaw2linear(_ALL_CODES)


def _nearest_level_table(src: np.ndarray, dst: np.ndarray, scale: float) -> np.ndarray:
    """Map each source code to the same-sign destination code whose level is nearest."""
    positive = (np.arange(256) & 0x80) != 0  # the sign bit, in both laws, keeps zeros signed
    distance = np.abs(src.astype(np.float64)[:, None] * scale - dst.astype(np.float64)[None, :])
    distance[positive[:, None] != positive[None, :]] = np.inf
    return distance.argmin(axis=1).astype(np.uint8)


# G.711 Tables 3 and 4 (µ-law <-> A-law) map each code to the nearest level of the other
# law, measured in dBm0: A-law overloads at +3.14 dBm0 and µ-law at +3.17 dBm0, so on the
# common 16-bit scale an A-law level is 32768/32636 * 10^(0.03/20) times the µ-law one.
# Decoding and re-encoding instead would differ from the standard on 70 of 512 entries.
_A_PER_U = 32768 / 32636 * 10 ** (0.03 / 20)
ULAW_TO_ALAW = _nearest_level_table(ULAW_DECODE, ALAW_DECODE, _A_PER_U)
ALAW_TO_ULAW = _nearest_level_table(ALAW_DECODE, ULAW_DECODE, 1 / _A_PER_U)
for _table in (ULAW_ENCODE, ALAW_ENCODE, ULAW_DECODE, ALAW_DECODE, ULAW_TO_ALAW, ALAW_TO_ULAW):
    _table.flags.writeable = False


def _as_index(pcm: np.ndarray) -> np.ndarray:
    pcm = np.asarray(pcm)
    if pcm.dtype != np.int16:
        pcm = np.clip(pcm, -32768, 32767).astype(np.int16)
    return pcm.view(np.uint16)


def ulaw_encode(pcm: np.ndarray) -> bytes:
    """Encode int16 samples to µ-law bytes."""
    return ULAW_ENCODE.take(_as_index(pcm)).tobytes()


def alaw_encode(pcm: np.ndarray) -> bytes:
    """Encode int16 samples to A-law bytes."""
    return ALAW_ENCODE.take(_as_index(pcm)).tobytes()


def ulaw_decode(data: bytes) -> np.ndarray:
    """Decode µ-law bytes to int16 samples."""
    return ULAW_DECODE.take(np.frombuffer(data, dtype=np.uint8))


def alaw_decode(data: bytes) -> np.ndarray:
    """Decode A-law bytes to int16 samples."""
    return ALAW_DECODE.take(np.frombuffer(data, dtype=np.uint8))


def ulaw_to_alaw(data: bytes) -> bytes:
    """Transcode µ-law bytes to A-law without leaving the 8-bit domain."""
    return ULAW_TO_ALAW.take(np.frombuffer(data, dtype=np.uint8)).tobytes()


def alaw_to_ulaw(data: bytes) -> bytes:
    """Transcode A-law bytes to µ-law without leaving the 8-bit domain."""
    return ALAW_TO_ULAW.take(np.frombuffer(data, dtype=np.uint8)).tobytes()


ULAW_SILENCE = 0xFF  # µ-law code of 0
ALAW_SILENCE = 0xD5  # A-law code of 0
