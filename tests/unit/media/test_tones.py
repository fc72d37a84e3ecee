"""Tone specs in Asterisk indications syntax, cadence-exact generation and the country tone sets."""

from __future__ import annotations

import numpy as np
import pytest

from appliance.media.tones import (
    DBM0_PEAK,
    TonePart,
    ToneGenerator,
    ToneSpec,
    countries,
    dbm0_to_peak,
    tone_set,
)

RATE = 8000


def on_off_runs(samples: np.ndarray) -> list[tuple[bool, int]]:
    """Run lengths of tone/silence, judging 'on' per sample by a 2 ms RMS window."""
    on = np.convolve(samples.astype(float) ** 2, np.ones(16) / 16, "same") > 1000.0
    runs: list[tuple[bool, int]] = []
    for value in on:
        if runs and runs[-1][0] == value:
            runs[-1] = (value, runs[-1][1] + 1)
        else:
            runs.append((bool(value), 1))
    return runs


def power_at(samples: np.ndarray, freq: float) -> float:
    n = np.arange(samples.size)
    return abs(np.sum(samples * np.exp(-2j * np.pi * freq * n / RATE))) / samples.size


def test_parse_asterisk_syntax():
    spec = ToneSpec.parse("!350+440/100,!0/100,480*20/500, 1400")
    assert spec.parts == (
        TonePart(350, 440, False, 100, True),
        TonePart(0, 0, False, 100, True),
        TonePart(480, 20, True, 500, False),
        TonePart(1400, 0, False, 0, False),
    )
    assert spec.repeat_from == 2
    assert str(spec) == "!350+440/100,!0/100,480*20/500,1400"


def test_parse_midi_notes():
    assert ToneSpec.parse("M69/100").parts[0].freq1 == pytest.approx(440.0)


@pytest.mark.parametrize("text", ["", "abc", "350+/100", "350/abc", "350++440"])
def test_parse_rejects_garbage(text):
    with pytest.raises(ValueError):
        ToneSpec.parse(text)


def test_one_shot_prefix_then_continuous_tone_is_sample_exact():
    gen = ToneGenerator("!350+440/100,!0/100,350+440")
    out = gen.read(8000)
    assert np.all(out[800:1600] == 0)
    assert np.count_nonzero(out[:800]) > 790 and np.count_nonzero(out[1600:]) > 6300
    assert not gen.finished


def test_reads_of_any_size_give_the_same_samples():
    spec = "480+620/500,0/500"
    whole = ToneGenerator(spec).read(RATE * 10)
    gen = ToneGenerator(spec)
    sizes = [1, 37, 160, 159, 4000, 3, 800]
    chunks = []
    total = 0
    i = 0
    while total < whole.size:
        n = min(sizes[i % len(sizes)], whole.size - total)
        chunks.append(gen.read(n))
        total += n
        i += 1
    assert np.array_equal(np.concatenate(chunks), whole)


def test_us_busy_cadence_is_exact_over_ten_seconds():
    out = ToneGenerator(tone_set("us").busy).read(RATE * 10)
    for k in range(10):
        on = out[k * 8000:k * 8000 + 4000]
        off = out[k * 8000 + 4000:(k + 1) * 8000]
        assert np.all(off == 0)
        assert np.count_nonzero(on) > 3900  # a two-tone sum crosses zero now and then
    # Each on-period restarts the waveform: identical samples every cycle.
    assert np.array_equal(out[:4000], out[8000:12000])


def test_uk_ringback_double_ring_cadence():
    out = ToneGenerator(tone_set("uk").ringback).read(RATE * 6)
    runs = on_off_runs(out)
    durations = [(on, round(n / 8)) for on, n in runs]
    # 400 on, 200 off, 400 on, 2000 off (ms), twice; run edges blur by the 2 ms window.
    pattern = [d for _, d in durations[:8]]
    assert [on for on, _ in durations[:8]] == [True, False] * 4
    assert all(abs(a - b) <= 2 for a, b in zip(pattern, [400, 200, 400, 2000] * 2))


def test_one_shot_spec_ends_and_read_returns_the_remainder():
    gen = ToneGenerator("!950/330,!1400/330,!1800/330")
    first = gen.read(10000)
    assert first.size == 3 * 330 * 8
    assert gen.finished and gen.read(160).size == 0
    gen.reset()
    assert gen.read(160).size == 160


def test_frequencies_and_level():
    out = ToneGenerator("350+440", level_dbm0=-13).read(8000)
    peak = dbm0_to_peak(-13)
    assert power_at(out, 350) == pytest.approx(peak / 2, rel=0.01)
    assert power_at(out, 440) == pytest.approx(peak / 2, rel=0.01)
    assert power_at(out, 1000) < peak * 0.001
    assert DBM0_PEAK * 10 ** (3.17 / 20) == pytest.approx(32636, rel=1e-3)


def test_modulated_tone_has_sidebands():
    out = ToneGenerator("400*25", level_dbm0=-10).read(8000)
    carrier = power_at(out, 400)
    assert power_at(out, 375) == pytest.approx(carrier * 0.45, rel=0.02)
    assert power_at(out, 425) == pytest.approx(carrier * 0.45, rel=0.02)


def test_non_integer_frequency_is_still_continuous():
    spec = "M70"  # 466.16 Hz: no short period, computed per read
    whole = ToneGenerator(spec).read(1000)
    gen = ToneGenerator(spec)
    parts = np.concatenate([gen.read(100) for _ in range(10)])
    assert np.array_equal(parts, whole)


@pytest.mark.parametrize("country", ["us", "uk", "de", "fr", "cn", "ru", "jp", "au", "it", "nl", "in"])
def test_required_countries_have_all_tones(country):
    tones = tone_set(country)
    for spec in (tones.dial, tones.ringback, tones.busy, tones.congestion, tones.call_waiting):
        assert isinstance(spec, ToneSpec)
        assert ToneGenerator(spec).read(160).size == 160
    assert tones.busy.cycle_ms is not None and tones.ringback.cycle_ms is not None
    assert sum(tones.ring_cadence) == tones.ringback.cycle_ms or country == "ru"


def test_country_codes_are_case_insensitive_and_aliased():
    assert tone_set("GB") is tone_set("uk")
    assert set(countries()) >= {"us", "uk", "de", "fr", "cn", "ru", "jp", "au", "it", "nl", "in"}


def test_unknown_country_raises_key_error():
    with pytest.raises(KeyError):
        tone_set("xx")


def test_cadences_from_e180():
    assert str(tone_set("us").ringback) == "440+480/2000,0/4000"
    assert str(tone_set("de").busy) == "425/480,0/480"
    assert str(tone_set("fr").dial) == "440"
    assert str(tone_set("cn").congestion) == "450/700,0/700"
    assert tone_set("uk").ring_cadence == (400, 200, 400, 2000)
