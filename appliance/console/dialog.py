"""Conversation primitives for the menu: questions as generator steps, answered with lines and `now`.

A dialog is a generator that yields `Ask` (print a prompt, wait for a line or a timeout) or `Work`
(flush what was said so far, then resume at once: used before anything slow, so the installer sees
"Applying..." before the wait, and to learn the current `now` afterwards). It receives a `Reply`.
This keeps multi-step forms readable as straight-line code while the menu stays sans-I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Ask:
    """Print `prompt`, then wait for a line (or until `timeout_at`, which answers None)."""

    prompt: str
    secret: bool = False
    timeout_at: float | None = None
    #: False: Ctrl-C does not abandon this question (a pending change must be kept or undone)
    cancellable: bool = True


@dataclass(frozen=True)
class Work:
    """Flush the output, then resume with a Reply whose text is None and whose `now` is current."""


Step = Ask | Work


@dataclass(frozen=True)
class Reply:
    text: str | None
    now: float


Flow = Generator[Step, Reply, T]


class Cancelled(Exception):
    """Thrown into a dialog when the installer presses Ctrl-C."""


class Ui:
    """Collects output text and offers the usual questions as sub-generators (`yield from`)."""

    def __init__(self) -> None:
        self._out: list[str] = []

    def say(self, text: str = "") -> None:
        """Queue one or more lines of output."""
        self._out.append(text + "\n")

    def write(self, text: str) -> None:
        """Queue text without a line end (prompts)."""
        self._out.append(text)

    def take(self) -> str:
        """Everything queued since the last call."""
        text, self._out = "".join(self._out), []
        return text

    def ask(self, prompt: str, **options: Any) -> Flow[Reply]:
        """One raw question."""
        reply = yield Ask(prompt, **options)
        return reply

    def pause(self) -> Flow[None]:
        """Let a screenful be read before the menu is drawn over it."""
        yield Ask("Press ENTER to return to the menu. ")

    def work(self) -> Flow[float]:
        """Flush output before something slow; returns the current time."""
        reply = yield Work()
        return reply.now

    def ask_yes_no(
        self, question: str, *, default: bool = False, timeout_at: float | None = None, cancellable: bool = True
    ) -> Flow[bool | None]:
        """y/n (empty = default); None when the question timed out."""
        hint = "Y/n" if default else "y/N"
        while True:
            reply = yield Ask(f"{question} [{hint}]: ", timeout_at=timeout_at, cancellable=cancellable)
            if reply.text is None:
                return None
            answer = reply.text.strip().lower()
            if not answer:
                return default
            if answer in ("y", "yes"):
                return True
            if answer in ("n", "no"):
                return False
            self.say("Please answer y or n.")

    def ask_value(self, question: str, parse: Callable[[str], T], *, default: str | None = None) -> Flow[T]:
        """Ask until `parse` accepts the answer; an empty answer means `default` when there is one."""
        shown = f" [{default}]" if default not in (None, "") else ""
        while True:
            reply = yield Ask(f"{question}{shown}: ")
            text = (reply.text or "").strip()
            if not text and default is not None:
                text = default
            try:
                return parse(text)
            except ValueError as err:
                self.say(f"  Invalid: {err}.")

    def ask_choice(self, question: str, choices: dict[str, T], *, default: str | None = None) -> Flow[T]:
        """One of `choices` (keys are what may be typed, case-insensitive)."""

        def parse(text: str) -> T:
            key = text.strip().lower()
            if key not in choices:
                raise ValueError(f"type one of {', '.join(choices)}")
            return choices[key]

        return (yield from self.ask_value(question, parse, default=default))
