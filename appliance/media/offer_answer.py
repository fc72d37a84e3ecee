"""RFC 3264 offer/answer over :mod:`appliance.media.sdp` descriptions, for one audio stream per call leg.

The engine runs one codec per endpoint, so an answer names exactly one audio codec (plus telephone-event), chosen
by the offerer's preference order by default (RFC 3264 §6.1).  Every other offered stream is rejected with port 0,
keeping the offer's m-line order, as RFC 3264 §6 requires.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from appliance.errors import ApplianceError
from appliance.media.sdp import (
    DIRECTIONS, STATIC_CODECS, Codec, Connection, MediaDescription, Origin, SessionDescription,
)

__all__ = ["Negotiated", "NotAcceptableHere", "SdpVersioner", "build_answer", "build_offer", "negotiate_direction",
           "process_answer"]

_SEND, _RECV = 1, 2
_BITS = {"inactive": 0, "sendonly": _SEND, "recvonly": _RECV, "sendrecv": _SEND | _RECV}
_NAMES = {bits: name for name, bits in _BITS.items()}
DEFAULT_PROFILES = ("RTP/AVP", "RTP/AVPF")
TELEPHONE_EVENT = "telephone-event"


class NotAcceptableHere(ApplianceError):
    """No offered stream can be accepted (no common codec or profile): the SIP layer answers 488."""

    sip_status = 488


class Negotiated(NamedTuple):
    """The result of an offer/answer exchange as seen by this side."""

    answer: SessionDescription
    codec: Codec
    telephone_event_pt: int | None
    direction: str  # from this side's point of view: what this side may do with the stream


def negotiate_direction(offered: str, wanted: str = "sendrecv") -> str:
    """The answerer's direction for an offered one (RFC 3264 §6.1): the mirror of the offer, limited to `wanted`."""
    if offered not in _BITS or wanted not in _BITS:
        raise ValueError(f"unknown direction {offered!r} or {wanted!r}")
    bits = _BITS[offered]
    mirrored = (_SEND if bits & _RECV else 0) | (_RECV if bits & _SEND else 0)
    return _NAMES[mirrored & _BITS[wanted]]


def _new_session_id() -> int:
    # RFC 8866 §5.2 suggests an NTP timestamp; any unique number will do and needs no clock.
    return secrets.randbits(62)


def _resolve(codec: Codec | str) -> Codec:
    if isinstance(codec, Codec):
        return codec
    for pt, (name, rate, channels) in STATIC_CODECS.items():
        if name == codec.upper():
            return Codec(name, rate, pt, channels)
    raise ValueError(f"codec {codec!r} has no static payload type; pass a Codec with a dynamic one")


def _audio_section(port: int, proto: str, codecs: Sequence[Codec], te: Iterable[Codec], direction: str,
                   ptime: int | None, rtcp_mux: bool) -> MediaDescription:
    media = MediaDescription("audio", port, proto, [])
    for codec in [*codecs, *te]:
        media.add_codec(codec)
    if ptime:
        media.add("ptime", str(ptime))
    if rtcp_mux:
        media.add("rtcp-mux")
    media.set_direction(direction)
    return media


def build_offer(host: str, port: int, codecs: Sequence[Codec | str], telephone_event_pt: int | None = 101,
                direction: str = "sendrecv", session_id: int | None = None, version: int = 0, *,
                ptime: int | None = 20, rtcp_mux: bool = False, username: str = "-",
                proto: str = "RTP/AVP") -> SessionDescription:
    """An offer of one audio stream at host:port with `codecs` in preference order and RFC 4733 events."""
    if direction not in DIRECTIONS:
        raise ValueError(f"unknown direction {direction!r}")
    resolved = [_resolve(c) for c in codecs]
    if not resolved:
        raise ValueError("an offer needs at least one codec")
    events: list[Codec] = []
    if telephone_event_pt is not None:
        used = {c.payload_type for c in resolved}
        pt = telephone_event_pt
        # One telephone-event per distinct clock rate: RFC 4733 §2.1 ties its clock to the audio codec's.
        for rate in dict.fromkeys(c.clock_rate for c in resolved):
            while pt in used:
                pt = pt + 1 if pt < 127 else 96
            events.append(Codec(TELEPHONE_EVENT, rate, pt, fmtp="0-16"))
            used.add(pt)
    conn = Connection.for_host(host)
    sd = SessionDescription(
        origin=Origin(username, _new_session_id() if session_id is None else session_id, version,
                      "IN", conn.addrtype, host),
        session_name="-", connection=conn)
    sd.media.append(_audio_section(port, proto, resolved, events, direction, ptime, rtcp_mux))
    return sd


def _pick_codec(offered: list[Codec], supported: list[str], prefer: str) -> Codec | None:
    wanted = [name.upper() for name in supported]
    candidates = [c for c in offered if c.name.upper() in wanted and c.name.lower() != TELEPHONE_EVENT]
    if not candidates:
        return None
    if prefer == "local":
        candidates.sort(key=lambda c: wanted.index(c.name.upper()))
    return candidates[0]


def build_answer(offer: SessionDescription, host: str, port: int, supported_codec_names: Sequence[str],
                 direction: str = "sendrecv", *, session_id: int | None = None, version: int = 0,
                 prefer: str = "offer", profiles: Sequence[str] = DEFAULT_PROFILES, ptime: int | None = 20,
                 rtcp_mux: bool = True, telephone_event: bool = True, username: str = "-") -> Negotiated:
    """Answer `offer` with one audio stream on host:port; raise NotAcceptableHere (→ 488) when nothing matches.

    `prefer` is "offer" (the offerer's codec order, RFC 3264 §6.1 SHOULD) or "local" (supported_codec_names order).
    `rtcp_mux` accepts an offered a=rtcp-mux (RFC 5761 §5.1.1); the returned direction is this side's.
    """
    if prefer not in ("offer", "local"):
        raise ValueError(f"prefer must be 'offer' or 'local', not {prefer!r}")
    conn = Connection.for_host(host)
    answer = SessionDescription(
        origin=Origin(username, _new_session_id() if session_id is None else session_id, version,
                      "IN", conn.addrtype, host),
        session_name="-", connection=conn, timing=offer.timing)
    accepted: tuple[Codec, int | None, str] | None = None
    upper_profiles = {p.upper() for p in profiles}
    reasons: list[str] = []
    for media in offer.media:
        chosen = None
        if accepted is None and media.media == "audio" and not media.rejected:
            if media.proto.upper() not in upper_profiles:
                reasons.append(f"profile {media.proto} not supported")
            else:
                offered = media.codecs
                chosen = _pick_codec(offered, list(supported_codec_names), prefer)
                if chosen is None:
                    names = ", ".join(f"{c.name}/{c.clock_rate}" for c in offered) or "none"
                    reasons.append(f"no common codec (offered {names}; supported "
                                   f"{', '.join(supported_codec_names) or 'none'})")
        if chosen is None:
            answer.media.append(MediaDescription(media.media, 0, media.proto, list(media.formats) or ["0"]))
            continue
        events = [c for c in media.codecs
                  if c.name.lower() == TELEPHONE_EVENT and c.clock_rate == chosen.clock_rate]
        te = events[0] if telephone_event and events else None
        negotiated = negotiate_direction(offer.effective_direction(media), direction)
        section = _audio_section(port, media.proto, [chosen], [te] if te else [], negotiated, ptime,
                                 rtcp_mux and media.rtcp_mux)
        answer.media.append(section)
        accepted = (chosen, te.payload_type if te else None, negotiated)
    if accepted is None:
        raise NotAcceptableHere("; ".join(reasons) or "the offer has no audio stream")
    codec, te_pt, negotiated = accepted
    return Negotiated(answer, codec, te_pt, negotiated)


def process_answer(offer: SessionDescription, answer: SessionDescription) -> Negotiated:
    """Read the peer's answer to our `offer`: the codec it chose, its telephone-event number and our direction."""
    if len(answer.media) != len(offer.media):
        raise NotAcceptableHere(f"answer has {len(answer.media)} m-lines for {len(offer.media)} offered "
                                "(RFC 3264 §6 requires the same number)")
    for ours, theirs in zip(offer.media, answer.media):
        if ours.media != "audio" or theirs.rejected:
            continue
        offered = ours.codecs
        for codec in theirs.codecs:
            if codec.name.lower() == TELEPHONE_EVENT:
                continue
            if any(codec.same_format(o) for o in offered):
                events = [c for c in theirs.codecs
                          if c.name.lower() == TELEPHONE_EVENT and c.clock_rate == codec.clock_rate]
                mine = negotiate_direction(answer.effective_direction(theirs), "sendrecv")
                return Negotiated(answer, codec, events[0].payload_type if events else None, mine)
        raise NotAcceptableHere("the answer chose no codec that was offered")
    raise NotAcceptableHere("the answer rejected every audio stream")


class SdpVersioner:
    """Owns the o= line of one leg's local descriptions (RFC 3264 §8: version +1 on each changed re-offer)."""

    def __init__(self, session_id: int | None = None, username: str = "-") -> None:
        self.session_id = _new_session_id() if session_id is None else session_id
        self.username = username
        self.version: int | None = None
        self._last_body: bytes | None = None

    def stamp(self, sd: SessionDescription) -> SessionDescription:
        """Set the o= id and version on `sd`: the version grows only when the content differs from last time."""
        sd.origin.username = self.username
        sd.origin.session_id = self.session_id
        sd.origin.session_version = 0
        body = sd.serialize()
        if self.version is None:
            self.version = 0
        elif body != self._last_body:
            self.version += 1
        self._last_body = body
        sd.origin.session_version = self.version
        return sd
