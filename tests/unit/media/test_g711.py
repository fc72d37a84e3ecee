"""G.711 tables are bit-exact with the reference coder (Python 3.11's audioop, the Sun g711.c)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from appliance.media import g711

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    audioop = pytest.importorskip("audioop")

ALL_PCM = np.arange(-32768, 32768, dtype=np.int16)
ALL_CODES = bytes(range(256))


def test_ulaw_encode_matches_reference_for_all_65536_inputs():
    assert g711.ulaw_encode(ALL_PCM) == audioop.lin2ulaw(ALL_PCM.tobytes(), 2)


def test_alaw_encode_matches_reference_for_all_65536_inputs():
    assert g711.alaw_encode(ALL_PCM) == audioop.lin2alaw(ALL_PCM.tobytes(), 2)


def test_ulaw_decode_matches_reference_for_all_codes():
    assert g711.ulaw_decode(ALL_CODES).tobytes() == audioop.ulaw2lin(ALL_CODES, 2)


def test_alaw_decode_matches_reference_for_all_codes():
    assert g711.alaw_decode(ALL_CODES).tobytes() == audioop.alaw2lin(ALL_CODES, 2)


def test_decode_then_encode_is_identity_on_codes():
    # Every code but µ-law's negative zero (0x7F decodes to 0, which encodes as 0xFF).
    ulaw = np.frombuffer(g711.ulaw_encode(g711.ulaw_decode(ALL_CODES)), np.uint8)
    assert np.count_nonzero(ulaw != np.arange(256)) == 1 and ulaw[0x7F] == 0xFF
    assert g711.alaw_encode(g711.alaw_decode(ALL_CODES)) == ALL_CODES


def test_silence_codes():
    assert g711.ulaw_encode(np.zeros(3, np.int16)) == bytes([g711.ULAW_SILENCE]) * 3
    assert g711.alaw_encode(np.zeros(3, np.int16)) == bytes([g711.ALAW_SILENCE]) * 3


def test_transcoding_picks_the_nearest_level_of_the_other_law():
    direct = g711.ulaw_decode(ALL_CODES).astype(int)
    via_alaw = g711.alaw_decode(g711.ulaw_to_alaw(ALL_CODES)).astype(int)
    # A-law segments hold 16 steps, so half a step is at most 1/32 of the level (8 near zero).
    assert np.all(np.abs(via_alaw - direct) <= np.maximum(16, np.abs(direct) // 16))
    assert g711.ulaw_to_alaw(b"\xff\x7f") == b"\xd5\x55"  # signed zeros stay signed


def test_transcoding_tables_equal_g711_tables_in_spandsp():
    import ctypes

    try:
        lib = ctypes.CDLL("libspandsp.so.2")
    except OSError:
        pytest.skip("libspandsp not installed")
    for name in ("ulaw_to_alaw", "alaw_to_ulaw"):
        func = getattr(lib, name)
        func.restype, func.argtypes = ctypes.c_uint8, [ctypes.c_uint8]
        expected = bytes(func(code) for code in range(256))
        assert getattr(g711, name)(ALL_CODES) == expected, name


def test_round_trip_through_the_other_law_is_mostly_transparent():
    # G.711's tables are not fully transparent; 240 of 256 codes survive either way.
    back = np.frombuffer(g711.alaw_to_ulaw(g711.ulaw_to_alaw(ALL_CODES)), np.uint8)
    assert np.count_nonzero(back == np.arange(256)) == 240
    back = np.frombuffer(g711.ulaw_to_alaw(g711.alaw_to_ulaw(ALL_CODES)), np.uint8)
    assert np.count_nonzero(back == np.arange(256)) == 240


def test_accepts_non_int16_input_by_clipping():
    pcm = np.array([40000.0, -40000.0, 0.0])
    assert g711.ulaw_encode(pcm) == g711.ulaw_encode(np.array([32767, -32768, 0], np.int16))


def test_decoded_frame_is_int16_of_payload_length():
    out = g711.alaw_decode(b"\xd5" * 160)
    assert out.dtype == np.int16 and out.shape == (160,) and np.all(out == 8)  # A-law has no zero
