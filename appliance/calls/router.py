"""Where a dialled number goes. Extensions today; feature codes, voicemail and trunks plug in here.

The router answers one question — "what is this number?" — from the directory and the dial plan,
so that the call service never parses digits itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Route:
    EXTENSION = "extension"
    UNKNOWN = "unknown"

    kind: str
    target: str = ""


class Router:
    def __init__(self, find_extension: Callable[[str], Any]):
        self._find_extension = find_extension

    def route(self, dialed: str) -> Route:
        number = dialed.strip()
        ext = self._find_extension(number) if number.isdigit() else None
        if ext is not None and ext.enabled:
            return Route(Route.EXTENSION, ext.number)
        return Route(Route.UNKNOWN, number)
