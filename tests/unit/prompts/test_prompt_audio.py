"""tests/prompt_audio.find_prompts: which prompts were played, from a recording that crossed the network."""

from __future__ import annotations

import time

import numpy as np
import pytest

from appliance.media import g711
from appliance.media.wav import resample, write_wav_atomic
from appliance.prompts import PromptLibrary, say_digits
from tests.prompt_audio import find_prompts, match_prompts

DIGITS = [f"digit_{d}" for d in range(10)] + ["sym_dot", "sym_star"]


@pytest.fixture(scope="module")
def library(digit_prompts) -> PromptLibrary:
    return PromptLibrary(digit_prompts)


def _call_audio(library: PromptLibrary, ids: list[str], lang: str, rng: np.random.Generator,
                law: str = "ulaw", lost: str = "delete") -> np.ndarray:
    """What a phone records: silences between prompts, a gain, a lost 20 ms frame, noise, G.711."""
    parts = [np.zeros(int(rng.integers(800, 4000)))]
    for pid in ids:
        parts += [library.audio(pid, lang).astype(float), np.zeros(int(rng.integers(0, 2400)))]
    x = np.concatenate(parts) * rng.uniform(0.1, 1.0)
    k = int(rng.integers(2000, x.size - 2000)) // 160 * 160
    if lost == "delete":
        x = np.delete(x, slice(k, k + 160))
    elif lost == "zero":
        x[k:k + 160] = 0.0
    else:  # "repeat": the jitter buffer played a frame twice
        x = np.insert(x, k, x[k - 160:k])
    x += rng.normal(0.0, 20.0, x.size)
    pcm = np.clip(np.rint(x), -32768, 32767).astype(np.int16)
    if law == "ulaw":
        return g711.ulaw_decode(g711.ulaw_encode(pcm))
    return g711.alaw_decode(g711.alaw_encode(pcm))


@pytest.mark.parametrize("lang", ["en", "zh", "ru"])
@pytest.mark.parametrize("lost", ["delete", "zero", "repeat"])
def test_the_digit_sequence_is_recovered_exactly(library, lang, lost):
    rng = np.random.default_rng(hash((lang, lost)) % 2**32)
    for law in ("ulaw", "alaw"):
        text = "".join(rng.choice(list("0123456789.*"), 12))
        ids = say_digits(text, lang)
        candidates = DIGITS + (["zh_yao"] if lang == "zh" else [])
        assert find_prompts(_call_audio(library, ids, lang, rng, law, lost), library, lang, candidates) == ids


def test_repeated_digits_are_all_found(library):
    rng = np.random.default_rng(3)
    ids = ["digit_1", "digit_1", "digit_1", "digit_0", "digit_0"]
    assert find_prompts(_call_audio(library, ids, "en", rng), library, "en", DIGITS) == ids


def test_other_speech_around_the_digits_is_not_taken_for_digits(library):
    rng = np.random.default_rng(4)
    played = ["net_your_ip_address_is", "digit_1", "digit_0", "sym_dot", "digit_4", "you_have"]
    heard = find_prompts(_call_audio(library, played, "en", rng), library, "en", DIGITS)
    assert heard == ["digit_1", "digit_0", "sym_dot", "digit_4"]


def test_competitors_hide_candidates_inside_longer_prompts(library):
    # 十三 holds 三 and 三十 holds 三: listed as competitors they are matched whole and left out
    rng = np.random.default_rng(5)
    played = ["num_13", "digit_3", "num_30", "digit_8"]
    audio = _call_audio(library, played, "zh", rng)
    heard = find_prompts(audio, library, "zh", DIGITS, competitors=["num_13", "num_30"])
    assert heard == ["digit_3", "digit_8"]


def test_a_wav_file_at_16khz_is_read_and_resampled(library, tmp_path):
    rng = np.random.default_rng(6)
    ids = say_digits("10.0.0.7", "ru")
    audio = resample(_call_audio(library, ids, "ru", rng).astype(float), 8000, 16000)
    write_wav_atomic(tmp_path / "heard.wav", np.clip(np.rint(audio), -32768, 32767).astype(np.int16), 16000)
    assert find_prompts(tmp_path / "heard.wav", library, "ru", DIGITS) == ids
    assert find_prompts(audio, library, "ru", DIGITS, rate=16000) == ids


def test_matches_carry_their_times(library):
    silence = np.zeros(8000, dtype=np.int16)
    seven = library.audio("digit_7", "en")
    (match,) = match_prompts(np.concatenate([silence, seven, silence]), library, "en", DIGITS)
    assert match.prompt_id == "digit_7" and match.score > 0.95
    assert abs(match.start - 1.0) < 0.005 and abs(match.end - (1.0 + seven.size / 8000)) < 0.005


def test_silence_and_noise_hold_no_prompts(library):
    rng = np.random.default_rng(7)
    assert find_prompts(np.zeros(16000), library, "en", DIGITS) == []
    assert find_prompts(rng.normal(0, 3000, 40000), library, "en", DIGITS) == []
    assert find_prompts(np.zeros(0), library, "en", DIGITS) == []


def test_ten_seconds_against_twelve_candidates_takes_well_under_a_second(library):
    rng = np.random.default_rng(8)
    ids = say_digits("192.168.100.254.10.20.33", "en")
    audio = _call_audio(library, ids, "en", rng)
    audio = np.concatenate([audio, np.zeros(max(0, 80000 - audio.size), dtype=np.int16)])[:80000]
    find_prompts(audio[:8000], library, "en", DIGITS)  # warm-up (imports, FFT plans)
    started = time.process_time()
    find_prompts(audio, library, "en", DIGITS)
    assert time.process_time() - started < 0.6
