"""Voice prompts: text catalogues per language, rendered to 8 kHz WAV by a build step, and the
composition of numbers, counts, dates and times from prompt fragments.

    lib = PromptLibrary()                                  # rendered/ of this package
    ids = say_count(3, "new_message", "zh")                # ['you_have', 'digit_3', 'new_message_many']
    pcm = lib.sequence(ids, "zh")                          # 8 kHz int16, 80 ms between fragments
    lib.sequence(["net_your_ip_address_is", *say_digits("192.168.1.10", "en")], "en")

Build: `python -m appliance.prompts build [--out DIR] [--lang en,zh,ru]` (`make prompts`).
"""

from __future__ import annotations

from appliance.prompts.compose import (
    MAX_NUMBER,
    NOUNS,
    say_clock,
    say_count,
    say_date,
    say_digits,
    say_duration,
    say_menu,
    say_number,
    say_option,
    say_time,
)
from appliance.prompts.exceptions import (
    CatalogError,
    PromptError,
    PromptsNotBuilt,
    RenderError,
    UnknownPrompt,
)
from appliance.prompts.library import FALLBACK_LANGUAGE, PromptLibrary

__all__ = [
    "FALLBACK_LANGUAGE", "MAX_NUMBER", "NOUNS", "CatalogError", "PromptError", "PromptLibrary",
    "PromptsNotBuilt", "RenderError", "UnknownPrompt", "say_clock", "say_count", "say_date",
    "say_digits", "say_duration", "say_menu", "say_number", "say_option", "say_time",
]
