"""Errors of the voice prompt system."""

from __future__ import annotations

from appliance.errors import ApplianceError

BUILD_COMMAND = "python -m appliance.prompts build"


class PromptError(ApplianceError):
    """Something about voice prompts is wrong (catalogue, rendering or lookup)."""


class CatalogError(PromptError):
    """A prompt catalogue file is missing or malformed."""


class PromptsNotBuilt(PromptError):
    """The rendered prompt directory is missing: the build step has not run."""


class UnknownPrompt(PromptError, KeyError):
    """No rendered prompt has this id, in the asked language nor in the fallback language."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class RenderError(PromptError):
    """espeak-ng failed or produced no audio for a prompt."""
