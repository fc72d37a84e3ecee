"""What pbxd knows about browser media before aiortc is loaded: WebRTC offers, loopback payload types, ICE hosts.

aiortc and PyAV take ~48 MiB of pbxd's memory and ~0.2 s to import (D-webrtc-9). They are loaded only when a
browser call needs them (or in the background when the extension portal is on), so nothing here imports them:
the call layer recognises a browser's offer and pbxd records its ICE addresses with this module alone.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["EVENT_PT", "PCMU_PT", "ice_addresses", "is_webrtc_sdp", "set_ice_addresses"]

PCMU_PT = 0
EVENT_PT = 101  # telephone-event on the loopback leg (the engine relays it to the other party as RFC 4733)

_ice_addresses: list[str] | None = None


def set_ice_addresses(addresses: Sequence[str] | None) -> None:
    """Gather ICE host candidates on exactly these addresses (None: aioice's default, every interface)."""
    global _ice_addresses
    _ice_addresses = list(addresses) if addresses is not None else None


def ice_addresses() -> list[str] | None:
    return _ice_addresses


def is_webrtc_sdp(body: bytes | str | None) -> bool:
    """Whether an SDP body is a browser's: DTLS-SRTP media (UDP/TLS/RTP/SAVP[F]) with a fingerprint."""
    if not body:
        return False
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    return "UDP/TLS/RTP/SAVP" in text.upper() and "a=fingerprint:" in text
