"""Mixing on the 20 ms tick, sans-I/O: N−1 conference mixes and summed sources, from decoded input frames.

A conference of N members costs one int32 sum of the N inputs plus one subtraction per member (not N² sums):
each member hears the group total minus its own input.  Sums are clipped back to int16 once, at the end.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping

import numpy as np

from appliance.media.routing import Route

__all__ = ["FRAME_SAMPLES", "Mixer", "mix_outputs", "silence"]

FRAME_SAMPLES = 160  # 20 ms at 8 kHz, the engine's internal frame
_SILENCE = np.zeros(FRAME_SAMPLES, dtype=np.int16)
_SILENCE.flags.writeable = False


def silence() -> np.ndarray:
    """A read-only frame of silence (shared; never write into it)."""
    return _SILENCE


def _clip16(acc: np.ndarray) -> np.ndarray:
    """Saturate int32 sums to int16 with two in-place ufunc calls (np.clip's Python wrapper costs more)."""
    np.minimum(acc, 32767, out=acc)
    np.maximum(acc, -32768, out=acc)
    return acc.astype(np.int16)


def mix_outputs(inputs: Mapping[Hashable, np.ndarray], routes: Mapping[Hashable, Route],
                groups: Mapping[Hashable, Iterable[Hashable]],
                keys: Iterable[Hashable] | None = None) -> dict[Hashable, np.ndarray]:
    """The output frame of every clocked route in `keys` (default: all) that mixes inputs.

    `inputs` holds this tick's decoded frame per node (absent = nothing received: silence).  Routes whose output
    comes from an override (a player) are the caller's business and are skipped when they have no group/sources.
    A conference is mixed as one matrix: row i of (total − inputs) is what member i hears.
    """
    outputs: dict[Hashable, np.ndarray] = {}
    totals: dict[Hashable, np.ndarray] = {}
    for group, members in groups.items():
        members = list(members)
        if not members:
            continue
        matrix = np.zeros((len(members), FRAME_SAMPLES), dtype=np.int32)
        for row, member in enumerate(members):
            frame = inputs.get(member)
            if frame is not None:
                matrix[row] = frame
        total = matrix.sum(axis=0)
        totals[group] = total
        np.subtract(total, matrix, out=matrix)
        mixed = _clip16(matrix)
        for row, member in enumerate(members):
            outputs[member] = mixed[row]

    for key in routes if keys is None else keys:
        route = routes[key]
        if not route.clocked or (route.group is None and not route.sources):
            outputs.pop(key, None)
            continue
        if route.group is not None and not route.sources and key in outputs:
            continue  # a plain conference member: done above
        if route.group is None and len(route.sources) == 1:
            # The common transcoding case: one source, nothing to add, no int32 round trip.
            outputs[key] = inputs.get(route.sources[0], _SILENCE)
            continue
        acc = np.zeros(FRAME_SAMPLES, dtype=np.int32)
        if route.group is not None:
            if key in outputs:
                acc += outputs[key]      # a member with extra sources (a whisperer): N−1 mix plus them
            elif route.group in totals:
                acc += totals[route.group]  # a listener of a conference hears all of it
        for source in route.sources:
            frame = inputs.get(source)
            if frame is not None:
                acc += frame
        outputs[key] = _clip16(acc)
    return outputs


class Mixer:
    """A conference handle returned by `MediaEngine.create_mixer()`: members hear everyone but themselves."""

    def __init__(self, engine: object, key: int) -> None:
        self._engine = engine
        self.key = key
        self.members: list[object] = []

    def add(self, endpoint: object) -> None:
        """Put `endpoint` in the conference (it leaves any two-party connection or other conference)."""
        self._engine._mixer_add(self, endpoint)  # type: ignore[attr-defined]

    def remove(self, endpoint: object) -> None:
        """Take `endpoint` out; it then sends nothing until connected again."""
        self._engine._mixer_remove(self, endpoint)  # type: ignore[attr-defined]

    def close(self) -> None:
        """Remove every member."""
        for endpoint in list(self.members):
            self.remove(endpoint)

    def __len__(self) -> int:
        return len(self.members)
