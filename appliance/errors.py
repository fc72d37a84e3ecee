"""The root of the appliance's domain errors."""

from __future__ import annotations


class ApplianceError(Exception):
    """A domain error: raised by services, mapped to a message by the CLI and web layers."""
