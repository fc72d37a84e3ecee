"""Where a dialled number goes. Extensions today; feature codes, voicemail and trunks plug in here.

The router answers one question — "what is this number?" — from the directory and the dial plan,
so that the call service never parses digits itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .features import FeatureCodes


@dataclass(frozen=True)
class Route:
    EXTENSION = "extension"
    FEATURE = "feature"
    UNKNOWN = "unknown"

    kind: str
    target: str = ""
    argument: str = ""
    feature: Any = None  # the features.Match for FEATURE routes


class Router:
    def __init__(self, find_extension: Callable[[str], Any], features: FeatureCodes | None = None):
        self._find_extension = find_extension
        self.features = features or FeatureCodes()

    def route(self, dialed: str) -> Route:
        number = dialed.strip()
        match = self.features.match(number)
        if match is not None:
            return Route(Route.FEATURE, match.feature.name, match.argument, match)
        ext = self._find_extension(number) if number.isdigit() else None
        if ext is not None and ext.enabled:
            return Route(Route.EXTENSION, ext.number)
        return Route(Route.UNKNOWN, number)
