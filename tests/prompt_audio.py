"""Which voice prompts were played, in order, in a recording made at a phone.

For integration tests: the box plays catalogue prompts (rendered by appliance.prompts), they cross
G.711, RTP, jitter buffers and a recorder, and the test wants ["digit_1", "digit_9", "sym_dot", …]
back. The prompts are deterministic espeak-ng renderings, so the recording holds their exact
waveforms up to gain, codec noise, resampling, offsets and a few 20 ms frames lost or repeated.

Method: each candidate prompt is cut into 60 ms segments, and each segment is located in the
recording by normalised cross-correlation (overlap-save FFTs; level changes cost nothing). A
prompt's alignment is rigid except for jumps of whole frames (what jitter buffers do), found by
dynamic programming over its segments; its score is 1 - the level-weighted mean of (1 - NCC) along
the best alignment, minus a little per jump. Non-overlapping matches above the threshold win, best
first. Measured on espeak-ng digits (en/zh/ru) through G.711 with noise and a lost, zeroed or
repeated frame: true matches score >= 0.83, other speech <= 0.68 (en) / 0.75 (ru) unless it
contains the candidate's sounds: Chinese 三 inside 十三 or 八 inside 转发 score 0.8-0.95, as
"seven" inside "seventy" does. Pass such prompts as `competitors` when they may be heard.

A prompt cut short (a menu interrupted by a key) is found if the part heard still scores above
the threshold, i.e. when nearly all of it was played.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

RATE = 8000
SEGMENT_MS = 60
HOP = 16  # 2 ms: the time grid of the search
FRAME_MS = 20  # what a jitter buffer drops or repeats
DRIFT_MS = 80  # at most this many milliseconds of frames lost or repeated within one prompt
JUMP_COST = 0.04  # score lost per frame lost or repeated
FULL_WEIGHT_DB = 30.0
THRESHOLD = 0.8
BLOCK = 2048  # FFT size of the overlap-save correlation
_OVERLAP = 0.25  # two matches may share at most this fraction of the shorter one
_FLOOR_DB = -50.0  # recording windows quieter than this below the loudest are treated as this loud


@dataclass(frozen=True)
class PromptMatch:
    """One prompt found in a recording."""

    prompt_id: str
    start: float  # seconds into the recording
    end: float
    score: float  # 0..1


def _recording(recording: np.ndarray | Path | str, rate: int) -> np.ndarray:
    if isinstance(recording, (str, Path)):
        from appliance.media.wav import read_wav

        return read_wav(recording, RATE).astype(np.float64)
    x = np.asarray(recording, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError("the recording must be mono (one-dimensional)")
    if rate != RATE:
        from appliance.media.wav import resample

        x = resample(x, rate, RATE)
    return x


def _running_max(a: np.ndarray, half: int) -> np.ndarray:
    """max(a[i-half : i+half+1]) for every i (van Herk/Gil-Werman: O(n) whatever the width)."""
    if half <= 0:
        return a.copy()
    width = 2 * half + 1
    n = a.size
    blocks = -(-(n + 2 * half) // width)
    padded = np.full(blocks * width, -np.inf)
    padded[half:half + n] = a
    grid = padded.reshape(blocks, width)
    prefix = np.maximum.accumulate(grid, axis=1).ravel()
    suffix = np.maximum.accumulate(grid[:, ::-1], axis=1)[:, ::-1].ravel()
    # window [i, i+width) of `padded` covers a[i-half .. i+half]
    return np.maximum(suffix[:n], prefix[width - 1:width - 1 + n])


def _pool(ncc: np.ndarray) -> np.ndarray:
    """The best NCC within ±HOP/2 of every HOP-th position: the search grid's value there."""
    half = HOP // 2
    blocks = -(-(ncc.size + half) // HOP)
    padded = np.full(blocks * HOP, -1.0)
    padded[half:half + ncc.size] = ncc
    return padded.reshape(blocks, HOP).max(axis=1)


class _Correlator:
    """Normalised cross-correlation of short segments against one recording.

    Overlap-save with BLOCK-point FFTs: the recording's block spectra are computed once, and a
    segment costs one batch of small inverse FFTs (several times faster than one FFT of the
    whole recording per segment).
    """

    def __init__(self, x: np.ndarray, max_len: int) -> None:
        self.x = x
        self.n = x.size
        self.max_len = max_len
        self.step = BLOCK - max_len + 1
        blocks = -(-self.n // self.step)
        padded = np.zeros(blocks * self.step + BLOCK)
        padded[:self.n] = x
        view = np.lib.stride_tricks.sliding_window_view(padded, BLOCK)[::self.step][:blocks]
        self.spectra = np.fft.rfft(view, axis=1)
        self.energy = np.concatenate(([0.0], np.cumsum(x * x), np.zeros(max_len)))
        frame = RATE // 50
        whole = self.n // frame
        self.loudest = float(np.max(np.mean(x[:whole * frame].reshape(whole, frame) ** 2, axis=1))) if whole else 0.0
        self._local: dict[int, np.ndarray] = {}

    def _local_energy(self, length: int) -> np.ndarray:
        local = self._local.get(length)
        if local is None:
            positions = np.arange(self.n)
            local = self.energy[np.minimum(positions + length, self.n)] - self.energy[positions]
            floor = length * self.loudest * 10 ** (_FLOOR_DB / 10)
            local = self._local[length] = np.maximum(local, floor)
        return local

    def ncc(self, segment: np.ndarray) -> np.ndarray:
        """NCC of `segment` (at most max_len samples) at every start position of the recording."""
        if segment.size > self.max_len:
            raise ValueError("segment longer than the correlator was built for")
        kernel = np.conj(np.fft.rfft(segment, BLOCK))
        corr = np.fft.irfft(self.spectra * kernel, BLOCK, axis=1)[:, :self.step].ravel()[:self.n]
        norm = np.sqrt(self._local_energy(segment.size) * float(segment @ segment))
        return corr / np.maximum(norm, 1e-9)


def _scores(corr: _Correlator, template: np.ndarray, threshold: float) -> np.ndarray:
    """Score of the template starting at every HOP-th position of the recording.

    The template is cut into SEGMENT_MS segments. Along the template the alignment is rigid
    except that it may jump by whole FRAME_MS frames (a jitter buffer dropped or repeated one)
    at JUMP_COST each, within ±DRIFT_MS of the start: dynamic programming over the segments
    with one state per frame offset. Each segment contributes (1 - its NCC) at its place,
    weighted by its level (full weight within FULL_WEIGHT_DB of the loudest segment, less for
    quieter ones, whose correlation noise would drown); the score is 1 - the weighted loss.
    The search only runs where a cheap bound (each segment at its best place independently)
    can reach the threshold.
    """
    seg = SEGMENT_MS * RATE // 1000
    frame = FRAME_MS * RATE // 1000 // HOP  # hops per frame
    frames = DRIFT_MS // FRAME_MS  # frame offsets each side
    reach = frames * frame
    offsets = reach + frame * np.arange(-frames, frames + 1)  # column of each state in a window
    n_pos = -(-corr.x.size // HOP)
    scores = np.zeros(n_pos)
    pieces = [(offset, template[offset:offset + seg]) for offset in range(0, template.size, seg)]
    pieces = [(o, p) for o, p in pieces if p.size >= seg // 3 and float(p @ p) > 0.0]
    if not pieces:
        return scores
    rms = np.sqrt([float(p @ p) / p.size for _, p in pieces])
    weights = np.minimum(1.0, rms / (rms.max() * 10 ** (-FULL_WEIGHT_DB / 20)))
    weights /= weights.sum()
    grids: list[np.ndarray] = []
    bound = np.zeros(n_pos)
    for (offset, piece), w in zip(pieces, weights):
        pooled = _pool(corr.ncc(piece))
        start = offset // HOP
        # window m of `loss` covers this segment's places for a template starting at m, drifted
        # by -reach .. +reach hops
        loss = np.ones(n_pos + start + 2 * reach + 1)
        take = min(pooled.size, loss.size - reach)
        loss[reach:reach + take] = 1.0 - np.clip(pooled[:take], 0.0, 1.0)
        windows = np.lib.stride_tricks.sliding_window_view(loss, 2 * reach + 1)[start:start + n_pos]
        states = windows[:, offsets] * w
        bound += states.min(axis=1)
        grids.append(states)
    rows = np.nonzero(bound <= 1.0 - threshold)[0]
    if not rows.size:
        return scores
    value = np.full((rows.size, offsets.size), np.inf)
    value[:, frames] = grids[0][rows, frames]  # the first segment defines the start: no drift yet
    for states in grids[1:]:
        best = value.copy()
        best[:, 1:] = np.minimum(best[:, 1:], value[:, :-1] + JUMP_COST)
        best[:, :-1] = np.minimum(best[:, :-1], value[:, 1:] + JUMP_COST)
        value = best + states[rows]
    scores[rows] = 1.0 - value.min(axis=1)
    return scores


def _peaks(score: np.ndarray, half: int, threshold: float) -> np.ndarray:
    """Positions that are the maximum within ±half and above the threshold."""
    above = np.nonzero((score >= threshold) & (score >= _running_max(score, half)))[0]
    if above.size < 2:
        return above
    keep = [above[0]]
    for pos in above[1:]:  # plateaus: one position per run of equal maxima
        if pos - keep[-1] > half:
            keep.append(pos)
    return np.array(keep)


def match_prompts(recording: np.ndarray | Path | str, library: Any, lang: str, candidates: Iterable[str], *,
                  competitors: Iterable[str] = (), rate: int = RATE,
                  threshold: float = THRESHOLD) -> list[PromptMatch]:
    """Every non-overlapping occurrence of a candidate or competitor prompt, in time order."""
    x = _recording(recording, rate)
    x = x - x.mean() if x.size else x
    wanted = dict.fromkeys([*candidates, *competitors])
    templates = {pid: library.audio(pid, lang).astype(np.float64) for pid in wanted}
    if not x.size or not templates:
        return []
    corr = _Correlator(x, SEGMENT_MS * RATE // 1000)
    found: list[PromptMatch] = []
    for pid, template in templates.items():
        score = _scores(corr, template, threshold)
        for pos in _peaks(score, max(1, template.size // 2 // HOP), threshold):
            start = pos * HOP
            found.append(PromptMatch(pid, start / RATE, (start + template.size) / RATE, float(score[pos])))
    chosen: list[PromptMatch] = []
    for match in sorted(found, key=lambda m: -m.score):
        length = match.end - match.start
        if all(min(match.end, c.end) - max(match.start, c.start) <= _OVERLAP * min(length, c.end - c.start)
               for c in chosen):
            chosen.append(match)
    return sorted(chosen, key=lambda m: m.start)


def find_prompts(recording: np.ndarray | Path | str, library: Any, lang: str, candidates: Iterable[str], *,
                 competitors: Iterable[str] = (), rate: int = RATE, threshold: float = THRESHOLD) -> list[str]:
    """The ids of the candidate prompts heard in the recording, in the order they were played.

    `recording`: a WAV path (any rate, any PCM/G.711 format) or samples at `rate` (default 8 kHz);
    `library`: an appliance.prompts.PromptLibrary; `candidates`: the prompt ids to look for;
    `competitors`: prompts that may also be heard and contain a candidate's words (十三 holds 三,
    "seventy" holds "seven"): they are matched too, so the candidate inside them is not reported,
    and are left out of the result.
    """
    candidates = list(candidates)
    keep = set(candidates)
    matches = match_prompts(recording, library, lang, candidates, competitors=competitors, rate=rate,
                            threshold=threshold)
    return [m.prompt_id for m in matches if m.prompt_id in keep]
