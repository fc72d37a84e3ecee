"""Rendering one prompt: espeak-ng speech -> 8 kHz mono int16, trimmed and level-normalised.

espeak-ng writes 22.05 kHz; we resample with appliance.media.wav.resample (Kaiser-windowed
sinc, exact 160/441 ratio: flat to 3 kHz, -0.8 dB at 3.4 kHz, aliases below -87 dB), which
is what G.711 keeps anyway, and saves a sox process per prompt. Silence at both ends is cut
to a few milliseconds so that composed phrases ("twenty" + "one") do not drag, and every
prompt is brought to the same active speech level (RMS over the frames within 30 dB of the
loudest) so that fragments from different sentences sound even when played in a row.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import shutil
import subprocess

import numpy as np

from appliance.media.wav import parse_wav, resample
from appliance.prompts.exceptions import RenderError

RATE = 8000
# Bump when the processing below changes in a way that changes the audio: every prompt is re-rendered.
RENDERER_VERSION = "1"
TARGET_DBFS = -16.0  # active speech level, RMS relative to a full-scale sine's peak (int16 32768)
PEAK_LIMIT_DBFS = -1.0
MAX_LIMITING_DB = 8.0  # peaks above the limit are squeezed by at most this; beyond, the whole prompt is quieter
LIMITER_MS = 3  # half-width of the limiter's gain window (attack = release)
LEAD_MS, TAIL_MS = 5, 10  # silence kept before and after the speech
FADE_MS = 2
_GATE_DB = 40.0  # trimming: speech is where the 10 ms level is within this of the loudest
_ACTIVE_DB = 30.0  # level: frames within this of the loudest count as active speech
_ESPEAK = "espeak-ng"


class SpeechLevels:
    """Measured levels of a rendered prompt (dBFS), for reports and tests."""

    __slots__ = ("active_dbfs", "peak_dbfs", "gain_db")

    def __init__(self, active_dbfs: float, peak_dbfs: float, gain_db: float) -> None:
        self.active_dbfs, self.peak_dbfs, self.gain_db = active_dbfs, peak_dbfs, gain_db


@functools.cache
def espeak_version() -> str:
    """The installed espeak-ng version ("1.51"); part of every prompt's cache key."""
    exe = shutil.which(_ESPEAK)
    if exe is None:
        raise RenderError("espeak-ng is not installed (Debian: apt-get install espeak-ng; "
                          "see scripts/install-system-deps.sh)")
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False).stdout
    match = re.search(r"text-to-speech:\s*(\S+)", out)
    return match.group(1) if match else out.strip() or "unknown"


@functools.cache
def installed_voices() -> frozenset[str]:
    """Voice names espeak-ng knows (it silently falls back to English for any other name)."""
    espeak_version()  # a clear error if espeak-ng is missing
    out = subprocess.run([_ESPEAK, "--voices"], capture_output=True, text=True, check=False).stdout
    names: set[str] = set()
    for line in out.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 5:
            names.update({fields[1].lower(), fields[3].lower(), fields[4].rsplit("/", 1)[-1].lower()})
    return frozenset(names)


def check_voice(voice: str) -> None:
    """Refuse a voice espeak-ng does not have (a '+variant' suffix is allowed)."""
    if voice.split("+", 1)[0].lower() not in installed_voices():
        raise RenderError(f"espeak-ng has no voice {voice!r} (see `espeak-ng --voices`)")


def prompt_hash(say: str, voice: str, speed: int, espeak: str) -> str:
    """Cache key of one rendered prompt: what is said, how, by which espeak-ng and renderer."""
    key = json.dumps([RENDERER_VERSION, RATE, TARGET_DBFS, espeak, voice, speed, say], ensure_ascii=False)
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def synthesize(say: str, voice: str, speed: int) -> tuple[np.ndarray, int]:
    """Run espeak-ng on `say` (UTF-8 on stdin, so no text is ever taken for an option)."""
    cmd = [_ESPEAK, "-b", "1", "-v", voice, "-s", str(speed), "--stdout", "--stdin"]
    try:
        proc = subprocess.run(cmd, input=say.encode("utf-8"), capture_output=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise RenderError(f"espeak-ng failed on {say!r}: {err}") from err
    if proc.returncode != 0 or not proc.stdout:
        detail = proc.stderr.decode("utf-8", "replace").strip()
        raise RenderError(f"espeak-ng (voice {voice}) exited {proc.returncode} on {say!r}: {detail}")
    try:
        info, samples = parse_wav(proc.stdout, "espeak-ng output")
    except ValueError as err:
        raise RenderError(f"espeak-ng gave no usable WAV for {say!r}: {err}") from err
    return samples[:, 0], info.sample_rate


def _frame_db(x: np.ndarray, frame: int) -> np.ndarray:
    n = len(x) // frame
    power = np.mean(x[:n * frame].reshape(n, frame) ** 2, axis=1)
    return 10 * np.log10(np.maximum(power, 1e-3) / 32768.0 ** 2)


def process(samples: np.ndarray, rate: int) -> tuple[np.ndarray, SpeechLevels]:
    """Resample to 8 kHz, trim silence to LEAD_MS/TAIL_MS, normalise to TARGET_DBFS, to int16."""
    x = resample(np.asarray(samples, dtype=np.float64), rate, RATE)
    x -= x.mean() if x.size else 0.0
    frame = RATE // 100  # 10 ms
    # Trimming on a sliding 10 ms level (hop 1 ms) so the cut lands within a millisecond of speech.
    hop = RATE // 1000
    if x.size < frame:
        raise RenderError("espeak-ng produced less than 10 ms of audio")
    energy = np.concatenate(([0.0], np.cumsum(x * x)))
    starts = np.arange(0, x.size - frame + 1, hop)
    level = (energy[starts + frame] - energy[starts]) / frame
    loud = level.max()
    if loud < (32768.0 * 10 ** (-70 / 20)) ** 2:
        raise RenderError("espeak-ng produced only silence")
    voiced = np.nonzero(level >= loud * 10 ** (-_GATE_DB / 10))[0]
    first = max(0, starts[voiced[0]] - LEAD_MS * RATE // 1000)
    last = min(x.size, starts[voiced[-1]] + frame + TAIL_MS * RATE // 1000)
    x = x[first:last]
    fade = FADE_MS * RATE // 1000
    ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(fade) / fade)
    x[:fade] *= ramp
    x[-fade:] *= ramp[::-1]
    active_dbfs = _active_dbfs(x, frame)
    peak_dbfs = 20 * np.log10(np.abs(x).max() / 32768.0)
    # espeak-ng's crest factor is 16-21 dB: at -16 dBFS its peaks would clip. A short look-around
    # limiter takes the few loudest glottal pulses down (at most MAX_LIMITING_DB) instead of
    # making every prompt quieter.
    gain_db = TARGET_DBFS - active_dbfs
    max_gain_db = PEAK_LIMIT_DBFS + MAX_LIMITING_DB - peak_dbfs
    ceiling = 32768.0 * 10 ** (PEAK_LIMIT_DBFS / 20)
    for _ in range(3):  # limiting lowers the active level a little: make up for it and limit again
        gain_db = min(gain_db, max_gain_db)
        y = _limit(x * 10 ** (gain_db / 20), ceiling, LIMITER_MS * RATE // 1000)
        out_active = _active_dbfs(y, frame)
        if out_active > TARGET_DBFS - 0.2 or gain_db >= max_gain_db:
            break
        gain_db += TARGET_DBFS - out_active
    pcm = np.clip(np.rint(y), -32768, 32767).astype(np.int16)
    levels = SpeechLevels(_active_dbfs(pcm.astype(np.float64), frame),
                          float(20 * np.log10(max(int(np.abs(pcm.astype(np.int32)).max()), 1) / 32768.0)),
                          float(gain_db))
    return pcm, levels


def _active_dbfs(x: np.ndarray, frame: int) -> float:
    """RMS over the 10 ms frames within _ACTIVE_DB of the loudest (a simple active speech level)."""
    db = _frame_db(x, frame)
    active = db[db >= db.max() - _ACTIVE_DB]
    return float(10 * np.log10(np.mean(10 ** (active / 10))))


def _limit(y: np.ndarray, ceiling: float, half: int) -> np.ndarray:
    """Peak limiter without overshoot: the gain needed at each sample, min-filtered over ±half
    samples, then averaged over ±half, never exceeds what any sample needs (each average only
    mixes minima that include that sample) and changes smoothly over 2·half samples."""
    need = np.minimum(1.0, ceiling / np.maximum(np.abs(y), 1e-9))
    if need.min() >= 1.0:
        return y
    width = 2 * half + 1
    padded = np.pad(need, half, constant_values=1.0)
    minimum = np.lib.stride_tricks.sliding_window_view(padded, width).min(axis=1)
    smooth = np.convolve(np.pad(minimum, half, mode="edge"), np.ones(width) / width, mode="valid")
    return y * smooth


def render(say: str, voice: str, speed: int) -> tuple[np.ndarray, SpeechLevels]:
    """Speech for one prompt text, ready to write: 8 kHz mono int16."""
    samples, rate = synthesize(say, voice, speed)
    try:
        return process(samples, rate)
    except RenderError as err:
        raise RenderError(f"{err} (voice {voice}, text {say!r})") from err
