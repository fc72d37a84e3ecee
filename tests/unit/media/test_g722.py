"""G.722 through libspandsp, and the 8 kHz <-> 16 kHz half-band resamplers."""

from __future__ import annotations

import numpy as np
import pytest

from appliance.media import g722

needs_spandsp = pytest.mark.skipif(not g722.available(), reason="libspandsp not installed")


def tone(freq: float, n: int, rate: int, amplitude: float = 8000.0) -> np.ndarray:
    return (amplitude * np.sin(2 * np.pi * freq * np.arange(n) / rate)).astype(np.int16)


def snr_db(signal: np.ndarray, freq: float, rate: int) -> float:
    """SNR of `signal` against the best-fitting sinusoid at `freq` (least squares)."""
    t = np.arange(signal.size) / rate
    basis = np.column_stack([np.sin(2 * np.pi * freq * t), np.cos(2 * np.pi * freq * t)])
    coef, *_ = np.linalg.lstsq(basis, signal.astype(np.float64), rcond=None)
    fitted = basis @ coef
    return 10 * np.log10(np.sum(fitted ** 2) / np.sum((signal - fitted) ** 2))


@needs_spandsp
def test_encoder_makes_one_octet_per_two_samples():
    enc = g722.G722Encoder()
    assert len(enc.encode(np.zeros(320, np.int16))) == 160


@needs_spandsp
def test_1khz_tone_survives_encode_decode_at_16khz():
    enc, dec = g722.G722Encoder(), g722.G722Decoder()
    pcm = tone(1000, 16000, 16000)
    out = np.concatenate([dec.decode(enc.encode(pcm[i:i + 320])) for i in range(0, pcm.size, 320)])
    assert out.size == pcm.size
    assert snr_db(out[800:], 1000, 16000) > 30


def test_upsampler_keeps_a_tone_and_doubles_the_length():
    up = g722.Upsampler2()
    pcm = tone(1000, 8000, 8000)
    out = np.concatenate([up.process(pcm[i:i + 160]) for i in range(0, pcm.size, 160)])
    assert out.size == 16000
    assert snr_db(out[200:], 1000, 16000) > 50


def test_downsampler_keeps_in_band_tone_and_rejects_images():
    down = g722.Downsampler2()
    pcm = tone(1000, 16000, 16000) // 2 + tone(6000, 16000, 16000) // 2  # 6 kHz would alias to 2 kHz
    out = np.concatenate([down.process(pcm[i:i + 333]) for i in range(0, pcm.size, 333)])
    assert out.size == 8000
    assert snr_db(out[100:], 1000, 8000) > 50


def test_resampler_chunking_does_not_change_output():
    pcm = np.random.default_rng(3).normal(0, 3000, 1600).astype(np.int16)
    whole = g722.Upsampler2().process(pcm)
    up = g722.Upsampler2()
    parts = np.concatenate([up.process(pcm[i:i + 77]) for i in range(0, pcm.size, 77)])
    assert np.array_equal(whole, parts)


def test_half_band_filter_response():
    response = np.abs(np.fft.rfft(g722.HALF_BAND, 16000))
    assert np.all(np.abs(20 * np.log10(response[100:3400])) < 0.05)  # flat to 3.4 kHz
    assert np.all(20 * np.log10(response[4700:]) < -70)


def test_available_is_false_when_library_cannot_load(monkeypatch):
    monkeypatch.setattr(g722, "_lib", None)
    monkeypatch.setattr(g722, "_lib_checked", False)
    monkeypatch.setattr(g722, "_LIB_NAMES", ("libdoes-not-exist.so.9",))
    monkeypatch.setattr(g722.ctypes.util, "find_library", lambda name: None)
    assert g722.available() is False
    with pytest.raises(RuntimeError, match="libspandsp"):
        g722.G722Encoder()
