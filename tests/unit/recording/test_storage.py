"""Recording files: names and places, and the mix of the legs' parts into one mono WAV (crash-safe, parts gone)."""

from __future__ import annotations

import struct
from pathlib import Path, PurePosixPath

import numpy as np

from appliance.media.wav import parse_wav, write_wav_atomic
from appliance.recording import storage
from appliance.recording.storage import (
    assemble,
    call_uid,
    part_path,
    recording_relpath,
    remove_stale_parts,
)
from tests import audio

START = 1_717_243_200.0  # 2024-06-01 12:00:00 UTC


def tone(freq: float, seconds: float, amplitude: int = 8000) -> np.ndarray:
    return (amplitude * np.sin(2 * np.pi * freq * np.arange(int(seconds * 8000)) / 8000)).astype(np.int16)


def part(root: Path, segment: int, leg: int, samples: np.ndarray) -> Path:
    path = part_path(root, "uid", segment, leg)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_wav_atomic(path, samples)
    return path


def samples_of(path: Path) -> np.ndarray:
    info, data = parse_wav(path.read_bytes())
    assert (info.channels, info.sample_rate, info.bits_per_sample) == (1, 8000, 16)
    return data[:, 0].astype(np.int16)


def test_the_file_is_named_by_the_calls_utc_start_parties_and_a_token():
    uid = call_uid(START, "2001", "2002", "ab12")
    assert uid == "20240601-120000-2001-2002-ab12"
    assert recording_relpath(START, uid) == PurePosixPath("2024/06/20240601-120000-2001-2002-ab12.wav")


def test_parties_that_are_not_plain_numbers_cannot_escape_the_directory():
    uid = call_uid(START, "../../etc", "a b#c", "ff")
    assert "/" not in uid and ".." not in uid and " " not in uid and "#" not in uid


def test_both_directions_are_mixed_into_one_mono_file_as_long_as_the_longest_leg(tmp_path):
    a = part(tmp_path, 0, 0, tone(1000, 1.0))
    b = part(tmp_path, 0, 1, tone(1600, 0.8))
    target = tmp_path / "2024" / "06" / "call.wav"

    written = assemble([[a, b]], target)

    assert written == 8000
    assert len(samples_of(target)) == 8000
    assert audio.has_tone(target, 1000, 0.9) and audio.has_tone(target, 1600, 0.7)
    assert not a.exists() and not b.exists()


def test_the_mix_is_the_clipped_sum_of_the_legs(tmp_path):
    loud = np.full(160, 30000, dtype=np.int16)
    a = part(tmp_path, 0, 0, loud)
    b = part(tmp_path, 0, 1, np.concatenate((np.full(80, 1000, np.int16), np.full(80, -31000, np.int16))))
    target = tmp_path / "out.wav"
    assemble([[a, b]], target)
    mixed = samples_of(target)
    assert (mixed[:80] == 31000).all()
    assert (mixed[80:] == -1000).all()
    clipped = part(tmp_path, 1, 0, loud), part(tmp_path, 1, 1, loud)
    assemble([list(clipped)], tmp_path / "clipped.wav")
    assert (samples_of(tmp_path / "clipped.wav") == 32767).all()


def test_segments_follow_each_other_in_order(tmp_path):
    segments = [[part(tmp_path, 0, 0, tone(1000, 0.5)), part(tmp_path, 0, 1, tone(1000, 0.5))],
                [part(tmp_path, 1, 0, tone(2000, 0.5)), part(tmp_path, 1, 1, np.zeros(4000, np.int16))]]
    target = tmp_path / "out.wav"
    assert assemble(segments, target) == 8000
    assert audio.has_tone(target, 1000, 0.4, end=0.5) and not audio.has_tone(target, 2000, 0.1, end=0.5)
    assert audio.has_tone(target, 2000, 0.4, start=0.5) and not audio.has_tone(target, 1000, 0.1, start=0.5)


def test_a_recording_stopped_at_once_is_not_kept(tmp_path):
    a = part(tmp_path, 0, 0, tone(1000, 0.1))
    b = part(tmp_path, 0, 1, tone(1600, 0.1))
    target = tmp_path / "out.wav"
    assert assemble([[a, b]], target, min_samples=4000) == 0
    assert not target.exists() and not a.exists() and not b.exists()


def test_nothing_written_when_every_part_is_missing(tmp_path):
    target = tmp_path / "out.wav"
    assert assemble([[tmp_path / "gone-a.wav", tmp_path / "gone-b.wav"]], target) == 0
    assert not target.exists()


def test_a_missing_leg_is_silence(tmp_path):
    a = part(tmp_path, 0, 0, tone(1000, 1.0))
    target = tmp_path / "out.wav"
    assert assemble([[a, tmp_path / "never-written.wav"]], target) == 8000
    assert audio.has_tone(target, 1000, 0.9)


def test_a_part_whose_header_was_never_finished_is_read_to_its_end(tmp_path):
    samples = tone(1000, 0.5)
    path = tmp_path / "raw.wav"
    header = (struct.pack("<4sI4s", b"RIFF", 0, b"WAVE") + struct.pack("<4sIHHIIHH", b"fmt ", 16, 1, 1, 8000,
              16000, 2, 16) + struct.pack("<4sI", b"data", 0))
    path.write_bytes(header + samples.astype("<i2").tobytes())
    target = tmp_path / "out.wav"
    assert assemble([[path]], target) == 4000
    assert np.array_equal(samples_of(target), samples)


def test_a_part_that_is_not_a_wav_is_left_out(tmp_path):
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"not audio at all" * 10)
    a = part(tmp_path, 0, 0, tone(1000, 0.5))
    assert assemble([[a, junk]], tmp_path / "out.wav") == 4000
    assert not junk.exists()


def test_long_recordings_are_mixed_in_chunks_without_seams(tmp_path, monkeypatch):
    monkeypatch.setattr(storage, "MIX_CHUNK", 1000)
    a_samples, b_samples = tone(440, 1.0, 5000), tone(700, 0.77, 5000)
    a, b = part(tmp_path, 0, 0, a_samples), part(tmp_path, 0, 1, b_samples)
    target = tmp_path / "out.wav"
    assemble([[a, b]], target)
    expected = a_samples.astype(np.int32)
    expected[:len(b_samples)] += b_samples
    assert np.array_equal(samples_of(target), expected.astype(np.int16))


def test_the_file_appears_complete_or_not_at_all(tmp_path):
    a = part(tmp_path, 0, 0, tone(1000, 0.5))
    target = tmp_path / "2024" / "06" / "out.wav"
    assemble([[a]], target)
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.wav"]  # no temporary left beside it


def test_parts_left_by_a_crash_are_removed_at_start(tmp_path):
    part(tmp_path, 0, 0, tone(1000, 0.2))
    (tmp_path / storage.PARTS_DIR / ".x.wav.1234.tmp").write_bytes(b"RIFF")
    kept = tmp_path / "2024" / "06" / "kept.wav"
    kept.parent.mkdir(parents=True)
    kept.write_bytes(b"RIFF")
    assert remove_stale_parts(tmp_path) == 2
    assert list((tmp_path / storage.PARTS_DIR).iterdir()) == [] and kept.exists()
