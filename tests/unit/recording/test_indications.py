"""Recording tones through the real media engine, ticked by hand: each phone hears the tone in place of the
other party for the tone's length only, the relay resumes by itself, and the tones are not recorded."""

from __future__ import annotations

from typing import Any

import numpy as np

from appliance.media import g711
from appliance.recording.indications import PAUSED, STARTED, indicate
from appliance.recording.service import RecordingService
from tests import audio
from tests.unit.recording.test_service import START, Room, run

FREQS = (900.0, 1000.0, 1400.0, 1600.0)
STARTED_HZ = 1400.0


def capture(room: Room) -> dict[str, list[bytes]]:
    """From now on, keep the RTP payloads the engine sends to each phone (relayed or generated)."""
    heard: dict[str, list[bytes]] = {"a": [], "b": []}
    for name, ep in (("a", room.a), ("b", room.b)):
        ep._sendto = lambda data, addr, name=name: heard[name].append(bytes(data[12:]))
    return heard


def labels(payloads: list[bytes]) -> list[float]:
    """Per 20 ms packet: which of FREQS it holds (0 for silence or anything else)."""
    out = []
    for payload in payloads:
        pcm = g711.ulaw_decode(payload).astype(np.float64)
        if np.sqrt(np.mean(pcm ** 2)) < 200:
            out.append(0.0)
            continue
        found = audio.dominant_frequency(pcm, 8000)
        out.append(next((f for f in FREQS if abs(found - f) < 40), 0.0))
    return out


def runs(sequence: list[float]) -> list[tuple[float, int]]:
    """Run-length encoding: [(value, count), ...]."""
    result: list[tuple[float, int]] = []
    for value in sequence:
        if result and result[-1][0] == value:
            result[-1] = (value, result[-1][1] + 1)
        else:
            result.append((value, 1))
    return result


def test_each_phone_hears_one_start_beep_in_place_of_the_other_party_then_the_other_party_again(tmp_path):
    async def scenario(room: Room, service: RecordingService) -> Any:
        room.talk(0.2, 1000, 1600)
        heard = capture(room)
        room.talk(0.2, 1000, 1600)
        players = indicate([room.a, room.b], STARTED)
        room.talk(0.6, 1000, 1600)
        return heard, [p.done.result() for p in players]

    heard, completed = run(scenario, tmp_path)
    assert completed == [True, True]
    # A hears B (1600 Hz) relayed, then 200 ms of 1400 Hz, then B again. B's packets that arrive while the beep
    # plays are not relayed to A (that is the override), and at most one 20 ms slot more: the player ends on the
    # tick after its last frame, and the packet that came just before that tick is not relayed either.
    for name, other in (("a", 1600.0), ("b", 1000.0)):
        heard_runs = runs(labels(heard[name]))
        assert heard_runs[:2] == [(other, 10), (STARTED_HZ, 10)], name
        assert heard_runs[2][0] == other and 19 <= heard_runs[2][1] <= 20 and len(heard_runs) == 3, name


def test_the_pause_tone_is_two_short_lower_beeps(tmp_path):
    async def scenario(room: Room, service: RecordingService) -> Any:
        heard = capture(room)
        room.talk(0.2, 1000, 1600)
        indicate([room.a], PAUSED)
        room.talk(0.6, 1000, 1600)
        return heard

    heard = run(scenario, tmp_path)
    assert runs(labels(heard["a"]))[:4] == [(1600.0, 10), (900.0, 5), (0.0, 5), (900.0, 5)]
    assert runs(labels(heard["a"]))[4][0] == 1600.0
    assert runs(labels(heard["b"])) == [(1000.0, 40)]  # the other direction is not touched


def test_an_endpoint_already_playing_keeps_what_it_plays(tmp_path):
    async def scenario(room: Room, service: RecordingService) -> Any:
        music = room.a.play(np.zeros(8000, dtype=np.int16), loop=True)  # music on hold, say
        players = indicate([room.a, room.b], STARTED)
        room.talk(0.3, 1000, 1600)
        return room.a.player is music, len(players)

    assert run(scenario, tmp_path) == (True, 1)


def test_the_tones_are_not_in_the_recording(tmp_path):
    async def scenario(room: Room, service: RecordingService) -> Any:
        recording = service.for_call(START, "2001", "2002")
        assert recording.toggle([room.a, room.b]) == "started"
        indicate([room.a, room.b], STARTED)
        room.talk(1.0, 1000, 1600)
        return await recording.finish()

    path = tmp_path / "recordings" / run(scenario, tmp_path)
    assert audio.has_tone(path, 1000, 0.9) and audio.has_tone(path, 1600, 0.9)
    assert not audio.has_tone(path, 1400, 0.05)
