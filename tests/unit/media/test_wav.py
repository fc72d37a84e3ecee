"""WAV reading (any PCM/float/G.711, any rate -> 8 kHz mono) and the atomic writer."""

from __future__ import annotations

import gc
import os
import shutil
import struct
import subprocess

import numpy as np
import pytest

from appliance.media import g711, wav
from appliance.media.wav import WavWriter, parse_wav, read_wav, resample, write_wav_atomic
from tests.unit.media.test_g722 import snr_db


def tone(freq: float, seconds: float, rate: int, amplitude: float = 10000.0) -> np.ndarray:
    return amplitude * np.sin(2 * np.pi * freq * np.arange(int(seconds * rate)) / rate)


def raw_wav(data: bytes, tag: int, channels: int, rate: int, bits: int, extensible: bool = False) -> bytes:
    align = channels * bits // 8
    if extensible:
        guid_tail = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
        fmt = struct.pack("<HHIIHHHHI", 0xFFFE, channels, rate, rate * align, align, bits, 22, bits, 0)
        fmt += struct.pack("<H", tag) + guid_tail
    else:
        fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * align, align, bits)
    body = b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"LIST" + struct.pack("<I", 3) + b"abc\x00"
    body += b"data" + struct.pack("<I", len(data)) + data + b"\x00" * (len(data) & 1)
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WAVE" + body


@pytest.fixture
def pcm() -> np.ndarray:
    return np.clip(np.rint(tone(440, 1.0, 8000) + np.random.default_rng(0).normal(0, 300, 8000)),
                   -32768, 32767).astype(np.int16)


def test_pcm16_round_trip_is_exact(tmp_path, pcm):
    path = tmp_path / "a.wav"
    write_wav_atomic(path, pcm)
    assert np.array_equal(read_wav(path), pcm)
    assert path.stat().st_size == 44 + 2 * pcm.size


@pytest.mark.parametrize("encoding", ["ulaw", "alaw"])
def test_g711_wav_round_trip(tmp_path, pcm, encoding):
    path = tmp_path / f"{encoding}.wav"
    write_wav_atomic(path, pcm[:7999], encoding=encoding)  # odd length: the data chunk is padded
    encode = g711.ulaw_encode if encoding == "ulaw" else g711.alaw_encode
    decode = g711.ulaw_decode if encoding == "ulaw" else g711.alaw_decode
    assert np.array_equal(read_wav(path), decode(encode(pcm[:7999])))
    info, _ = parse_wav(path.read_bytes())
    assert info.format_tag == (7 if encoding == "ulaw" else 6) and info.frames == 7999


@pytest.mark.skipif(shutil.which("sox") is None, reason="sox not installed")
@pytest.mark.parametrize("encoding, sox_args", [("ulaw", ["-e", "u-law"]), ("alaw", ["-e", "a-law"]),
                                                 ("pcm16", ["-e", "signed", "-b", "16"])])
def test_files_agree_with_sox(tmp_path, pcm, encoding, sox_args):
    ours = tmp_path / "ours.wav"
    write_wav_atomic(ours, pcm, encoding=encoding)
    # sox decodes our file to exactly the samples we read back from it.
    decoded = tmp_path / "decoded.raw"
    subprocess.run(["sox", str(ours), "-t", "raw", "-e", "signed", "-b", "16", str(decoded)], check=True)
    assert np.array_equal(np.frombuffer(decoded.read_bytes(), "<i2"), read_wav(ours))
    # We read sox's file; its G.711 encoder rounds differently at a few decision levels.
    theirs = tmp_path / "theirs.wav"
    raw = tmp_path / "in.raw"
    raw.write_bytes(pcm.astype("<i2").tobytes())
    subprocess.run(["sox", "-D", "-t", "raw", "-r", "8000", "-e", "signed", "-b", "16", "-c", "1", str(raw),
                    *sox_args, str(theirs)], check=True)
    a, b = read_wav(theirs).astype(int), read_wav(ours).astype(int)
    assert np.count_nonzero(a != b) <= pcm.size // 20
    assert np.all(np.abs(a - b) <= np.maximum(16, np.abs(b) // 8))  # one quantisation step at most


def test_stereo_16k_is_mixed_down_and_resampled(tmp_path):
    left = tone(1000, 1.0, 16000)
    right = tone(1000, 1.0, 16000) * 0.5 + tone(6000, 1.0, 16000) * 0.5  # 6 kHz must not alias
    frames = np.stack([left, right], axis=1).astype("<i2").tobytes()
    path = tmp_path / "stereo.wav"
    path.write_bytes(raw_wav(frames, 1, 2, 16000, 16))
    out = read_wav(path)
    assert out.size == 8000
    assert snr_db(out[200:-200], 1000, 8000) > 45
    assert np.abs(out[200:-200]).max() == pytest.approx(7500, rel=0.02)


@pytest.mark.parametrize("rate", [11025, 22050, 44100, 48000, 32000, 4000])
def test_common_rates_resample_to_8k_keeping_a_tone(tmp_path, rate):
    path = tmp_path / f"{rate}.wav"
    path.write_bytes(raw_wav(tone(700, 2.0, rate).astype("<i2").tobytes(), 1, 1, rate, 16))
    out = read_wav(path)
    assert out.size == 16000
    assert snr_db(out[400:-400], 700, 8000) > 45


def test_resampler_rejects_out_of_band_energy():
    x = tone(5000, 1.0, 44100) + tone(1000, 1.0, 44100)
    y = resample(x, 44100, 8000)[200:-200]
    assert snr_db(y, 1000, 8000) > 55  # the 5 kHz tone would alias to 3 kHz


@pytest.mark.parametrize("tag, bits, encode", [
    (1, 8, lambda x: (np.rint(x / 256) + 128).astype(np.uint8).tobytes()),
    (1, 24, lambda x: b"".join(int(v * 256).to_bytes(3, "little", signed=True) for v in np.rint(x))),
    (1, 32, lambda x: (np.rint(x) * 65536).astype("<i4").tobytes()),
    (3, 32, lambda x: (x / 32768).astype("<f4").tobytes()),
])
def test_other_sample_formats(tmp_path, tag, bits, encode):
    x = np.rint(tone(500, 0.1, 8000))
    path = tmp_path / "f.wav"
    path.write_bytes(raw_wav(encode(x), tag, 1, 8000, bits))
    tolerance = 256 if bits == 8 else 1
    assert np.abs(read_wav(path).astype(float) - x).max() <= tolerance


def test_wave_format_extensible(tmp_path, pcm):
    path = tmp_path / "ext.wav"
    path.write_bytes(raw_wav(pcm.astype("<i2").tobytes(), 1, 1, 8000, 16, extensible=True))
    assert np.array_equal(read_wav(path), pcm)


def test_streaming_writer_size_placeholder_is_tolerated(tmp_path, pcm):
    data = bytearray(raw_wav(pcm.astype("<i2").tobytes(), 1, 1, 8000, 16))
    at = data.index(b"data") + 4
    data[at:at + 4] = b"\xff\xff\xff\xff"
    path = tmp_path / "stream.wav"
    path.write_bytes(bytes(data))
    assert np.array_equal(read_wav(path), pcm)


@pytest.mark.parametrize("data, message", [
    (b"RIFX\x00\x00\x00\x00WAVE", "RIFF"),
    (b"RIFF\x04\x00\x00\x00WAVE", "fmt"),
    (raw_wav(b"\x00" * 10, 0x31, 1, 8000, 0)[:-18], "data"),
    (raw_wav(b"\x00" * 10, 0x31, 1, 8000, 8), "unsupported"),
])
def test_malformed_or_unsupported_files_raise_value_error(tmp_path, data, message):
    path = tmp_path / "bad.wav"
    path.write_bytes(data)
    with pytest.raises(ValueError, match=message):
        read_wav(path)


# --------------------------------------------------------------------------- atomic writer

def test_nothing_appears_at_the_target_until_close(tmp_path, pcm):
    target = tmp_path / "vm.wav"
    writer = WavWriter(target)
    writer.write(pcm[:160])
    writer.write(pcm[160:])
    assert not target.exists()
    temp = writer.temp_path
    assert os.path.dirname(temp) == str(tmp_path) and os.path.basename(temp).startswith(".vm.wav.")
    writer.close()
    assert target.exists() and not os.path.exists(temp)
    assert np.array_equal(read_wav(target), pcm)
    assert os.listdir(tmp_path) == ["vm.wav"]
    assert target.stat().st_mode & 0o777 == 0o644


def test_abort_leaves_no_partial_file_and_keeps_the_old_one(tmp_path, pcm):
    target = tmp_path / "greeting.wav"
    write_wav_atomic(target, pcm[:800])
    writer = WavWriter(target)
    writer.write(pcm)
    writer.abort()
    assert os.listdir(tmp_path) == ["greeting.wav"]
    assert np.array_equal(read_wav(target), pcm[:800])
    with pytest.raises(ValueError):
        writer.write(pcm)


def test_exception_inside_with_block_aborts(tmp_path, pcm):
    target = tmp_path / "rec.wav"
    with pytest.raises(RuntimeError):
        with WavWriter(target) as writer:
            writer.write(pcm)
            raise RuntimeError("call dropped")
    assert os.listdir(tmp_path) == []


def test_failure_during_close_leaves_nothing(tmp_path, pcm, monkeypatch):
    target = tmp_path / "rec.wav"
    writer = WavWriter(target)
    writer.write(pcm)

    def broken_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(wav.os, "fsync", broken_fsync)
    with pytest.raises(OSError):
        writer.close()
    assert os.listdir(tmp_path) == []


def test_close_fsyncs_file_and_directory(tmp_path, pcm, monkeypatch):
    synced = []
    real_fsync = os.fsync

    def recording_fsync(fd):
        synced.append(os.path.isdir(f"/proc/self/fd/{fd}") if os.path.exists("/proc/self/fd") else fd)
        real_fsync(fd)

    monkeypatch.setattr(wav.os, "fsync", recording_fsync)
    write_wav_atomic(tmp_path / "x.wav", pcm)
    assert synced == [False, True]  # the file first, then its directory


def test_writer_dropped_without_close_removes_its_temp_file(tmp_path, pcm):
    writer = WavWriter(tmp_path / "lost.wav")
    writer.write(pcm)
    del writer
    gc.collect()
    assert os.listdir(tmp_path) == []


def test_unknown_encoding_is_rejected(tmp_path):
    with pytest.raises(ValueError):
        WavWriter(tmp_path / "x.wav", encoding="gsm")
    assert os.listdir(tmp_path) == []
