"""PromptLibrary: lookups, English fallback, audio cache, sequences, and a clear error when not built."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from appliance.media.wav import write_wav_atomic
from appliance.prompts import PromptLibrary, PromptsNotBuilt, UnknownPrompt
from appliance.prompts import manifest


def _rendered(root: Path, prompts: dict[str, dict[str, int]]) -> Path:
    """A rendered directory whose prompt `id` in `lang` is a constant signal of the given value."""
    data = manifest.empty()
    for lang, values in prompts.items():
        entries = {}
        (root / lang).mkdir(parents=True, exist_ok=True)
        for pid, value in values.items():
            write_wav_atomic(root / lang / f"{pid}.wav", np.full(800, value, dtype=np.int16))
            entries[pid] = {"hash": "x", "text": f"{pid} in {lang}", "samples": 800}
        data["languages"][lang] = {"name": lang, "voice": "v", "speed": 150, "prompts": entries}
    manifest.write(root, data)
    return root


@pytest.fixture
def library(tmp_path) -> PromptLibrary:
    _rendered(tmp_path, {"en": {"digit_1": 100, "goodbye": 200, "vm_welcome": 300}, "zh": {"digit_1": 111}})
    return PromptLibrary(tmp_path)


def test_a_missing_build_names_the_build_command(tmp_path):
    with pytest.raises(PromptsNotBuilt, match="python -m appliance.prompts build"):
        PromptLibrary(tmp_path / "nowhere")


def test_an_empty_manifest_counts_as_not_built(tmp_path):
    manifest.write(tmp_path, manifest.empty())
    with pytest.raises(PromptsNotBuilt):
        PromptLibrary(tmp_path)


def test_languages_list_english_first(library):
    assert library.languages == ("en", "zh")


def test_path_and_audio_of_a_prompt_in_its_language(library, tmp_path):
    assert library.path("digit_1", "zh") == tmp_path / "zh" / "digit_1.wav"
    pcm = library.audio("digit_1", "zh")
    assert pcm.dtype == np.int16 and pcm.size == 800 and set(pcm.tolist()) == {111}
    assert library.text("digit_1", "zh") == "digit_1 in zh"


def test_a_prompt_missing_in_a_language_falls_back_to_english_and_logs_once(library, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="appliance.prompts.library"):
        assert library.path("goodbye", "zh") == tmp_path / "en" / "goodbye.wav"
        library.path("goodbye", "zh")
        library.audio("goodbye", "zh")
    assert len([r for r in caplog.records if "goodbye" in r.getMessage()]) == 1
    assert library.has("goodbye", "en") and not library.has("goodbye", "zh")


def test_an_unknown_language_is_spoken_in_english(library, tmp_path):
    assert library.path("digit_1", "fr") == tmp_path / "en" / "digit_1.wav"


def test_an_unknown_prompt_is_an_error_naming_it(library):
    with pytest.raises(UnknownPrompt, match="'no_such'.*'zh'"):
        library.path("no_such", "zh")
    with pytest.raises(KeyError):  # it is also a KeyError, for callers that treat it as a lookup miss
        library.audio("no_such", "en")


def test_audio_is_cached_and_read_only(library, tmp_path):
    first = library.audio("goodbye", "en")
    (tmp_path / "en" / "goodbye.wav").unlink()
    assert library.audio("goodbye", "en") is first
    with pytest.raises(ValueError):
        first[0] = 1


def test_the_cache_is_bounded(tmp_path):
    _rendered(tmp_path, {"en": {f"p{i}": i for i in range(5)}})
    library = PromptLibrary(tmp_path, cache_bytes=2 * 1600)  # room for two prompts
    for i in range(5):
        library.audio(f"p{i}", "en")
    assert library._cached_bytes <= 2 * 1600 and len(library._cache) == 2


def test_a_sequence_puts_a_gap_between_prompts_only(library):
    pcm = library.sequence(["digit_1", "goodbye", "vm_welcome"], "en", gap_ms=80)
    assert pcm.size == 3 * 800 + 2 * 640
    assert pcm[799] == 100 and pcm[800:1440].tolist() == [0] * 640 and pcm[1440] == 200
    assert library.sequence([], "en").size == 0
    assert library.sequence(["digit_1"], "zh", gap_ms=0).tolist() == [111] * 800


def test_texts_of_a_sequence(library):
    assert library.texts(["digit_1", "goodbye"], "zh") == "digit_1 in zh goodbye in en"


def test_the_default_root_is_the_rendered_directory_of_the_package():
    from appliance.prompts.catalog import RENDERED_DIR

    try:
        library = PromptLibrary()
    except PromptsNotBuilt as err:
        assert str(RENDERED_DIR) in str(err)
    else:
        assert library.root == RENDERED_DIR
