"""Prompt catalogues: every language complete, well-formed, and loadable."""

from __future__ import annotations

import re

import pytest

from appliance.prompts.catalog import (
    REFERENCE_LANGUAGE,
    available_languages,
    check_consistency,
    load_catalog,
    parse_catalog,
)
from appliance.prompts.exceptions import CatalogError

LANGS = available_languages()


def test_english_chinese_and_russian_catalogues_exist_with_english_first():
    assert LANGS[0] == REFERENCE_LANGUAGE
    assert {"en", "zh", "ru"} <= set(LANGS)


@pytest.mark.parametrize("lang", [lang for lang in LANGS if lang != REFERENCE_LANGUAGE])
def test_every_english_prompt_exists_in_every_language(lang):
    missing = set(load_catalog("en").prompts) - set(load_catalog(lang).prompts)
    assert not missing


@pytest.mark.parametrize("lang", LANGS)
def test_ids_beyond_english_carry_the_language_prefix(lang):
    cat = load_catalog(lang)
    extra = set(cat.prompts) - set(load_catalog("en").prompts)
    assert all(pid.startswith(f"{lang}_") for pid in extra), sorted(extra)


def test_the_catalogues_agree_as_a_set():
    assert check_consistency({lang: load_catalog(lang) for lang in LANGS}) == []


@pytest.mark.parametrize("lang", LANGS)
def test_texts_are_non_empty_and_have_no_placeholders(lang):
    # Prompts are rendered ahead of time: anything variable is composed from other prompts.
    for prompt in load_catalog(lang).prompts.values():
        assert prompt.text.strip() and prompt.say.strip()
        assert not re.search(r"[{}%$]|\{\w*\}", prompt.text), (prompt.id, prompt.text)


@pytest.mark.parametrize("lang", LANGS)
def test_ids_are_snake_case_and_meta_names_a_voice(lang):
    cat = load_catalog(lang)
    assert all(re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)*", pid) for pid in cat.prompts)
    assert cat.voice and 80 <= cat.speed <= 450


@pytest.mark.parametrize("lang", LANGS)
def test_the_fragments_composition_relies_on_are_present(lang):
    cat = load_catalog(lang)
    needed = [f"digit_{d}" for d in range(10)] + [f"num_{n}" for n in range(10, 20)]
    needed += [f"num_{t}0" for t in range(2, 10)] + [f"num_{h}00" for h in range(1, 10)]
    needed += [f"ord_{d}" for d in range(1, 20)] + ["ord_20", "ord_30"]
    needed += [f"month_{m}" for m in range(1, 13)] + [f"weekday_{d}" for d in range(7)]
    needed += [f"on_weekday_{d}" for d in range(7)]
    for noun in ("message", "new_message", "old_message", "hour", "minute", "second", "num_thousand"):
        needed += [f"{noun}_{form}" for form in ("one", "few", "many")]
    assert not [pid for pid in needed if pid not in cat]


def test_a_prompt_may_give_espeak_other_text_than_people_read():
    cat = load_catalog("zh")
    assert cat.prompts["net_wan_address"].text == "外网地址"
    assert "di4zhi3" in cat.prompts["net_wan_address"].say


def _parse(tables: dict) -> None:
    parse_catalog("xx", {"meta": {"voice": "en-us", "speed": 150}, **tables}, "test.toml")


def test_a_duplicate_id_across_groups_is_refused():
    with pytest.raises(CatalogError, match="duplicate id"):
        _parse({"a": {"hello": "hi"}, "b": {"hello": "hello"}})


@pytest.mark.parametrize("tables,message", [
    ({"a": {"Hello": "hi"}}, "snake_case"),
    ({"a": {"hello": ""}}, "empty text"),
    ({"a": {"hello": 3}}, "must be a string"),
    ({"a": {"hello": {"say": "hi"}}}, "must be a string"),
    ({"a": "hello"}, "must be a \\[table\\]"),
    ({}, "no prompts"),
])
def test_malformed_entries_are_refused_with_the_place(tables, message):
    with pytest.raises(CatalogError, match=message):
        _parse(tables)


def test_a_catalogue_without_meta_is_refused():
    with pytest.raises(CatalogError, match="meta"):
        parse_catalog("xx", {"a": {"hello": "hi"}}, "test.toml")


def test_an_unknown_language_names_the_ones_there_are(tmp_path):
    (tmp_path / "en.toml").write_text('[meta]\nvoice = "en-us"\n[a]\nhello = "hi"\n', encoding="utf-8")
    with pytest.raises(CatalogError, match=r"'fr'.*have: en"):
        load_catalog("fr", tmp_path)


def test_a_toml_syntax_error_names_the_file(tmp_path):
    (tmp_path / "en.toml").write_text("[meta\n", encoding="utf-8")
    with pytest.raises(CatalogError, match="en.toml"):
        load_catalog("en", tmp_path)


def test_consistency_reports_missing_and_unprefixed_ids(tmp_path):
    en = parse_catalog("en", {"meta": {"voice": "en-us"}, "a": {"hello": "hi", "bye": "bye"}})
    de = parse_catalog("de", {"meta": {"voice": "de"}, "a": {"hello": "hallo", "tschuess": "tschüss"}})
    problems = check_consistency({"en": en, "de": de})
    assert any("de: missing bye" in p for p in problems)
    assert any("need the prefix de_" in p and "tschuess" in p for p in problems)
