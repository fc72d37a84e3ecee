"""Audio codecs as the media engine sees them: 8 kHz int16 frames in, RTP payloads out.

Each call leg gets its own instance from `new_codec` because G.722 (and its resamplers)
carry state from frame to frame; G.711 instances are stateless but follow the same shape
so the engine never special-cases them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from appliance.media import g711, g722

STATIC_PAYLOAD_TYPES = {"PCMU": 0, "PCMA": 8, "G722": 9}


class AudioCodec(ABC):
    """One direction-agnostic codec instance for one stream."""

    name: str = ""
    payload_type: int | None = None  # static RTP payload type (RFC 3551), None if dynamic
    rtp_clock_rate: int = 8000  # SDP/RTP timestamp rate; 8000 for G.722 (RFC 3551 §4.5.2)
    sample_rate: int = 8000  # rate of the audio the codec itself carries
    channels: int = 1

    @abstractmethod
    def encode(self, pcm8k: np.ndarray) -> bytes:
        """Encode int16 samples at 8 kHz into one RTP payload."""

    @abstractmethod
    def decode(self, payload: bytes) -> np.ndarray:
        """Decode one RTP payload into int16 samples at 8 kHz."""

    def timestamp_increment(self, samples8k: int) -> int:
        """RTP timestamp units covered by `samples8k` samples of engine audio."""
        return samples8k * self.rtp_clock_rate // 8000

    def silence(self, samples8k: int) -> bytes:
        """A payload of silence for `samples8k` samples (comfort when a leg has nothing to send)."""
        return self.encode(np.zeros(samples8k, dtype=np.int16))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


class PcmuCodec(AudioCodec):
    """G.711 µ-law (RFC 3551 §4.5.14)."""

    name = "PCMU"
    payload_type = 0

    def encode(self, pcm8k: np.ndarray) -> bytes:
        return g711.ulaw_encode(pcm8k)

    def decode(self, payload: bytes) -> np.ndarray:
        return g711.ulaw_decode(payload)

    def silence(self, samples8k: int) -> bytes:
        return bytes([g711.ULAW_SILENCE]) * samples8k


class PcmaCodec(AudioCodec):
    """G.711 A-law (RFC 3551 §4.5.14)."""

    name = "PCMA"
    payload_type = 8

    def encode(self, pcm8k: np.ndarray) -> bytes:
        return g711.alaw_encode(pcm8k)

    def decode(self, payload: bytes) -> np.ndarray:
        return g711.alaw_decode(payload)

    def silence(self, samples8k: int) -> bytes:
        return bytes([g711.ALAW_SILENCE]) * samples8k


class G722Codec(AudioCodec):
    """G.722 at 64 kbit/s; 16 kHz audio but an 8000 Hz RTP clock (RFC 3551 §4.5.2)."""

    name = "G722"
    payload_type = 9
    rtp_clock_rate = 8000
    sample_rate = 16000

    def __init__(self) -> None:
        self._encoder = g722.G722Encoder()
        self._decoder = g722.G722Decoder()
        self._up = g722.Upsampler2()
        self._down = g722.Downsampler2()

    def encode(self, pcm8k: np.ndarray) -> bytes:
        return self._encoder.encode(self._up.process(pcm8k))

    def decode(self, payload: bytes) -> np.ndarray:
        return self._down.process(self._decoder.decode(payload))

    def close(self) -> None:
        """Free the spandsp state now rather than at garbage collection."""
        self._encoder.close()
        self._decoder.close()


_CODECS: dict[str, type[AudioCodec]] = {"PCMU": PcmuCodec, "PCMA": PcmaCodec, "G722": G722Codec}


def supported_codecs() -> list[str]:
    """Codec names this box can use, in offer preference order."""
    names = ["PCMU", "PCMA"]
    if g722.available():
        names.append("G722")
    return names


def new_codec(name: str) -> AudioCodec:
    """A fresh codec instance for one stream; KeyError for an unknown or unavailable codec."""
    key = name.upper().replace(".", "")
    cls = _CODECS.get(key)
    if cls is None:
        raise KeyError(f"unknown codec {name!r}; supported: {', '.join(supported_codecs())}")
    if cls is G722Codec and not g722.available():
        raise KeyError("codec 'G722' is not available: libspandsp is not installed")
    return cls()
