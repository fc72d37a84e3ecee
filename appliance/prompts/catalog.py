"""Prompt catalogues: one TOML file per language, prompt id -> text.

Why TOML: it is in the standard library (tomllib), allows comments where translators need to
know how a fragment is used (case, gender, what it is glued to), and its tables group prompts
for people while the ids stay flat. JSON has no comments; gettext .po is built for UI strings
with plural formulas, not for audio fragments composed by code.

A file has a [meta] table (language name, espeak-ng voice, speed) and any number of group
tables whose keys are prompt ids, unique across the file. A value is the text, or a table
{ text = "...", say = "..." } when espeak-ng must be given something else (pinyin, phonemes)
than what a person should read.

Every catalogue has all ids of the reference catalogue (English); a catalogue may add ids of
its own only under its language prefix ("zh_liang", "ru_goda"): grammar the others lack.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from appliance.prompts.exceptions import CatalogError

CATALOG_DIR = Path(__file__).with_name("catalog")
RENDERED_DIR = Path(__file__).with_name("rendered")  # build output; shipped as package data
REFERENCE_LANGUAGE = "en"
_ID = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")
_LANG = re.compile(r"^[a-z]{2,3}$")


@dataclass(frozen=True)
class Prompt:
    """One catalogue entry."""

    id: str
    group: str
    text: str  # what a person reads (web UI, logs, tests)
    say: str  # what espeak-ng is given


@dataclass(frozen=True)
class Catalog:
    """The prompts of one language and how to render them."""

    lang: str
    name: str
    voice: str
    speed: int
    prompts: dict[str, Prompt]

    def local_ids(self) -> set[str]:
        """Ids only this language has (its grammar fragments)."""
        return {pid for pid in self.prompts if pid.startswith(f"{self.lang}_")}

    def __contains__(self, prompt_id: object) -> bool:
        return prompt_id in self.prompts

    def text(self, prompt_id: str) -> str:
        """The readable text of a prompt."""
        return self.prompts[prompt_id].text


def available_languages(directory: Path = CATALOG_DIR) -> list[str]:
    """Language codes that have a catalogue file, reference language first."""
    langs = sorted(p.stem for p in directory.glob("*.toml") if _LANG.match(p.stem))
    return sorted(langs, key=lambda lang: lang != REFERENCE_LANGUAGE)


def parse_catalog(lang: str, data: dict[str, object], source: str = "catalogue") -> Catalog:
    """Validate the decoded TOML of one catalogue."""
    if not _LANG.match(lang):
        raise CatalogError(f"{source}: language code {lang!r} is not 2-3 lowercase letters")
    meta = data.get("meta")
    if not isinstance(meta, dict):
        raise CatalogError(f"{source}: missing [meta] table (language, voice, speed)")
    voice, speed, name = meta.get("voice"), meta.get("speed", 160), meta.get("language", lang)
    if not isinstance(voice, str) or not voice:
        raise CatalogError(f"{source}: [meta] voice must name an espeak-ng voice")
    if not isinstance(speed, int) or not 80 <= speed <= 450:
        raise CatalogError(f"{source}: [meta] speed must be words per minute, 80..450")
    prompts: dict[str, Prompt] = {}
    for group, table in data.items():
        if group == "meta":
            continue
        if not isinstance(table, dict):
            raise CatalogError(f"{source}: top-level key {group!r} must be a [table] of prompts")
        for pid, value in table.items():
            where = f"{source} [{group}] {pid}"
            if not _ID.match(pid):
                raise CatalogError(f"{where}: prompt ids are snake_case (a-z, 0-9, _)")
            if pid in prompts:
                raise CatalogError(f"{where}: duplicate id (also in [{prompts[pid].group}])")
            if isinstance(value, str):
                text = say = value
            elif isinstance(value, dict) and set(value) <= {"text", "say"} and "text" in value:
                text, say = value["text"], value.get("say", value["text"])
            else:
                raise CatalogError(f"{where}: value must be a string or {{ text = ..., say = ... }}")
            if not isinstance(text, str) or not isinstance(say, str) or not text.strip() or not say.strip():
                raise CatalogError(f"{where}: empty text")
            prompts[pid] = Prompt(pid, group, text.strip(), say.strip())
    if not prompts:
        raise CatalogError(f"{source}: no prompts")
    return Catalog(lang, str(name), voice, speed, prompts)


@cache
def _load(path: Path, mtime_ns: int) -> Catalog:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise CatalogError(f"{path}: {err}") from err
    return parse_catalog(path.stem, data, str(path))


def load_catalog(lang: str, directory: Path = CATALOG_DIR) -> Catalog:
    """Load and validate the catalogue of `lang` (cached until the file changes)."""
    path = directory / f"{lang}.toml"
    try:
        mtime = path.stat().st_mtime_ns
    except FileNotFoundError as err:
        have = ", ".join(available_languages(directory)) or "none"
        raise CatalogError(f"no prompt catalogue for language {lang!r} in {directory} (have: {have})") from err
    return _load(path, mtime)


def check_consistency(catalogs: dict[str, Catalog]) -> list[str]:
    """Problems across catalogues: ids missing against the reference, foreign local ids."""
    problems: list[str] = []
    ref = catalogs.get(REFERENCE_LANGUAGE)
    for lang, cat in catalogs.items():
        for pid in cat.prompts:
            prefix = pid.split("_", 1)[0]
            if prefix in catalogs and prefix != lang:
                problems.append(f"{lang}: id {pid} belongs to language {prefix}")
        if ref is None or cat is ref:
            continue
        missing = sorted(set(ref.prompts) - set(cat.prompts))
        if missing:
            problems.append(f"{lang}: missing {', '.join(missing)}")
        extra = sorted(set(cat.prompts) - set(ref.prompts) - cat.local_ids())
        if extra:
            problems.append(f"{lang}: ids not in {REFERENCE_LANGUAGE} need the prefix {lang}_: {', '.join(extra)}")
    return problems
