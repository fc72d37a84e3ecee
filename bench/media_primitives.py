"""Cost of the media primitives per 20 ms frame (160 samples at 8 kHz), on this machine.

    python -m bench.media_primitives            # about 10 s
    python -m bench.media_primitives --seconds 0.1

Each figure is the median of several timed batches, in µs per frame. Two references are
measured in the same run so figures compare across machines: copying a 320-byte frame
(`bytes(bytearray)`: the least any per-frame step can cost in Python) and one numpy
call on a frame (`ndarray.copy`: the floor of anything vectorised). "calls/core" is how
many streams one core could serve if it did only this step every 20 ms.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np

from appliance.media import g711, g722
from appliance.media.codecs import new_codec
from appliance.media.dtmf import DtmfDetector
from appliance.media.jitter import JitterBuffer
from appliance.media.rtp import ReceptionStats, RtpPacket
from appliance.media.tones import ToneGenerator, tone_set

FRAME = 160
FRAME_US = 20_000.0


def measure(step: Callable[[], object], seconds: float) -> float:
    """Median µs per call of `step` over batches filling about `seconds`."""
    step()
    batch = 1
    while True:  # grow the batch until one takes at least 10 ms
        start = time.perf_counter()
        for _ in range(batch):
            step()
        elapsed = time.perf_counter() - start
        if elapsed >= 0.01:
            break
        batch *= 2
    rounds = max(3, int(seconds / elapsed))
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(batch):
            step()
        samples.append((time.perf_counter() - start) / batch * 1e6)
    return statistics.median(samples)


def _speech_like(n: int) -> np.ndarray:
    rng = np.random.default_rng(1)
    t = np.arange(n) / 8000
    x = 6000 * np.sin(2 * np.pi * 220 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t)) + rng.normal(0, 800, n)
    return np.clip(x, -32768, 32767).astype(np.int16)


def cases() -> list[tuple[str, Callable[[], object]]]:
    """(name, one-frame step) for every primitive; stateful ones cycle through prepared input."""
    audio = _speech_like(FRAME * 500)
    frames = [audio[i:i + FRAME] for i in range(0, audio.size, FRAME)]
    ulaw = [g711.ulaw_encode(f) for f in frames]
    it = {"n": 0}

    def nxt() -> int:
        it["n"] = (it["n"] + 1) % len(frames)
        return it["n"]

    out: list[tuple[str, Callable[[], object]]] = [
        ("g711 ulaw encode", lambda: g711.ulaw_encode(frames[nxt()])),
        ("g711 ulaw decode", lambda: g711.ulaw_decode(ulaw[nxt()])),
        ("g711 alaw encode", lambda: g711.alaw_encode(frames[nxt()])),
        ("g711 ulaw->alaw", lambda: g711.ulaw_to_alaw(ulaw[nxt()])),
    ]
    if g722.available():
        codec = new_codec("G722")
        payloads = [codec.encode(f) for f in frames[:50]]
        enc, dec = new_codec("G722"), new_codec("G722")
        out += [
            ("g722 encode (incl. 8->16k)", lambda: enc.encode(frames[nxt()])),
            ("g722 decode (incl. 16->8k)", lambda: dec.decode(payloads[nxt() % 50])),
        ]
    det = DtmfDetector()
    out.append(("dtmf detector feed", lambda: det.feed(frames[nxt()])))
    dial = ToneGenerator(tone_set("uk").dial)
    busy = ToneGenerator(tone_set("de").busy)
    ringback = ToneGenerator(tone_set("jp").ringback)
    out += [
        ("tone read 350+440 continuous", lambda: dial.read(FRAME)),
        ("tone read 425/480 cadence", lambda: busy.read(FRAME)),
        ("tone read 400*16 modulated", lambda: ringback.read(FRAME)),
    ]

    jb = JitterBuffer()
    clock = {"t": 0.0, "seq": 0}

    def jitter_step() -> object:
        seq = clock["seq"] = clock["seq"] + 1
        clock["t"] += 0.02
        jb.put(RtpPacket(0, seq & 0xFFFF, (seq * 160) & 0xFFFFFFFF, 7, ulaw[seq % 50]), clock["t"])
        return jb.get(clock["t"] + 0.007)

    out.append(("jitter put+get", jitter_step))
    wire = RtpPacket(0, 1234, 5678, 0xDEADBEEF, ulaw[0]).serialize()
    packet = RtpPacket.parse(wire)
    stats = ReceptionStats()
    counter = {"seq": 0}

    def stats_step() -> object:
        counter["seq"] += 1
        packet.sequence_number = counter["seq"] & 0xFFFF
        packet.timestamp = (counter["seq"] * 160) & 0xFFFFFFFF
        return stats.update(packet, counter["seq"] * 0.02)

    out += [
        ("rtp parse", lambda: RtpPacket.parse(wire)),
        ("rtp serialize", packet.serialize),
        ("rtp reception stats update", stats_step),
    ]
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=0.5, help="time spent on each measurement")
    args = parser.parse_args(argv)

    raw = bytearray(320)
    arr = np.zeros(FRAME, dtype=np.int16)
    deadline = time.perf_counter() + 0.5
    while time.perf_counter() < deadline:  # let the CPU clock ramp up before the references
        arr.copy()
    ref_bytes = measure(lambda: bytes(raw), args.seconds)
    ref_numpy = measure(arr.copy, args.seconds)
    print(f"reference: bytes copy of a 320-byte frame  {ref_bytes:8.2f} µs")
    print(f"reference: numpy copy of a 160-sample frame {ref_numpy:8.2f} µs")
    print(f"{'primitive':32} {'µs/frame':>9} {'x bytes':>8} {'x numpy':>8} {'calls/core':>11}")
    for name, step in cases():
        us = measure(step, args.seconds)
        print(f"{name:32} {us:9.2f} {us / ref_bytes:8.1f} {us / ref_numpy:8.1f} {FRAME_US / us:11.0f}")


if __name__ == "__main__":
    main()
