"""What recording a call costs: CPU per recorded call per 20 ms tick, and the end-of-call mix per hour of audio.

    python -m bench.recording                 # about 15 s
    python -m bench.recording --calls 100 --ticks 250

A recorded call taps both legs of a relayed call (D-engine-3): every received packet is also parsed into the
leg's jitter buffer, and on each tick both legs are decoded and appended to their part files. The figure is
measured as in `bench.media_relay.tick_cost` (receive handler + clock, sockets replaced by no-ops; the part files
are really written, to a temporary directory through the page cache): N relayed calls without recording, then the same N
calls recorded, and the difference per call. The end-of-call mix (storage.assemble: read both parts, sum,
write, fsync) is timed on two parts of a given length.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import struct
import tempfile
import time
from pathlib import Path

import numpy as np

from appliance.media import g711
from appliance.media.wav import write_wav_atomic
from appliance.recording import storage
from appliance.recording.service import RecordingService

PERIOD = 0.020
_RTP = struct.Struct("!BBHII")


def tick_cost(calls: int, ticks: int, record: bool, directory: Path) -> float:
    """CPU µs per call per 20 ms tick for `calls` relayed PCMU calls, recorded or not."""

    async def scenario() -> float:
        from appliance.media.engine import MediaEngine

        fake = [1000.0]
        engine = MediaEngine("127.0.0.1", 40000 + random.randrange(0, 8000, 2), 59999, clock=lambda: fake[0])
        await engine.start()
        engine._clock_task.cancel()  # ticks are driven by hand below
        eps = [await engine.create_endpoint() for _ in range(2 * calls)]
        for ep in eps:
            ep.set_remote("127.0.0.1", 9)
            ep.timeout = 0
            ep.set_codec("PCMU", 0, 101)
            ep._sendto = lambda data, addr: None
        pairs = list(zip(eps[::2], eps[1::2]))
        for a, b in pairs:
            engine.connect(a, b)
        recordings = []
        if record:
            service = RecordingService(directory, lambda n: None, min_free_mb=0)
            for i, (a, b) in enumerate(pairs):
                recording = service.for_call(1_700_000_000.0, "2001", str(3000 + i))
                assert recording.start([a, b], forced=True)
                recordings.append(recording)
        payload = g711.ulaw_encode((np.sin(np.arange(160) / 5) * 8000).astype(np.int16))
        source = ("127.0.0.1", 9)
        elapsed = 0.0
        for t in range(ticks):
            fake[0] += PERIOD
            start = time.perf_counter()
            for i, ep in enumerate(eps):
                ep._on_rtp(_RTP.pack(0x80, 0, t & 0xFFFF, t * 160, 1000 + i) + payload, source)
            engine._tick(fake[0])
            engine.clock.advance()
            elapsed += time.perf_counter() - start
        for recording in recordings:
            done = recording.finish()
            if done is not None:
                await done
        await engine.close()
        return elapsed / ticks / calls * 1e6

    return asyncio.run(scenario())


def mix_cost(seconds: float, directory: Path) -> float:
    """Wall-clock seconds storage.assemble takes for two parts of `seconds` each (fsync included)."""
    rng = np.random.default_rng(1)
    parts = []
    for leg in range(2):
        path = storage.part_path(directory, "bench", 0, leg)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_wav_atomic(path, rng.integers(-8000, 8000, int(seconds * 8000)).astype(np.int16))
        parts.append(path)
    start = time.perf_counter()
    storage.assemble([parts], directory / "bench.wav")
    elapsed = time.perf_counter() - start
    (directory / "bench.wav").unlink()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--ticks", type=int, default=250)
    parser.add_argument("--repeat", type=int, default=3, help="runs per case; the cheapest is shown")
    parser.add_argument("--mix-seconds", type=float, default=600.0, help="length of the call whose mix is timed")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-recording-") as tmp:
        directory = Path(tmp)
        costs = {False: [], True: []}
        for _ in range(max(1, args.repeat)):
            for record in (False, True):
                costs[record].append(tick_cost(args.calls, args.ticks, record, directory))
        plain, recorded = min(costs[False]), min(costs[True])
        extra = recorded - plain
        budget = PERIOD * 1e6
        print(f"{args.calls} relayed PCMU calls, {args.ticks} ticks, µs of CPU per call per 20 ms tick "
              f"(receive handler + clock, no socket calls; best of {args.repeat}):")
        print(f"  relayed, not recorded       {plain:7.2f}")
        print(f"  relayed and recorded        {recorded:7.2f}   (range {min(costs[True]):.2f}–{max(costs[True]):.2f})")
        print(f"  recording adds per call     {extra:7.2f}   → ~{budget / max(extra, 1e-9):5.0f} recorded calls "
              f"per core ({extra / budget * 100:.2f} % of a core each)")
        elapsed = mix_cost(args.mix_seconds, directory)
        print(f"end-of-call mix of a {args.mix_seconds:.0f} s call (two parts → one WAV, fsync): {elapsed * 1000:.0f} ms "
              f"= {elapsed / args.mix_seconds * 1e6:.0f} µs per second of call "
              f"(~{elapsed / args.mix_seconds * 3600:.1f} s per hour, on a worker thread)")


if __name__ == "__main__":
    main()
