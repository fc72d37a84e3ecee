"""Recording a call through the real media engine, ticked by hand: policy, one-touch segments, disk cap, file."""

from __future__ import annotations

import asyncio
import logging
import random
import struct
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from appliance.media import g711
from appliance.media.engine import MediaEngine
from appliance.recording import storage
from appliance.recording.service import MB, RecordingService
from tests import audio

START = 1_717_243_200.0  # 2024-06-01 12:00:00 UTC
_RTP = struct.Struct("!BBHII")


class Room:
    """Two phones' endpoints bridged in a real engine whose clock is driven by the test."""

    def __init__(self, engine: MediaEngine, a: Any, b: Any, relayed: list[int]) -> None:
        self.engine, self.a, self.b = engine, a, b
        self.now = 1000.0
        self.seq = 0
        self.relayed = relayed  # packets the relay sent on, per direction (a→b, b→a)

    def talk(self, seconds: float, a_freq: float | None, b_freq: float | None) -> None:
        """Both phones send 20 ms PCMU packets (a tone, or silence when None) and the engine ticks."""
        for _ in range(int(seconds * 50)):
            self.now += 0.020
            for ep, freq, ssrc in ((self.a, a_freq, 1111), (self.b, b_freq, 2222)):
                t = (np.arange(160) + self.seq * 160) / 8000
                pcm = (8000 * np.sin(2 * np.pi * freq * t)).astype(np.int16) if freq else np.zeros(160, np.int16)
                ep._on_rtp(_RTP.pack(0x80, 0, self.seq & 0xFFFF, self.seq * 160, ssrc) + g711.ulaw_encode(pcm),
                           ("127.0.0.1", 7000 if ep is self.a else 7002))
            self.seq += 1
            self.engine._tick(self.now)
            self.engine.clock.advance()


def run(scenario: Callable[[Room, RecordingService], Awaitable[Any]], tmp_path: Path, **service_kw: Any) -> Any:
    """Run `scenario(room, service)` with a fresh engine and a recording service on `tmp_path/recordings`."""

    async def main() -> Any:
        clock = [1000.0]
        engine = MediaEngine("127.0.0.1", 40000 + random.randrange(0, 16000, 2), 59999, clock=lambda: clock[0])
        await engine.start()
        engine._clock_task.cancel()  # ticked by hand
        a, b = await engine.create_endpoint(), await engine.create_endpoint()
        relayed = [0, 0]
        for i, (ep, port) in enumerate(((a, 7000), (b, 7002))):
            ep.set_remote("127.0.0.1", port)
            ep.set_codec("PCMU", 0, 101)

            def sent(data: bytes, addr: Any, i: int = i) -> None:
                relayed[i] += 1
            ep._sendto = sent
        engine.connect(a, b)
        room = Room(engine, a, b, relayed)
        engine.now = lambda: room.now
        a._time = b._time = lambda: room.now
        service_kw.setdefault("find_extension", lambda number: None)
        service = RecordingService(tmp_path / "recordings", token=lambda: "tok", **service_kw)
        service.recover()
        try:
            return await scenario(room, service)
        finally:
            await engine.close()

    return asyncio.run(main())


def test_a_recorded_call_is_one_mono_wav_with_both_directions_and_the_relay_keeps_going(tmp_path):
    async def scenario(room: Room, service: RecordingService) -> Any:
        recording = service.for_call(START, "2001", "2002")
        assert recording.start([room.a, room.b], forced=True)
        room.talk(1.2, 1000, 1600)
        return await recording.finish(), list(room.relayed)

    relpath, relayed = run(scenario, tmp_path)
    assert relpath == "2024/06/20240601-120000-2001-2002-tok.wav"
    path = tmp_path / "recordings" / relpath
    samples, rate = audio.read_wav_mono(path)
    assert rate == 8000 and len(samples) / rate == pytest.approx(1.2, abs=0.05)
    assert audio.has_tone(path, 1000, 1.0) and audio.has_tone(path, 1600, 1.0)
    assert relayed == [60, 60]  # every packet still relayed to the other phone
    assert list((tmp_path / "recordings" / storage.PARTS_DIR).iterdir()) == []


def test_one_touch_recording_appends_segments_and_leaves_the_pause_out(tmp_path):
    async def scenario(room: Room, service: RecordingService) -> Any:
        recording = service.for_call(START, "2001", "2002")
        room.talk(0.5, 700, None)           # before *1: not recorded
        assert recording.toggle([room.a, room.b]) == "started"
        room.talk(1.0, 1000, None)
        assert recording.toggle([room.a, room.b]) == "stopped"
        room.talk(1.0, 2000, None)          # paused: not recorded
        assert recording.toggle([room.a, room.b]) == "started"
        room.talk(1.0, None, 1600)
        return await recording.finish()

    path = tmp_path / "recordings" / run(scenario, tmp_path)
    samples, rate = audio.read_wav_mono(path)
    assert len(samples) / rate == pytest.approx(2.0, abs=0.1)
    assert audio.has_tone(path, 1000, 0.8, end=1.0) and audio.has_tone(path, 1600, 0.8, start=1.0)
    assert not audio.has_tone(path, 2000, 0.1) and not audio.has_tone(path, 700, 0.1)


def test_the_in_call_code_does_not_stop_a_recording_the_extension_requires(tmp_path):
    async def scenario(room: Room, service: RecordingService) -> Any:
        recording = service.for_call(START, "2001", "2002")
        recording.start([room.a, room.b], forced=True)
        room.talk(0.6, 1000, None)
        outcome = recording.toggle([room.a, room.b])
        room.talk(0.6, 1000, None)
        return outcome, await recording.finish()

    outcome, relpath = run(scenario, tmp_path)
    assert outcome == "kept"
    samples, rate = audio.read_wav_mono(tmp_path / "recordings" / relpath)
    assert len(samples) / rate == pytest.approx(1.2, abs=0.05)


def test_a_call_where_nothing_was_recorded_has_no_recording(tmp_path):
    async def scenario(room: Room, service: RecordingService) -> Any:
        recording = service.for_call(START, "2001", "2002")
        room.talk(0.2, 1000, 1600)
        return recording.finish()

    assert run(scenario, tmp_path) is None


def test_a_recording_stopped_at_once_is_not_kept(tmp_path):
    async def scenario(room: Room, service: RecordingService) -> Any:
        recording = service.for_call(START, "2001", "2002")
        recording.toggle([room.a, room.b])
        room.talk(0.1, 1000, 1600)
        recording.toggle([room.a, room.b])
        return await recording.finish()

    assert run(scenario, tmp_path) is None
    assert not list((tmp_path / "recordings").glob("20*/**/*.wav"))
    assert list((tmp_path / "recordings" / storage.PARTS_DIR).iterdir()) == []


def test_recording_does_not_start_with_less_free_space_than_the_cap(tmp_path, caplog):
    async def scenario(room: Room, service: RecordingService) -> Any:
        recording = service.for_call(START, "2001", "2002", "call 7")
        forced = recording.start([room.a, room.b], forced=True)
        toggled = recording.toggle([room.a, room.b])
        room.talk(0.5, 1000, 1600)
        return forced, toggled, recording.finish(), room.a.recorder

    with caplog.at_level(logging.WARNING, logger="appliance.recording.service"):
        forced, toggled, done, recorder = run(scenario, tmp_path, min_free_mb=200,
                                              free_bytes=lambda path: 199 * MB)
    assert (forced, toggled, done, recorder) == (False, "refused", None, None)
    assert "call 7: not recorded, less than 200 MB free" in caplog.text


def test_running_recordings_stop_when_free_space_falls_below_the_cap_and_keep_what_they_hold(tmp_path, caplog):
    free = [500 * MB]

    async def scenario(room: Room, service: RecordingService) -> Any:
        recording = service.for_call(START, "2001", "2002")
        recording.start([room.a, room.b], forced=True)
        room.talk(1.0, 1000, 1600)
        assert service.check_space() == 0
        free[0] = 150 * MB
        stopped = service.check_space()
        room.talk(1.0, 2000, 2000)
        return stopped, recording.active, await recording.finish()

    with caplog.at_level(logging.WARNING, logger="appliance.recording.service"):
        stopped, active, relpath = run(scenario, tmp_path, min_free_mb=200, free_bytes=lambda path: free[0])
    assert (stopped, active) == (1, False)
    assert "stopping 1 call recording(s)" in caplog.text
    path = tmp_path / "recordings" / relpath
    assert audio.has_tone(path, 1000, 0.8) and not audio.has_tone(path, 2000, 0.1)


def test_calls_of_extensions_with_record_calls_are_wanted():
    extensions = {"2001": SimpleNamespace(record_calls=True), "2002": SimpleNamespace(record_calls=False)}
    service = RecordingService(Path("/nonexistent"), extensions.get)
    assert service.wanted_by("2001", "2002") and service.wanted_by("2002", "2001")
    assert not service.wanted_by("2002", "5550100") and not service.wanted_by(None, "")


def test_a_negative_cap_is_refused():
    with pytest.raises(ValueError, match="min_free_mb"):
        RecordingService(Path("/nonexistent"), lambda n: None, min_free_mb=-1)
