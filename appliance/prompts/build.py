"""The build step: render every catalogue prompt to `<out>/<lang>/<id>.wav`, incrementally.

`python -m appliance.prompts build` (run by `make prompts`, a prerequisite of `make run` and
`make test`). A prompt is rendered again only when its cache key changes (text, voice, speed,
espeak-ng version, renderer version); files of prompts gone from a catalogue are removed.
Rendering runs in a process pool: espeak-ng is one process per prompt, and the resampling and
levelling are numpy work that the GIL would serialise in threads.
"""

from __future__ import annotations

import fcntl
import json
import logging
import multiprocessing
import os
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appliance.media.wav import write_wav_atomic
from appliance.prompts import manifest
from appliance.prompts.catalog import CATALOG_DIR, RENDERED_DIR, available_languages, check_consistency, load_catalog
from appliance.prompts.exceptions import CatalogError, RenderError
from appliance.prompts.render import RATE, check_voice, espeak_version, prompt_hash, render

log = logging.getLogger(__name__)

_INLINE_MAX = 4  # this few prompts are rendered in-process: a pool costs more than it saves


@dataclass
class BuildReport:
    """What a build did."""

    out: Path
    languages: list[str]
    rendered: list[tuple[str, str]] = field(default_factory=list)  # (lang, id)
    cached: int = 0
    removed: int = 0
    seconds: float = 0.0
    audio_seconds: float = 0.0  # duration of the audio rendered by this run

    def summary(self) -> str:
        """One line for the console."""
        return (f"prompts ({', '.join(self.languages)}) in {self.out}: {len(self.rendered)} rendered, "
                f"{self.cached} cached, {self.removed} removed, {self.seconds:.1f} s")


@dataclass(frozen=True)
class _Job:
    lang: str
    prompt_id: str
    say: str
    voice: str
    speed: int
    key: str
    path: Path


def _run(job: _Job) -> tuple[str, str, str, int]:
    """Render one prompt and write it atomically (runs in a worker process)."""
    try:
        pcm, _levels = render(job.say, job.voice, job.speed)
    except RenderError as err:
        raise RenderError(f"{job.lang}/{job.prompt_id}: {err}") from None
    write_wav_atomic(job.path, pcm, RATE)
    return job.lang, job.prompt_id, job.key, int(pcm.size)


@contextmanager
def _locked(out: Path) -> Iterator[None]:
    """One build at a time per output directory (two `make` runs may overlap)."""
    out.mkdir(parents=True, exist_ok=True)
    with open(out / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def build(out: Path = RENDERED_DIR, langs: Iterable[str] | None = None, *, only: Iterable[str] | None = None,
          jobs: int | None = None, force: bool = False, catalog_dir: Path = CATALOG_DIR) -> BuildReport:
    """Render what changed for `langs` (default: every catalogue); `only` limits it to some ids."""
    started = time.perf_counter()
    out = Path(out)
    langs = list(langs) if langs is not None else available_languages(catalog_dir)
    catalogs = {lang: load_catalog(lang, catalog_dir) for lang in langs}
    problems = check_consistency(catalogs)
    if problems:
        raise CatalogError("prompt catalogues disagree: " + "; ".join(problems))
    wanted = set(only) if only is not None else None
    if wanted is not None:
        unknown = sorted(pid for pid in wanted if not any(pid in cat for cat in catalogs.values()))
        if unknown:
            raise CatalogError(f"no such prompt id: {', '.join(unknown)}")
    espeak = espeak_version()
    for lang, cat in catalogs.items():
        try:
            check_voice(cat.voice)
        except RenderError as err:
            raise RenderError(f"catalogue {lang}: {err}") from None
    report = BuildReport(out, langs)
    with _locked(out):
        data = manifest.read(out) or manifest.empty()
        before = json.dumps(data, sort_keys=True)
        todo: list[_Job] = []
        for lang, cat in catalogs.items():
            entry: dict[str, Any] = data["languages"].setdefault(lang, {})
            entry.update(name=cat.name, voice=cat.voice, speed=cat.speed)
            known: dict[str, Any] = entry.setdefault("prompts", {})
            (out / lang).mkdir(parents=True, exist_ok=True)
            for pid, prompt in cat.prompts.items():
                if wanted is not None and pid not in wanted:
                    continue
                key = prompt_hash(prompt.say, cat.voice, cat.speed, espeak)
                path = out / lang / f"{pid}.wav"
                old = known.get(pid)
                if not force and old and old.get("hash") == key and path.exists():
                    old["text"] = prompt.text
                    report.cached += 1
                    continue
                known.pop(pid, None)  # until it is rendered again, the index must not vouch for the file
                todo.append(_Job(lang, pid, prompt.say, cat.voice, cat.speed, key, path))
            if wanted is None:
                report.removed += _remove_stale(out / lang, known, set(cat.prompts))
        if todo:
            manifest.write(out, data)
        failures = _render_all(todo, jobs, data, catalogs, report)
        if todo or json.dumps(data, sort_keys=True) != before:
            manifest.write(out, data)
    report.seconds = time.perf_counter() - started
    if failures:
        raise RenderError(f"{len(failures)} prompt(s) failed to render: " + "; ".join(failures[:5]))
    return report


def _render_all(todo: list[_Job], jobs: int | None, data: dict[str, Any],
                catalogs: dict[str, Any], report: BuildReport) -> list[str]:
    failures: list[str] = []

    def record(lang: str, pid: str, key: str, samples: int) -> None:
        data["languages"][lang]["prompts"][pid] = {"hash": key, "text": catalogs[lang].text(pid), "samples": samples}
        report.rendered.append((lang, pid))
        report.audio_seconds += samples / RATE

    workers = jobs or os.cpu_count() or 1
    if len(todo) <= _INLINE_MAX or workers == 1:
        for job in todo:
            try:
                record(*_run(job))
            except RenderError as err:
                failures.append(str(err))
        return failures
    # Longest texts first so that no worker is left with a long prompt at the end.
    todo = sorted(todo, key=lambda job: -len(job.say))
    # "spawn", not fork: a fork of a multi-threaded process (a pytest-xdist worker, a daemon) can inherit
    # a lock held by another thread and hang in the child's first Popen (seen here).
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(_run, job) for job in todo]
        for future in futures:
            try:
                record(*future.result())
            except RenderError as err:
                failures.append(str(err))
    return failures


def _remove_stale(directory: Path, known: dict[str, Any], ids: set[str]) -> int:
    """Delete WAVs and index entries of prompts no longer in the catalogue, and leftover temporaries."""
    removed = 0
    for pid in [pid for pid in known if pid not in ids]:
        del known[pid]
    for path in directory.iterdir():
        stale_wav = path.suffix == ".wav" and path.stem not in ids
        leftover = path.name.startswith(".") and path.name.endswith(".tmp")
        if stale_wav or leftover:
            path.unlink()
            removed += stale_wav
            log.info("removed stale prompt file %s", path)
    return removed
