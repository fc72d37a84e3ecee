"""The audio-analysis helpers used by integration tests, checked on synthetic signals."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from tests.audio import (dominant_frequency, has_tone, is_silent, read_wav_mono, rms_dbfs, tone, tone_power,
                         tone_seconds, tone_segments, write_wav)

RATE = 16000


def _wav(path: Path, tag: int, channels: int, rate: int, bits: int, payload: bytes, data_size: int | None = None,
         extra_chunk: bytes = b"") -> Path:
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * block, block, bits)
    size = len(payload) if data_size is None else data_size
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + extra_chunk + b"data" + struct.pack("<I", size)
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body) + len(payload)) + body + payload)
    return path


def test_read_wav_mono_returns_float_samples_and_rate(tmp_path: Path) -> None:
    signal = tone(1000, 0.1, RATE, amplitude=0.5)
    samples, rate = read_wav_mono(write_wav(tmp_path / "t.wav", signal, RATE))
    assert rate == RATE
    assert samples.dtype == np.float64
    assert np.max(np.abs(samples - signal)) < 1e-4


def test_read_wav_uses_rest_of_file_when_recorder_header_was_never_finalised(tmp_path: Path) -> None:
    pcm = (np.arange(800) % 100 * 100).astype("<i2").tobytes()
    samples, _ = read_wav_mono(_wav(tmp_path / "open.wav", 1, 1, 8000, 16, pcm, data_size=0))
    assert len(samples) == 800


def test_read_wav_skips_unknown_chunks_and_averages_stereo(tmp_path: Path) -> None:
    stereo = np.array([[1000, 3000], [-2000, 2000]], dtype="<i2").tobytes()
    path = _wav(tmp_path / "st.wav", 1, 2, 8000, 16, stereo, extra_chunk=b"LIST" + struct.pack("<I", 3) + b"abc\0")
    samples, rate = read_wav_mono(path)
    assert rate == 8000
    assert samples.tolist() == pytest.approx([2000 / 32768, 0.0])


@pytest.mark.parametrize(("tag", "bits", "payload", "expected"), [
    (1, 8, bytes([128, 255, 0]), [0.0, 127 / 128, -1.0]),
    (1, 24, b"\x00\x00\x40" + b"\x00\x00\xc0", [0.5, -0.5]),
    (3, 32, struct.pack("<2f", 0.25, -0.75), [0.25, -0.75]),
    (7, 8, bytes([0xFF, 0x80, 0x00]), [0.0, 32124 / 32768, -32124 / 32768]),  # G.711 µ-law
    (6, 8, bytes([0xD5, 0xAA, 0x2A]), [8 / 32768, 32256 / 32768, -32256 / 32768]),  # G.711 A-law
])
def test_read_wav_decodes_other_sample_formats(tmp_path: Path, tag: int, bits: int, payload: bytes,
                                               expected: list[float]) -> None:
    samples, _ = read_wav_mono(_wav(tmp_path / "f.wav", tag, 1, 8000, bits, payload))
    assert samples.tolist() == pytest.approx(expected)


def test_read_wav_rejects_a_file_that_is_not_wave(tmp_path: Path) -> None:
    (tmp_path / "x.wav").write_bytes(b"OggS" + bytes(40))
    with pytest.raises(ValueError, match="not a RIFF/WAVE"):
        read_wav_mono(tmp_path / "x.wav")


def test_tone_power_of_a_sine_is_half_its_amplitude_squared() -> None:
    signal = tone(1003.7, 0.05, RATE, amplitude=0.4)  # not on an FFT bin on purpose
    assert tone_power(signal, RATE, 1003.7) == pytest.approx(0.08, rel=0.02)


def test_tone_power_is_small_away_from_the_tone() -> None:
    signal = tone(1000, 0.05, RATE, amplitude=0.4)
    assert tone_power(signal, RATE, 1400) < 0.001 * tone_power(signal, RATE, 1000)


def test_has_tone_needs_the_tone_for_the_required_time(tmp_path: Path) -> None:
    signal = np.concatenate([np.zeros(RATE // 2), tone(1000, 0.6, RATE), np.zeros(RATE // 2)])
    path = write_wav(tmp_path / "t.wav", signal, RATE)
    assert has_tone(path, 1000, 0.5)
    assert not has_tone(path, 1000, 0.8)
    assert not has_tone(path, 1600, 0.1)


def test_has_tone_adds_up_stretches_broken_by_dropouts(tmp_path: Path) -> None:
    gap = np.zeros(int(0.1 * RATE))
    signal = np.concatenate([tone(1000, 0.3, RATE), gap, tone(1000, 0.3, RATE), gap, tone(1000, 0.3, RATE)])
    path = write_wav(tmp_path / "d.wav", signal, RATE)
    assert tone_seconds(path, 1000) == pytest.approx(0.9)
    assert has_tone(path, 1000, 0.85)
    assert not has_tone(path, 1000, 0.95)


def test_has_tone_looks_only_inside_the_given_window(tmp_path: Path) -> None:
    signal = np.concatenate([tone(1000, 0.5, RATE), np.zeros(RATE)])
    path = write_wav(tmp_path / "t.wav", signal, RATE)
    assert has_tone(path, 1000, 0.4, start=0.0, end=0.6)
    assert not has_tone(path, 1000, 0.1, start=0.6)


def test_has_tone_hears_a_tone_through_noise(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    signal = tone(1600, 1.0, RATE, amplitude=0.3) + rng.normal(0, 0.05, RATE)
    assert has_tone(write_wav(tmp_path / "n.wav", signal, RATE), 1600, 0.9)


def test_tone_segments_report_a_cadence_in_order(tmp_path: Path) -> None:
    gap = np.zeros(int(0.2 * RATE))
    signal = np.concatenate([tone(1000, 0.4, RATE), gap, tone(1000, 0.4, RATE), gap, tone(1600, 0.3, RATE)])
    segments = tone_segments(write_wav(tmp_path / "c.wav", signal, RATE), [1000, 1600])
    assert segments == [(0.0, 0.4, 1000.0), (0.6, 1.0, 1000.0), (1.2, 1.5, 1600.0)]


def test_tone_segments_find_both_halves_of_a_dual_tone(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "d.wav", tone([697, 1209], 0.2, RATE), RATE)
    assert tone_segments(path, [697, 1209, 1336]) == [(0.0, 0.2, 697.0), (0.0, 0.2, 1209.0)]


def test_tone_segments_can_bridge_short_dropouts(tmp_path: Path) -> None:
    signal = np.concatenate([tone(1000, 0.3, RATE), np.zeros(int(0.05 * RATE)), tone(1000, 0.3, RATE)])
    path = write_wav(tmp_path / "g.wav", signal, RATE)
    assert len(tone_segments(path, [1000])) == 2
    assert tone_segments(path, [1000], bridge_gaps=0.05) == [(0.0, 0.65, 1000.0)]


def test_dominant_frequency_is_accurate_to_a_hertz() -> None:
    assert dominant_frequency(tone(1234.5, 0.5, RATE), RATE) == pytest.approx(1234.5, abs=1.0)
    assert dominant_frequency(np.zeros(100), RATE) == 0.0


def test_is_silent_distinguishes_quiet_noise_from_a_tone(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    assert is_silent(write_wav(tmp_path / "z.wav", np.zeros(RATE), RATE))
    assert is_silent(write_wav(tmp_path / "q.wav", rng.normal(0, 0.0005, RATE), RATE))
    assert not is_silent(write_wav(tmp_path / "t.wav", np.concatenate([np.zeros(RATE), tone(400, 0.1)]), RATE))


def test_rms_dbfs_of_a_full_scale_sine_is_minus_three() -> None:
    assert rms_dbfs(tone(1000, 0.1, RATE, amplitude=1.0)) == pytest.approx(-3.01, abs=0.05)
    assert rms_dbfs(np.zeros(10)) == float("-inf")
