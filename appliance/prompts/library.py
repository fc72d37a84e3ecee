"""PromptLibrary: the rendered prompts at run time (paths, audio, sequences)."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from appliance.media.wav import read_wav
from appliance.prompts import manifest
from appliance.prompts.catalog import REFERENCE_LANGUAGE, RENDERED_DIR
from appliance.prompts.exceptions import BUILD_COMMAND, PromptsNotBuilt, UnknownPrompt
from appliance.prompts.render import RATE

log = logging.getLogger(__name__)

FALLBACK_LANGUAGE = REFERENCE_LANGUAGE
DEFAULT_CACHE_BYTES = 16 * 1024 * 1024  # ~17 minutes of 8 kHz audio: every prompt of a language or two


class PromptLibrary:
    """Rendered prompts of one directory. A prompt missing in a language is played in English
    (logged once per prompt and language); an unknown language is spoken in English."""

    def __init__(self, root: Path | None = None, *, cache_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self.root = Path(root) if root is not None else RENDERED_DIR
        data = manifest.read(self.root)
        if data is None or not data["languages"]:
            raise PromptsNotBuilt(f"no rendered voice prompts in {self.root}: run `{BUILD_COMMAND}` "
                                  f"(or `make prompts`) first")
        self._ids: dict[str, frozenset[str]] = {
            lang: frozenset(entry.get("prompts", {})) for lang, entry in data["languages"].items()}
        self._texts: dict[str, dict[str, str]] = {
            lang: {pid: p.get("text", "") for pid, p in entry.get("prompts", {}).items()}
            for lang, entry in data["languages"].items()}
        self._cache: OrderedDict[Path, np.ndarray] = OrderedDict()
        self._cache_bytes = cache_bytes
        self._cached_bytes = 0
        self._lock = threading.Lock()
        self._warned: set[tuple[str, str]] = set()

    @property
    def languages(self) -> tuple[str, ...]:
        """Languages with rendered prompts, English first."""
        return tuple(sorted(self._ids, key=lambda lang: (lang != FALLBACK_LANGUAGE, lang)))

    def ids(self, lang: str = FALLBACK_LANGUAGE) -> frozenset[str]:
        """Prompt ids rendered for `lang` (empty for an unknown language)."""
        return self._ids.get(lang, frozenset())

    def has(self, prompt_id: str, lang: str) -> bool:
        """True when `lang` itself has the prompt (no fallback)."""
        return prompt_id in self._ids.get(lang, ())

    def resolve(self, prompt_id: str, lang: str) -> str:
        """The language whose recording of `prompt_id` will be played for `lang`."""
        if prompt_id in self._ids.get(lang, ()):
            return lang
        if prompt_id in self._ids.get(FALLBACK_LANGUAGE, ()):
            if (prompt_id, lang) not in self._warned:
                self._warned.add((prompt_id, lang))
                why = "no prompts are rendered" if lang not in self._ids else "no prompt"
                log.warning("%s %r for language %r: playing the %s one", why, prompt_id, lang, FALLBACK_LANGUAGE)
            return FALLBACK_LANGUAGE
        raise UnknownPrompt(f"no prompt {prompt_id!r} for language {lang!r} nor {FALLBACK_LANGUAGE!r} in "
                            f"{self.root} (rebuild with `{BUILD_COMMAND}` if the catalogue has it)")

    def path(self, prompt_id: str, lang: str) -> Path:
        """The WAV file of a prompt (8 kHz mono 16-bit), in `lang` or else in English."""
        return self.root / self.resolve(prompt_id, lang) / f"{prompt_id}.wav"

    def text(self, prompt_id: str, lang: str) -> str:
        """What the prompt says, as written in the catalogue (for logs and the web UI)."""
        return self._texts[self.resolve(prompt_id, lang)][prompt_id]

    def audio(self, prompt_id: str, lang: str) -> np.ndarray:
        """The prompt's samples (8 kHz int16, read-only; kept in a bounded LRU cache)."""
        path = self.path(prompt_id, lang)
        with self._lock:
            pcm = self._cache.get(path)
            if pcm is not None:
                self._cache.move_to_end(path)
                return pcm
        pcm = read_wav(path, RATE)
        pcm.flags.writeable = False
        with self._lock:
            if path not in self._cache:
                self._cache[path] = pcm
                self._cached_bytes += pcm.nbytes
                while self._cached_bytes > self._cache_bytes and len(self._cache) > 1:
                    _, dropped = self._cache.popitem(last=False)
                    self._cached_bytes -= dropped.nbytes
        return pcm

    def sequence(self, prompt_ids: Iterable[str], lang: str, gap_ms: int = 80) -> np.ndarray:
        """The prompts one after the other with `gap_ms` of silence between them."""
        gap = np.zeros(gap_ms * RATE // 1000, dtype=np.int16)
        parts: list[np.ndarray] = []
        for pid in prompt_ids:
            if parts and gap.size:
                parts.append(gap)
            parts.append(self.audio(pid, lang))
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)

    def texts(self, prompt_ids: Iterable[str], lang: str) -> str:
        """What a sequence says, as text: for logs and tests."""
        return " ".join(self.text(pid, lang) for pid in prompt_ids)
