"""The build step with the real espeak-ng: format, level, trimming, caching, clean-up."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from appliance.media.wav import parse_wav
from appliance.prompts import manifest
from appliance.prompts.build import build
from appliance.prompts.exceptions import CatalogError, RenderError
from appliance.prompts.render import RATE, TARGET_DBFS, process, render
from tests.unit.prompts.conftest import needs_espeak

pytestmark = needs_espeak

FEW = ["digit_7", "goodbye", "vm_enter_pin"]


def _catalog_dir(tmp_path: Path, hello: str = "hello", lang_voice: str = "en-us") -> Path:
    directory = tmp_path / "catalog"
    directory.mkdir(exist_ok=True)
    (directory / "en.toml").write_text(
        f'[meta]\nvoice = "{lang_voice}"\nspeed = 160\n[common]\nhello = "{hello}"\ngoodbye = "goodbye"\n',
        encoding="utf-8")
    return directory


def test_prompts_render_to_8khz_mono_16bit_wav_of_plausible_length(tmp_path):
    report = build(tmp_path, ["en", "zh", "ru"], only=FEW, jobs=2)
    assert sorted(report.rendered) == sorted((lang, pid) for lang in ("en", "zh", "ru") for pid in FEW)
    for lang in ("en", "zh", "ru"):
        for pid in FEW:
            info, samples = parse_wav((tmp_path / lang / f"{pid}.wav").read_bytes())
            assert (info.format_tag, info.channels, info.sample_rate, info.bits_per_sample) == (1, 1, RATE, 16)
            seconds = info.frames / RATE
            assert {"digit_7": 0.2 <= seconds <= 1.0, "goodbye": 0.3 <= seconds <= 1.5,
                    "vm_enter_pin": 1.2 <= seconds <= 5.0}[pid], (lang, pid, seconds)
            assert np.abs(samples).max() > 10000  # not silent


def test_silence_is_trimmed_and_the_level_is_even(tmp_path):
    for text in ("seven", "Please enter your PIN, followed by pound."):
        pcm, levels = render(text, "en-us", 155)
        assert abs(levels.active_dbfs - TARGET_DBFS) < 1.5
        assert levels.peak_dbfs <= -0.9
        head = np.abs(pcm[:int(0.02 * RATE)].astype(float))
        tail = np.abs(pcm[-int(0.02 * RATE):].astype(float))
        assert head.max() > 300 or tail.max() > 300  # speech starts or ends within 20 ms of the edges


def test_a_quiet_input_is_brought_to_the_target_level():
    t = np.arange(22050) / 22050
    quiet = 300 * np.sin(2 * np.pi * 440 * t) * (t > 0.2) * (t < 0.7)
    pcm, levels = process(quiet, 22050)
    assert abs(levels.active_dbfs - TARGET_DBFS) < 0.5
    assert 0.49 <= pcm.size / RATE <= 0.54  # 0.5 s of tone, a few ms kept on each side


def test_silence_is_an_error():
    with pytest.raises(RenderError, match="silence"):
        process(np.zeros(22050), 22050)


def test_a_second_build_renders_nothing_and_touches_no_file(tmp_path):
    build(tmp_path, ["en"], only=FEW)
    stamps = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.wav")}
    listing = (tmp_path / "manifest.json").stat().st_mtime_ns
    report = build(tmp_path, ["en"], only=FEW)
    assert report.rendered == [] and report.cached == len(FEW)
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.wav")} == stamps
    assert (tmp_path / "manifest.json").stat().st_mtime_ns == listing


def test_a_changed_text_renders_only_that_prompt_again(tmp_path):
    catalog = _catalog_dir(tmp_path)
    out = tmp_path / "out"
    assert len(build(out, ["en"], catalog_dir=catalog).rendered) == 2
    _catalog_dir(tmp_path, hello="hello there")
    report = build(out, ["en"], catalog_dir=catalog)
    assert report.rendered == [("en", "hello")] and report.cached == 1
    entry = manifest.read(out)["languages"]["en"]["prompts"]["hello"]
    assert entry["text"] == "hello there"


def test_a_missing_file_is_rendered_again(tmp_path):
    build(tmp_path, ["en"], only=FEW)
    (tmp_path / "en" / "goodbye.wav").unlink()
    assert build(tmp_path, ["en"], only=FEW).rendered == [("en", "goodbye")]


def test_prompts_gone_from_the_catalogue_are_removed(tmp_path):
    catalog = _catalog_dir(tmp_path)
    out = tmp_path / "out"
    build(out, ["en"], catalog_dir=catalog)
    (catalog / "en.toml").write_text('[meta]\nvoice = "en-us"\n[common]\nhello = "hello"\n', encoding="utf-8")
    report = build(out, ["en"], catalog_dir=catalog)
    assert report.removed == 1 and not (out / "en" / "goodbye.wav").exists()
    assert list(manifest.read(out)["languages"]["en"]["prompts"]) == ["hello"]


def test_building_one_language_keeps_the_others(tmp_path):
    build(tmp_path, ["en", "ru"], only=["digit_7"])
    build(tmp_path, ["en"], only=["digit_7"], force=True)
    assert set(manifest.read(tmp_path)["languages"]) == {"en", "ru"}


def test_an_unknown_voice_is_refused_before_rendering(tmp_path):
    # espeak-ng itself would silently speak English with it
    catalog = _catalog_dir(tmp_path, lang_voice="no-such-voice")
    with pytest.raises(RenderError, match="catalogue en: .*no voice 'no-such-voice'"):
        build(tmp_path / "out", ["en"], catalog_dir=catalog, jobs=1)


def test_an_unknown_prompt_id_is_refused(tmp_path):
    with pytest.raises(CatalogError, match="no_such_prompt"):
        build(tmp_path, ["en"], only=["no_such_prompt"])


def test_the_command_line_builds_into_a_directory(tmp_path, capsys):
    from appliance.prompts.__main__ import main

    catalog_free = tmp_path / "out"
    assert main(["build", "--out", str(catalog_free), "--lang", "en", "--jobs", "2"]) == 0
    assert "rendered" in capsys.readouterr().out
    data = json.loads((catalog_free / "manifest.json").read_text(encoding="utf-8"))
    assert len(data["languages"]["en"]["prompts"]) == len(list((catalog_free / "en").glob("*.wav"))) > 200
    assert main(["build", "--out", str(catalog_free), "--lang", "en", "--quiet"]) == 0
    assert capsys.readouterr().out == ""


def test_the_say_command_prints_ids_and_texts(capsys):
    from appliance.prompts.__main__ import main

    assert main(["say", "ru", "count", "21:new_message"]) == 0
    out = capsys.readouterr().out
    assert "ru_odin_n" in out and "двадцать одно новое сообщение" in out


def test_a_failed_render_is_reported_and_the_rest_is_kept(tmp_path, monkeypatch):
    from appliance.prompts import build as build_module

    real = build_module.render

    def flaky(say, voice, speed):
        if say == "goodbye":
            raise RenderError("espeak-ng exited 1")
        return real(say, voice, speed)

    monkeypatch.setattr(build_module, "render", flaky)
    catalog = _catalog_dir(tmp_path)
    with pytest.raises(RenderError, match="1 prompt.*en/goodbye"):
        build(tmp_path / "out", ["en"], catalog_dir=catalog, jobs=1)
    assert list(manifest.read(tmp_path / "out")["languages"]["en"]["prompts"]) == ["hello"]
